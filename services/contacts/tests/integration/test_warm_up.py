"""The read indexes' warm-up on a real FerretDB: a contacts instance starting on a
database of several workspaces loads every workspace of each index from ONE scan of its
collection (counted by a command listener on the driver), and a contact written by
another instance while it warms up is in its lists afterwards."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from pymongo import monitoring

from crm_contacts.app import create_app
from crm_kit.settings import Settings
from crm_kit.testing import GraphQLClient, eventually, gateway_auth, running_app

from .conftest import service_settings

pytestmark = pytest.mark.integration

WORKSPACES = ("ws-warm-1", "ws-warm-2", "ws-warm-3")
COLLECTIONS = ("contacts", "companies", "interactions")
CREATE = """mutation($i: CreateContactInput!) { createContact(input: $i) { id } }"""
COMPANY = "mutation($i: CreateCompanyInput!) { createCompany(input: $i) { id } }"
LOG = "mutation($i: LogInteractionInput!) { logInteraction(input: $i) { id } }"
SEARCH = """query($t: String) { contacts(filter: {text: $t}, first: 10) { totalCount } }"""


class Finds(monitoring.CommandListener):
    """The filters of the finds sent to one database (registered for the whole process:
    the service makes its own client; other tests' databases are ignored)."""

    def __init__(self) -> None:
        self.database: str | None = None
        self.sent: list[tuple[str, dict[str, Any]]] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.command_name == "find" and event.database_name == self.database:
            self.sent.append((event.command["find"], dict(event.command.get("filter", {}))))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None: ...

    def failed(self, event: monitoring.CommandFailedEvent) -> None: ...

    def scans(self, collection: str) -> int:
        """Finds of the collection by anything but `_id`: on FerretDB each reads it whole."""
        # The outbox relay's sweeps (`_outbox_pending`) are not the indexes'.
        by_id_or_relay = {"_id", "_outbox_pending"}
        return sum(
            1 for name, where in self.sent if name == collection and not by_id_or_relay & set(where)
        )


_FINDS = Finds()
monitoring.register(_FINDS)


@contextlib.contextmanager
def counting(database: str) -> Iterator[Finds]:
    _FINDS.database, _FINDS.sent = database, []
    try:
        yield _FINDS
    finally:
        _FINDS.database = None


@pytest.fixture
def settings(infra: Any, db_name: str) -> Settings:
    return service_settings(infra, db_name, "auto")  # the embedded database: indexes on


@contextlib.asynccontextmanager
async def instance(settings: Settings) -> AsyncIterator[dict[str, Any]]:
    app = create_app(settings)
    async with running_app(app) as http:

        def client(workspace: str) -> GraphQLClient:
            return GraphQLClient(http, gateway_auth("contacts", workspace, "alice", "admin"))

        yield {"app": app, "client": client}


async def seed(client: GraphQLClient, workspace: str) -> None:
    firm = await client.data(COMPANY, {"i": {"name": f"Firm {workspace}"}})
    for n in range(3):
        made = await client.data(
            CREATE,
            {"i": {"firstName": "Ada", "lastName": f"Warm{n}", "email": f"{workspace}{n}@x.io",
                   "companyId": firm["createCompany"]["id"]}},
        )  # fmt: skip
        contact = made["createContact"]["id"]
        await client.data(LOG, {"i": {"kind": "CALL", "contactId": contact}})


async def warm(app: Any) -> bool:
    indexes = app.state.store.indexes
    return all(set(WORKSPACES) <= set(doc_index.index.workspaces) for doc_index in indexes)


async def test_several_workspaces_warm_with_one_scan_per_collection(
    settings: Settings, db_name: str
) -> None:
    async with instance(settings) as a:
        for workspace in WORKSPACES:
            await seed(a["client"](workspace), workspace)
        with counting(db_name) as finds:
            async with instance(settings) as b:
                # Written by another instance while b warms up: b's feed or b's scan has it.
                await a["client"](WORKSPACES[0]).data(
                    CREATE, {"i": {"firstName": "Late", "lastName": "Comer", "email": "l@x.io"}}
                )
                await eventually(lambda: warm(b["app"]), timeout=30)
                scans = {collection: finds.scans(collection) for collection in COLLECTIONS}
                assert scans == dict.fromkeys(COLLECTIONS, 1), finds.sent

                async def found(text: str, workspace: str, total: int) -> bool:
                    answer = await b["client"](workspace).data(SEARCH, {"t": text})
                    return bool(answer["contacts"]["totalCount"] == total)

                await eventually(lambda: found("comer", WORKSPACES[0], 1), timeout=10)
                for workspace in WORKSPACES:
                    assert await found("warm", workspace, 3)
                # Served by the warmed indexes: still one scan per collection.
                assert {c: finds.scans(c) for c in COLLECTIONS} == scans
