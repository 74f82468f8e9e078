"""The read index (the `ferretdb` profile's store) across instances on a real FerretDB +
NATS: two deals apps on the same database and NATS see each other's writes within a
bounded wait, an importer's direct writes show up through their events, and a restarted
instance rebuilds from a scan. (On the `mongodb` profile there is no index: the other
integration tests run there too.)"""

from __future__ import annotations

import contextlib
import io
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from crm_deals.app import create_app
from crm_deals.importer import run as import_deals
from crm_deals.store.indexed import IndexedRecordStore
from crm_deals.store.store import WorkspaceRecordStore
from crm_kit.paths import demo_dataset_dir
from crm_kit.records import MongoRecords
from crm_kit.settings import Settings
from crm_kit.testing import GraphQLClient, eventually, gateway_auth, running_app

# The embedded database's profile only (`auto` detects FerretDB: the read index on):
# the conftest's `settings`, given one of its profiles.
pytestmark = [
    pytest.mark.integration,
    pytest.mark.parametrize("settings", ["auto"], indirect=True),
]

CREATE = """mutation($input: CreateDealInput!) { createDeal(input: $input) { id } }"""
MOVE = """mutation($id: ID!, $s: String!) { moveDeal(id: $id, stageKey: $s) { id } }"""
BOARD = """{ pipelineBoard { columns { stage { key } count totalAmount
  deals(first: 5) { totalCount edges { node { id amount } } } } } }"""
BY_COMPANY = """query($c: ID!) { deals(filter: {companyId: $c}) { totalCount
  edges { node { id title stage { key } } } } }"""


@contextlib.asynccontextmanager
async def instance(settings: Settings, workspace: str) -> AsyncIterator[dict[str, Any]]:
    app = create_app(settings)
    async with running_app(app) as http:
        assert isinstance(app.state.store, IndexedRecordStore)
        yield {
            "client": GraphQLClient(http, gateway_auth("deals", workspace)),
            "index": app.state.store.index,
            "feed": app.state.feed,
        }


async def _columns(client: GraphQLClient) -> dict[str, dict[str, Any]]:
    board = await client.data(BOARD)
    return {c["stage"]["key"]: c for c in board["pipelineBoard"]["columns"]}


async def _company_ids(client: GraphQLClient, company: str) -> list[str]:
    found = (await client.data(BY_COMPANY, {"c": company}))["deals"]
    return [e["node"]["id"] for e in found["edges"]]


async def test_writes_on_one_instance_reach_the_other(
    settings: Settings, db: AsyncDatabase
) -> None:
    workspace = "ws-two"
    async with instance(settings, workspace) as a, instance(settings, workspace) as b:
        assert (await _columns(b["client"]))["prospecting"]["count"] == 0  # b loaded
        created = await a["client"].data(
            CREATE, {"input": {"title": "Two", "amount": "300", "companyId": "co-two"}}
        )
        deal_id = created["createDeal"]["id"]
        # Read-your-writes on the writing instance: no wait.
        assert await _company_ids(a["client"], "co-two") == [deal_id]

        async def b_lists_it() -> bool:
            return await _company_ids(b["client"], "co-two") == [deal_id]

        await eventually(b_lists_it, timeout=15)
        await a["client"].data(
            MOVE, {"id": deal_id, "s": "qualification"}
        )  # prospecting -> qualification needs only the company
        assert (await _columns(a["client"]))["qualification"]["count"] == 1

        async def b_board_moved() -> bool:
            columns = await _columns(b["client"])
            column = columns["qualification"]
            return (
                column["count"] == 1
                and columns["prospecting"]["count"] == 0
                and [e["node"]["id"] for e in column["deals"]["edges"]] == [deal_id]
                and column["totalAmount"] == "300.00"
            )

        await eventually(b_board_moved, timeout=15)
        assert b["index"].scans(workspace) <= 1  # events, not rescans (0: empty at the warm-up)
        assert b["feed"].received >= 3  # created, stage_changed x2


def _tiny_csv(tmp_path: Path) -> Path:
    source = demo_dataset_dir() / "sales_pipeline.csv"
    lines = source.read_text(encoding="utf-8-sig").splitlines()
    header = lines[0]
    engaging = [line for line in lines[1:] if ",Engaging," in line][:3]
    path = tmp_path / "sales_pipeline.csv"
    path.write_text("\n".join([header, *engaging]) + "\n", encoding="utf-8")
    (tmp_path / "products.csv").write_text(
        (demo_dataset_dir() / "products.csv").read_text(encoding="utf-8-sig"), encoding="utf-8"
    )
    return path


