"""The deal index started from its persisted snapshot (`crm_kit.index_snapshot`) on a real
FerretDB + NATS: an instance writes the snapshot at its clean shutdown; another replica
creates, moves, updates and deletes deals in several workspaces while it is down; the
restarted instance loads the snapshot and the change log since it (no scan) and answers
the board, lists and counts exactly as an instance that scanned. A log pruned past the
snapshot's slot, a corrupt chunk and a snapshot of another format each fall back to the
scan, with the same answers."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from crm_deals.app import create_app
from crm_deals.store.indexed import IndexedRecordStore
from crm_kit.change_log import HINT_ID, journal_name
from crm_kit.index_snapshot import COLLECTION, FORMAT
from crm_kit.settings import Settings
from crm_kit.testing import GraphQLClient, eventually, gateway_auth, running_app

# The embedded database's profile only (`auto` detects FerretDB: the read index on):
# the conftest's `settings`, given one of its profiles.
pytestmark = [
    pytest.mark.integration,
    pytest.mark.parametrize("settings", ["auto"], indirect=True),
]

WORKSPACES = ("ws-snap-1", "ws-snap-2")
CREATE = """mutation($input: CreateDealInput!) { createDeal(input: $input) { id } }"""
MOVE = """mutation($id: ID!, $s: String!) { moveDeal(id: $id, stageKey: $s) { id } }"""
UPDATE = """mutation($id: ID!, $input: UpdateDealInput!) { updateDeal(id: $id, input: $input) {
  id } }"""
DELETE = """mutation($id: ID!) { deleteDeal(id: $id) }"""
BOARD = """{ pipelineBoard { columns { stage { key } count totalAmount
  deals(first: 20) { totalCount edges { node { id title amount } } } } } }"""
BY_COMPANY = """query($c: ID!) { deals(filter: {companyId: $c}, first: 50) { totalCount
  edges { node { id title amount stage { key } } } } }"""
ALL = """{ deals(first: 100) { totalCount edges { node { id title amount stage { key } } } } }"""
HEAD = "deal index"


def without_snapshots(settings: Settings) -> Settings:
    return replace(settings, extra={**settings.extra, "DEALS_INDEX_SNAPSHOT_SECONDS": "0"})


@contextlib.asynccontextmanager
async def instance(settings: Settings) -> AsyncIterator[dict[str, Any]]:
    app = create_app(settings)
    async with running_app(app) as http:
        store = app.state.store
        assert isinstance(store, IndexedRecordStore)
        index = store.index

        async def warm() -> bool:
            return index.complete

        await eventually(warm, timeout=30)
        yield {
            "clients": {ws: GraphQLClient(http, gateway_auth("deals", ws)) for ws in WORKSPACES},
            "index": index,
        }


async def answers(clients: dict[str, GraphQLClient]) -> dict[str, Any]:
    """What the screens show in every workspace: the board, every list, by company."""
    found: dict[str, Any] = {}
    for ws, client in clients.items():
        found[ws] = {
            "board": await client.data(BOARD),
            "all": await client.data(ALL),
            **{c: await client.data(BY_COMPANY, {"c": c}) for c in ("co-a", "co-b", "co-c")},
        }
    return found


async def create(client: GraphQLClient, title: str, amount: str, company: str) -> str:
    created = await client.data(
        CREATE, {"input": {"title": title, "amount": amount, "companyId": company}}
    )
    return str(created["createDeal"]["id"])


async def populate(clients: dict[str, GraphQLClient]) -> dict[str, list[str]]:
    ids: dict[str, list[str]] = {}
    for n, (ws, client) in enumerate(clients.items()):
        ids[ws] = [
            await create(client, f"{ws} deal {i}", str(100 * (i + 1) + n), ("co-a", "co-b")[i % 2])
            for i in range(6)
        ]
        await client.data(MOVE, {"id": ids[ws][0], "s": "qualification"})
    return ids


async def change_while_down(clients: dict[str, GraphQLClient], ids: dict[str, list[str]]) -> None:
    """Another replica's writes after the snapshot: an insert, a move, an update of a
    listed field, a delete, in every workspace."""
    for ws, client in clients.items():
        await create(client, f"{ws} later", "777", "co-c")
        await client.data(MOVE, {"id": ids[ws][1], "s": "qualification"})
        await client.data(UPDATE, {"id": ids[ws][2], "input": {"amount": "999", "title": "Up"}})
        await client.data(DELETE, {"id": ids[ws][3]})


async def head(db: AsyncDatabase) -> dict[str, Any]:
    found = await db[COLLECTION].find_one({"_id": HEAD})
    assert found is not None, "no snapshot written"
    return dict(found)


async def test_a_restart_from_the_snapshot_answers_as_a_scan_does(
    settings: Settings, db: AsyncDatabase
) -> None:
    async with instance(settings) as a:
        ids = await populate(a["clients"])
    written = await head(db)  # at the clean shutdown
    assert set(WORKSPACES) <= set(written["workspaces"])
    async with instance(without_snapshots(settings)) as other:
        await change_while_down(other["clients"], ids)
    async with instance(settings) as restarted, instance(without_snapshots(settings)) as scanned:
        assert restarted["index"].restored_from == written["snapshot"]
        assert restarted["index"].shared_scans == 0  # no scan of the deals
        assert scanned["index"].shared_scans == 1 and scanned["index"].restored_from is None
        expected = await answers(scanned["clients"])
        assert await answers(restarted["clients"]) == expected
        one = expected[WORKSPACES[0]]
        # The writes made while it was down are in (not only equal to a scan: present).
        assert one["co-c"]["deals"]["totalCount"] == 1
        assert ids[WORKSPACES[0]][3] not in {e["node"]["id"] for e in one["all"]["deals"]["edges"]}
        assert one["all"]["deals"]["totalCount"] == 6
        # Writes after the restore keep reaching it as before (its own, here).
        client = restarted["clients"][WORKSPACES[1]]
        await client.data(MOVE, {"id": ids[WORKSPACES[1]][4], "s": "qualification"})
        columns = {
            c["stage"]["key"]: c["count"]
            for c in (await client.data(BOARD))["pipelineBoard"]["columns"]
        }
        assert columns["qualification"] == 3


async def test_a_pruned_log_a_corrupt_or_old_snapshot_fall_back_to_the_scan(
    settings: Settings, db: AsyncDatabase
) -> None:
    async with instance(settings) as a:
        ids = await populate(a["clients"])
    written = await head(db)
    async with instance(without_snapshots(settings)) as other:
        await change_while_down(other["clients"], ids)
    # The log pruned past the snapshot's slot: its next slot gone, the hint beyond it.
    journal = db[journal_name("deals")]
    tail = max(int(d["_id"]) for d in await journal.find({}).to_list() if d["_id"] != HINT_ID)
    await journal.delete_one({"_id": str(written["cursor"] + 1)})
    await journal.update_one({"_id": HINT_ID}, {"$max": {"n": tail}}, upsert=True)
    async with instance(settings) as restarted, instance(without_snapshots(settings)) as scanned:
        # Restored, then told by the log to rebuild: one scan, the same answers.
        assert restarted["index"].shared_scans == 1
        assert await answers(restarted["clients"]) == await answers(scanned["clients"])
    # The shutdown above wrote a new snapshot; corrupt one of its chunks.
    corrupt = await head(db)
    assert corrupt["snapshot"] != written["snapshot"]
    chunk = f"{HEAD}#{corrupt['snapshot']}#0"
    await db[COLLECTION].update_one({"_id": chunk}, {"$set": {"z": b"not a snapshot"}})
    async with instance(settings) as restarted:
        assert restarted["index"].restored_from is None
        assert restarted["index"].shared_scans == 1
        expected = await answers(restarted["clients"])
    # An older format (a snapshot written by a previous release).
    await db[COLLECTION].update_one({"_id": HEAD}, {"$set": {"format": FORMAT - 1}})
    async with instance(settings) as restarted:
        assert restarted["index"].restored_from is None
        assert restarted["index"].shared_scans == 1
        assert await answers(restarted["clients"]) == expected
