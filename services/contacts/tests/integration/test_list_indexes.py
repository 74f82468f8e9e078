"""The contacts list indexes across instances on a real FerretDB + NATS: two contacts apps
on the same database and NATS see each other's writes within a bounded wait (contact
search with `totalCount`, a company's list, a contact's timeline), and a restarted
instance rebuilds from a scan. The same journey runs on the `mongodb` profile, where each
instance reads the database itself."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest

from crm_contacts.app import create_app
from crm_kit.settings import Settings
from crm_kit.testing import GraphQLClient, eventually, gateway_auth, running_app

from .conftest import service_settings

pytestmark = pytest.mark.integration

WS = "ws-lists"
CREATE = """mutation($i: CreateContactInput!) { createContact(input: $i) { id } }"""
RENAME = """mutation($id: ID!, $last: String!) {
  updateContact(id: $id, input: {lastName: $last}) { id } }"""
DELETE = """mutation($id: ID!) { deleteContact(id: $id) { id } }"""
LOG = "mutation($i: LogInteractionInput!) { logInteraction(input: $i) { id } }"
SEARCH = """query($t: String) { contacts(filter: {text: $t}, first: 10,
  orderBy: {field: LAST_NAME, direction: ASC}) { totalCount edges { node { id lastName } } } }"""
TIMELINE = """query($id: ID!) { contact(id: $id) { interactions(first: 5) {
  totalCount edges { node { id } } } } }"""


@pytest.fixture(params=["auto", "mongodb"])
def settings(request: pytest.FixtureRequest, infra: Any, db_name: str) -> Settings:
    return service_settings(infra, db_name, request.param)


@contextlib.asynccontextmanager
async def instance(settings: Settings) -> AsyncIterator[dict[str, Any]]:
    app = create_app(settings)
    async with running_app(app) as http:
        yield {"client": GraphQLClient(http, gateway_auth("contacts", WS, "alice", "admin")),
               "app": app}  # fmt: skip


async def search(client: GraphQLClient, text: str) -> tuple[int, list[str]]:
    found = (await client.data(SEARCH, {"t": text}))["contacts"]
    return found["totalCount"], [e["node"]["lastName"] for e in found["edges"]]


async def timeline(client: GraphQLClient, contact_id: str) -> tuple[int, list[str]]:
    found = (await client.data(TIMELINE, {"id": contact_id}))["contact"]["interactions"]
    return found["totalCount"], [e["node"]["id"] for e in found["edges"]]


def scans(app: Any) -> list[int]:
    store = app.state.store
    return [doc_index.index.scans(WS) for doc_index in getattr(store, "indexes", ())]


async def test_writes_on_one_instance_reach_the_others_lists(settings: Settings) -> None:
    async with instance(settings) as a, instance(settings) as b:
        assert await search(b["client"], "lovelace") == (0, [])  # b's indexes load
        # On FerretDB (`auto`) the lists are the indexes'; on MongoDB there are none.
        assert len(scans(b["app"])) == (3 if settings.database_profile == "auto" else 0)
        made = await a["client"].data(
            CREATE, {"i": {"firstName": "Ada", "lastName": "Lovelace", "email": "ada@x.io"}}
        )
        ada = made["createContact"]["id"]
        assert await search(a["client"], "lovelace") == (1, ["Lovelace"])  # read-your-writes

        async def on_b(expected: tuple[int, list[str]], text: str = "lovelace") -> bool:
            return await search(b["client"], text) == expected

        await eventually(lambda: on_b((1, ["Lovelace"])), timeout=10)

        logged = await a["client"].data(LOG, {"i": {"kind": "CALL", "contactId": ada}})
        call = logged["logInteraction"]["id"]
        assert await timeline(a["client"], ada) == (1, [call])

        async def timeline_on_b() -> bool:
            return await timeline(b["client"], ada) == (1, [call])

        await eventually(timeline_on_b, timeout=10)

        # A change moves the contact out of one search and into another on both.
        await a["client"].data(RENAME, {"id": ada, "last": "Byron"})
        assert await search(a["client"], "lovelace") == (0, [])
        await eventually(lambda: on_b((1, ["Byron"]), "byron"), timeout=10)
        assert await search(b["client"], "lovelace") == (0, [])

        await a["client"].data(DELETE, {"id": ada})
        await eventually(lambda: on_b((0, []), "byron"), timeout=10)
        # Events, not rescans, kept b current: each index loaded once (lazily, or at the
        # start-up warm-up; none on the mongodb profile).
        assert all(n <= 1 for n in scans(b["app"]))


async def test_a_restarted_instance_lists_what_was_written_meanwhile(settings: Settings) -> None:
    async with instance(settings) as a:
        assert await search(a["client"], "hopper") == (0, [])
        for last in ("Hopper", "Hopperton"):
            await a["client"].data(
                CREATE, {"i": {"firstName": "Grace", "lastName": last, "email": f"{last}@x.io"}}
            )
        async with instance(settings) as b:
            assert await search(b["client"], "hopper") == (2, ["Hopper", "Hopperton"])
            assert all(n <= 1 for n in scans(b["app"]))


CONTACT = """query($id: ID!) { contact(id: $id) { id firstName lastName } }"""


async def test_another_instance_changes_show_at_once_through_the_change_logs(
    settings: Settings,
) -> None:
    """b holds whole contacts (FerretDB) and serves pages and look-ups by id from them; a's
    change reaches b's very next request, with b's event feeds cut off."""
    async with instance(settings) as a, instance(settings) as b:
        made = await a["client"].data(
            CREATE, {"i": {"firstName": "Grace", "lastName": "Hopper", "email": "gh@x.io"}}
        )
        grace = made["createContact"]["id"]

        async def b_finds_her() -> bool:  # a new contact reaches b by its event
            return await search(b["client"], "hopper") == (1, ["Hopper"])

        await eventually(b_finds_her, timeout=10)
        assert (await b["client"].data(CONTACT, {"id": grace}))["contact"]["lastName"] == "Hopper"
        for feed in getattr(b["app"].state, "feeds", None) or ():
            await feed.unsubscribe()
        await a["client"].data(RENAME, {"id": grace, "last": "Murray"})
        # No wait: the write returned, so its slot is in the log b follows.
        assert await search(b["client"], "murray") == (1, ["Murray"])
        assert await search(b["client"], "hopper") == (0, [])
        assert (await b["client"].data(CONTACT, {"id": grace}))["contact"]["lastName"] == "Murray"