async def test_importer_writes_show_up_through_their_events(
    settings: Settings, tmp_path: Path, import_argv: Callable[..., list[str]]
) -> None:
    workspace = "ws-import"
    async with instance(settings, workspace) as b:
        before = await _columns(b["client"])
        assert before["engaging"]["count"] == 0
        out = io.StringIO()
        argv = import_argv(_tiny_csv(tmp_path), workspace, "--no-companies")
        assert await import_deals(argv, out, io.StringIO()) == 0, out.getvalue()

        async def imported() -> bool:
            return (await _columns(b["client"]))["engaging"]["count"] == 3

        await eventually(imported, timeout=20)
        assert b["index"].scans(workspace) <= 1  # 0: empty at the warm-up


async def test_a_restarted_instance_rebuilds_from_a_scan(
    settings: Settings, db: AsyncDatabase
) -> None:
    workspace = "ws-restart"
    async with instance(settings, workspace) as a:
        ids = []
        for amount in ("100", "200"):
            created = await a["client"].data(
                CREATE, {"input": {"title": "R", "amount": amount, "companyId": "co-r"}}
            )
            ids.append(created["createDeal"]["id"])
        assert sorted(await _company_ids(a["client"], "co-r")) == sorted(ids)
    # While no instance runs, the database changes without any event (nor a slot in the
    # change log: only a scan sees it, so the restart must not start from a snapshot).
    await db["deals"].update_one({"_id": ids[0]}, {"$set": {"company_id": "co-moved"}})
    no_snapshot = replace(settings, extra={"DEALS_INDEX_SNAPSHOT_SECONDS": "0"})
    async with instance(no_snapshot, workspace) as again:
        # Loaded at start-up, before any request asks (the workspace has a pipeline).
        async def loaded() -> bool:
            return bool(again["index"].scans(workspace) == 1)

        await eventually(loaded, timeout=20)
        assert await _company_ids(again["client"], "co-r") == [ids[1]]
        assert await _company_ids(again["client"], "co-moved") == [ids[0]]
        assert again["index"].scans(workspace) == 1


async def test_the_periodic_rebuild_repairs_what_no_event_announced(
    settings: Settings, db: AsyncDatabase
) -> None:
    workspace = "ws-rebuild"
    fast = replace(settings, extra={"DEALS_INDEX_REBUILD_SECONDS": "1"})
    async with instance(fast, workspace) as a:
        created = await a["client"].data(
            CREATE, {"input": {"title": "S", "amount": "5", "companyId": "co-s"}}
        )
        deal_id = created["createDeal"]["id"]
        assert await _company_ids(a["client"], "co-s") == [deal_id]
        # The creation's own events re-read the deal, and the relay clears its outbox
        # (an update FerretDB does not isolate from ours): let both pass first.
        feed = a["feed"]

        async def events_applied() -> bool:
            doc = await db["deals"].find_one({"_id": deal_id})
            return feed.received >= 2 and feed.idle and doc["_outbox_pending"] is False

        await eventually(events_applied, timeout=15)
        scans = a["index"].scans(workspace)
        # Changed behind the service's back: no event, only a rebuild can notice.
        await db["deals"].update_one({"_id": deal_id}, {"$set": {"company_id": "co-t"}})

        async def repaired() -> bool:
            return await _company_ids(a["client"], "co-t") == [deal_id]

        await eventually(repaired, timeout=20)
        assert a["index"].scans(workspace) > scans


UPDATE = """mutation($id: ID!, $input: UpdateDealInput!) { updateDeal(id: $id, input: $input) {
  id } }"""


