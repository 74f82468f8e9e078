"""The contacts' read indexes started from their persisted snapshots
(`crm_kit.index_snapshot`) on a real FerretDB + NATS: after a clean shutdown, another
replica's creates, renames and deletes in several workspaces, a restarted instance warms
without scanning any collection (counted by a command listener on the driver) and finds
the same contacts by search, in lists and on timelines as an instance that scanned; the
companies' documents come back with the company index's snapshot, so a page's companies
are not read (a company renamed since is re-read from the log once, at the start)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from crm_kit.settings import Settings
from crm_kit.testing import GraphQLClient, eventually

from .conftest import service_settings
from .test_warm_up import COLLECTIONS, CREATE, WORKSPACES, counting, instance, seed, warm

pytestmark = pytest.mark.integration

UPDATE = """mutation($id: ID!, $i: UpdateContactInput!) { updateContact(id: $id, input: $i) {
  id } }"""
DELETE = "mutation($id: ID!) { deleteContact(id: $id) { id } }"
RENAME = "mutation($id: ID!, $i: UpdateCompanyInput!) { updateCompany(id: $id, input: $i) { id } }"
FIND = """query($t: String) { contacts(filter: {text: $t}, first: 20) { totalCount
  edges { node { id lastName company { id name domain } } } } }"""
EVERYONE = """{ contacts(first: 50) { totalCount edges { node { id lastName
  interactions(first: 5) { totalCount } } } } }"""


@pytest.fixture
def settings(infra: Any, db_name: str) -> Settings:
    return service_settings(infra, db_name, "auto")  # the embedded database: indexes on


def without_snapshots(settings: Settings) -> Settings:
    return replace(settings, extra={**settings.extra, "CONTACTS_INDEX_SNAPSHOT_SECONDS": "0"})


async def answers(client: Any) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for workspace in WORKSPACES:
        asking: GraphQLClient = client(workspace)
        found[workspace] = {
            text: await asking.data(FIND, {"t": text}) for text in ("warm", "comer", "renamed")
        }
        found[workspace]["all"] = await asking.data(EVERYONE)
    return found


def company_reads(finds: Any) -> list[dict[str, Any]]:
    """The read index's finds of companies (scoped to a workspace; the outbox relay's
    sweeps and reads by `_id` are not)."""
    return [w for name, w in finds.sent if name == "companies" and "workspace_id" in w]


async def test_a_restart_from_the_snapshots_scans_nothing_and_answers_as_a_scan(
    settings: Settings, db_name: str
) -> None:
    async with instance(settings) as a:
        for workspace in WORKSPACES:
            await seed(a["client"](workspace), workspace)
        await eventually(lambda: warm(a["app"]), timeout=30)
    async with instance(without_snapshots(settings)) as other:
        first, second = (other["client"](ws) for ws in WORKSPACES[:2])
        await first.data(
            CREATE, {"i": {"firstName": "Late", "lastName": "Comer", "email": "l@x.io"}}
        )
        listed = (await second.data(FIND, {"t": "warm"}))["contacts"]["edges"]
        await second.data(UPDATE, {"id": listed[0]["node"]["id"], "i": {"lastName": "Renamed"}})
        await second.data(DELETE, {"id": listed[1]["node"]["id"]})
        firm = listed[0]["node"]["company"]["id"]
        await second.data(RENAME, {"id": firm, "i": {"domain": "renamed.example"}})
    with counting(db_name) as finds:
        async with instance(settings) as restarted:
            await eventually(lambda: warm(restarted["app"]), timeout=30)
            indexes = restarted["app"].state.store.indexes
            assert all(i.index.restored_from is not None for i in indexes)
            for index in indexes:
                await index.entries(WORKSPACES[0])  # after the restore and its replay
            # Read back at the start: the one company changed since the snapshot.
            assert ["_id" in where for where in company_reads(finds)] == [True]
            restored = await answers(restarted["client"])
            assert {c: finds.scans(c) for c in COLLECTIONS} == dict.fromkeys(COLLECTIONS, 0)
            # Every page's companies were held: none read by `_id` to answer.
            assert len(company_reads(finds)) == 1
    async with instance(without_snapshots(settings)) as scanned:
        await eventually(lambda: warm(scanned["app"]), timeout=30)
        assert restored == await answers(scanned["client"])
    one, two = restored[WORKSPACES[0]], restored[WORKSPACES[1]]
    assert one["comer"]["contacts"]["totalCount"] == 1
    assert two["renamed"]["contacts"]["totalCount"] == 1
    # 3 seeded, 1 deleted (the renamed one still matches by its address, ws-warm-2...).
    assert two["warm"]["contacts"]["totalCount"] == 2
    assert one["all"]["contacts"]["totalCount"] == 4
    renamed = two["warm"]["contacts"]["edges"][0]["node"]["company"]
    assert renamed["id"] == firm and renamed["domain"] == "renamed.example"