async def test_another_instance_changes_show_at_once_through_the_change_log(
    settings: Settings,
) -> None:
    """b holds whole deals and takes them from memory; a's changes reach b's very next
    request through the deals' change log, with b's event feed cut off (no event helps),
    and a restarted instance follows the log from its tail."""
    workspace = "ws-log"
    async with instance(settings, workspace) as a, instance(settings, workspace) as b:
        created = await a["client"].data(
            CREATE, {"input": {"title": "L", "amount": "40", "companyId": "co-log"}}
        )
        deal_id = created["createDeal"]["id"]

        async def b_lists_it() -> bool:  # a new deal reaches b by its event
            return await _company_ids(b["client"], "co-log") == [deal_id]

        await eventually(b_lists_it, timeout=15)
        before = await _columns(b["client"])
        assert [e["node"]["amount"] for e in before["prospecting"]["deals"]["edges"]] == ["40.00"]
        await b["feed"].unsubscribe()
        followed = b["index"].followed
        await a["client"].data(MOVE, {"id": deal_id, "s": "qualification"})
        await a["client"].data(UPDATE, {"id": deal_id, "input": {"amount": "45"}})
        # No wait: the writes returned, so their slots are in the log b follows.
        columns = await _columns(b["client"])
        assert columns["prospecting"]["count"] == 0
        assert columns["qualification"]["count"] == 1
        edges = columns["qualification"]["deals"]["edges"]
        assert [(e["node"]["id"], e["node"]["amount"]) for e in edges] == [(deal_id, "45.00")]
        assert b["index"].followed >= followed + 2  # the move and the update
        assert b["index"].scans(workspace) <= 1  # followed, not rescanned
        async with instance(settings, workspace) as c:
            assert (await _columns(c["client"]))["qualification"]["count"] == 1
            await c["feed"].unsubscribe()
            await a["client"].data(UPDATE, {"id": deal_id, "input": {"amount": "50"}})
            edges = (await _columns(c["client"]))["qualification"]["deals"]["edges"]
            assert [e["node"]["amount"] for e in edges] == ["50.00"]


DEAL = """query($id: ID!) { deal(id: $id) { id title amount stage { key } } }"""
ENTITIES = """query($r: [_Any!]!) { _entities(representations: $r) { ... on Deal { id title } } }"""
DELETE = """mutation($id: ID!) { deleteDeal(id: $id) }"""


async def _created_on_a_read_on_b(
    a: dict[str, Any], b: dict[str, Any], title: str, company: str, *, held: bool = False
) -> tuple[str, list[str]]:
    """A deal created on instance `a`; `b`'s index loaded (and the deal held, `held`), its
    event feed cut off, and its reads by `_id` listed from here on."""
    created = await a["client"].data(
        CREATE, {"input": {"title": title, "amount": "10", "companyId": company}}
    )
    deal_id: str = created["createDeal"]["id"]
    await _columns(b["client"])  # b's index loaded
    if held:
        await b["client"].data(DEAL, {"id": deal_id})
    await b["feed"].unsubscribe()
    index = b["index"]
    reads: list[str] = []
    read = index._read

    async def counted(ws: str, doc_id: str) -> Any:
        reads.append(doc_id)
        return await read(ws, doc_id)

    index._read = counted
    return deal_id, reads


async def test_deals_by_id_come_from_held_deals_kept_current_by_the_change_log(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The deal page and the `Deal` references read held deals once the workspace is
    loaded: a second look-up reads nothing by `_id`, yet another instance's update and
    delete show on the very next request (its log, with the event feed cut off)."""
    workspace = "ws-by-id"
    async with instance(settings, workspace) as a, instance(settings, workspace) as b:
        deal_id, reads = await _created_on_a_read_on_b(a, b, "Held", "co-held")
        queried: list[str] = []
        by_query = WorkspaceRecordStore.get_deals

        async def query_counted(store: WorkspaceRecordStore, ids: Any) -> Any:
            queried.extend(ids)
            return await by_query(store, ids)

        monkeypatch.setattr(WorkspaceRecordStore, "get_deals", query_counted)
        # Held once read (a deal new to b is read by `_id`), then served from memory.
        assert (await b["client"].data(DEAL, {"id": deal_id}))["deal"]["title"] == "Held"
        reads.clear()
        refs = {"r": [{"__typename": "Deal", "id": deal_id}]}
        assert (await b["client"].data(ENTITIES, refs))["_entities"] == [
            {"id": deal_id, "title": "Held"}
        ]
        assert (await b["client"].data(DEAL, {"id": deal_id}))["deal"]["amount"] == "10.00"
        assert reads == [] and queried == []
        await a["client"].data(UPDATE, {"id": deal_id, "input": {"amount": "12"}})
        # No wait: the update returned, so its slot is in the log b follows.
        assert (await b["client"].data(DEAL, {"id": deal_id}))["deal"]["amount"] == "12.00"
        assert reads == [deal_id]  # the one deal the log named, re-read once
        await a["client"].data(DELETE, {"id": deal_id})
        queried.clear()
        assert (await b["client"].data(DEAL, {"id": deal_id}))["deal"] is None
        assert (await b["client"].data(ENTITIES, refs))["_entities"] == [None]
        assert queried == []


HISTORY = """query($id: ID!) { deal(id: $id) { stage { key } amount
  stageHistory { fromStage toStage } } }"""


async def test_a_change_starts_from_the_held_deal_and_sees_the_other_instances_change(
    settings: Settings, db: AsyncDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A move on an instance that holds the deal reads nothing by `_id` (the held deal,
    current as of the change log it just followed), yet starts from what the other
    instance wrote just before, its event feed cut off: no change is lost or undone."""
    workspace = "ws-held-moves"
    async with instance(settings, workspace) as a, instance(settings, workspace) as b:
        deal_id, reads = await _created_on_a_read_on_b(a, b, "M", "co-m", held=True)
        by_id = MongoRecords._read_for_change

        async def read_for_change(records: MongoRecords, record_id: str) -> Any:
            reads.append(f"change {record_id}")
            return await by_id(records, record_id)

        monkeypatch.setattr(MongoRecords, "_read_for_change", read_for_change)
        await b["client"].data(MOVE, {"id": deal_id, "s": "qualification"})
        assert reads == []  # started from the held deal: no read by `_id`

        async def published() -> bool:
            doc = await db["deals"].find_one({"_id": deal_id}, {"_outbox_pending": 1})
            return doc is not None and not doc.get("_outbox_pending")

        # b's relay clears its outbox with a rewrite of the whole deal, which FerretDB does
        # not isolate from a's update: had they overlapped, a's write would be undone.
        await eventually(published, timeout=15)
        await a["client"].data(UPDATE, {"id": deal_id, "input": {"amount": "12"}})
        await a["client"].data(MOVE, {"id": deal_id, "s": "prospecting"})
        await eventually(published, timeout=15)  # a's relay too, before b writes
        reads.clear()  # a's own (a holds no deals: it reads them by `_id`)
        # No wait: a's writes returned, so their slots are in the log b follows.
        await b["client"].data(MOVE, {"id": deal_id, "s": "qualification"})
        assert reads == [deal_id]  # the log named it once: re-read, then held again
        found = (await a["client"].data(HISTORY, {"id": deal_id}))["deal"]
        assert found["stage"]["key"] == "qualification" and found["amount"] == "12.00"
        assert [(h["fromStage"], h["toStage"]) for h in found["stageHistory"]] == [
            (None, "prospecting"),
            ("prospecting", "qualification"),
            ("qualification", "prospecting"),
            ("prospecting", "qualification"),
        ]


DASHBOARDS = """query($from: Date!, $to: Date!) {
  pipelineAnalytics { created won lost stages { key entered advanced movedBack stillThere
    medianDaysInStage p75DaysInStage } }
  forecast(from: $from, to: $to) { months { month categories { category count amount } }
    undated { openPipeline weightedForecast } } }"""


async def test_dashboards_kept_in_parts_follow_another_instances_writes(
    settings: Settings,
) -> None:
    """b keeps the funnel and the forecast in parts; a's moves, update and new deal reach
    b's next request through the change log (b's event feed cut off), and b's figures are
    then those a fresh instance computes over every deal."""
    workspace = "ws-dash"
    window = {"from": "2000-01-01", "to": "2000-06-01"}  # the forecast's undated deals count
    async with instance(settings, workspace) as a, instance(settings, workspace) as b:
        ids = []
        for n in range(6):
            deal = {"title": f"D{n}", "amount": "10", "companyId": "co-dash"}
            made = await a["client"].data(CREATE, {"input": deal})
            ids.append(made["createDeal"]["id"])
        await a["client"].data(MOVE, {"id": ids[0], "s": "qualification"})

        async def b_has_all() -> bool:
            return (await _columns(b["client"]))["prospecting"]["count"] == 5

        await eventually(b_has_all, timeout=15)
        before = await b["client"].data(DASHBOARDS, window)
        assert before == await b["client"].data(DASHBOARDS, window)  # kept
        await b["feed"].unsubscribe()
        await a["client"].data(MOVE, {"id": ids[1], "s": "qualification"})
        await a["client"].data(MOVE, {"id": ids[0], "s": "prospecting"})
        await a["client"].data(UPDATE, {"id": ids[2], "input": {"amount": "99"}})
        await a["client"].data(CREATE, {"input": {"title": "D6", "amount": "7"}})  # stays
        after = await b["client"].data(DASHBOARDS, window)
        assert after != before
        stages = {s["key"]: s for s in after["pipelineAnalytics"]["stages"]}
        assert stages["qualification"]["entered"] == 2
        assert stages["qualification"]["movedBack"] == 1
        assert stages["prospecting"]["entered"] == 7
        assert after["forecast"]["undated"]["openPipeline"] == "156.00"  # 5 x 10 + 99 + 7
        async with instance(settings, workspace) as c:
            assert await c["client"].data(DASHBOARDS, window) == after
