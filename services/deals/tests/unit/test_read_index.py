"""The read index (the `ferretdb` profile's store) against the store without it over the
same data: randomized deals and filters, keyset pages walked to the end, board totals,
stale at query time, the write path installing writes, refresh and drop, self-healing of
entries that fell behind, writes during a scan, fallbacks, and the event feed."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from crm_contracts.envelope import CloudEvent, new_event
from crm_contracts.streams import stream_for
from crm_deals.app import DEAL_EVENTS
from crm_deals.domain.deal import Deal
from crm_deals.domain.queries import ORDERS, DealSelection
from crm_deals.events.publish import encode
from crm_deals.store.documents import DEAL, deal_from_doc, deal_to_doc
from crm_deals.store.index_data import Unsupported, WorkspaceDeals
from crm_deals.store.index_entry import entry_of
from crm_deals.store.indexed import DealIndex, IndexedRecordStore
from crm_deals.store.memory import MemoryBackend, memory_store
from crm_deals.store.model_cache import ModelCache
from crm_deals.store.port import WorkspaceStore
from crm_deals.usecases import deals, queries
from crm_deals.usecases.inputs import DealChanges, DealFilter, DealInput
from crm_deals.usecases.pipelines import get_pipeline
from crm_deals.usecases.scope import Scope
from crm_kit.context import RequestContext
from crm_kit.filters import Eq
from crm_kit.ids import new_id
from crm_kit.index_feed import IndexFeed
from crm_kit.memory_db import MemoryDatabase
from crm_kit.read_index import warm_up
from crm_kit.testing import Clock
from crm_kit.writer import Written

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
STAGES = ["prospecting", "qualification", "engaging", "proposal", "negotiation", "won", "lost"]
CURRENCIES = ["USD", "USD", "USD", "EUR", "JPY"]


def random_doc(rng: random.Random, workspace: str = "w1") -> dict[str, Any]:
    """A stored deal with few distinct values per field (ties in every sort)."""
    stage = rng.choice(STAGES)
    status = stage if stage in ("won", "lost") else "open"
    contacts = rng.sample([f"k{i}" for i in range(6)], rng.randint(0, 3))
    deal_id = new_id()
    deal = deal_from_doc(
        {
            "_id": deal_id,
            "workspace_id": workspace,
            "external_id": f"x:{deal_id}",
            "title": rng.choice(["Alpha", "alpha", "Beta", "Émile", "Zed", "Beta"]),
            "pipeline_id": rng.choice(["w1:default", "w1:default", "w1:other"]),
            "stage_key": stage,
            "stage_probability": rng.choice([0, 10, 25, 40]),
            "forecast_category": "pipeline",
            "status": status,
            "owner_id": rng.choice([None, "o1", "o2", "o3"]),
            "company_id": rng.choice([None, "c1", "c2", "c3", "c4"]),
            "primary_contact_id": contacts[0] if contacts else None,
            "contact_ids": contacts,
            "currency": rng.choice(CURRENCIES),
            "amount_minor": rng.choice([0, 1000, 5000, 5000, 12345, 99900]),
            "updated_at": NOW - timedelta(hours=rng.choice([1, 2, 2, 30, 400])),
            "expected_close_date": rng.choice(
                [None, "2026-01-15", "2026-02-01", "2026-02-28", "2026-04-30"]
            ),
            "stale_at": rng.choice([None, NOW - timedelta(days=1), NOW + timedelta(days=1)]),
            "stage_history": [{"to_stage": stage, "at": NOW - timedelta(days=3)}],
            "deleted_at": rng.choice([None] * 9 + [NOW]),
        }
    )
    return deal_to_doc(deal)


def random_filter(rng: random.Random) -> DealFilter:
    values: dict[str, Any] = {}
    if rng.random() < 0.3:
        values["pipeline_id"] = rng.choice(["w1:default", "w1:other", "nope"])
    if rng.random() < 0.3:
        values["stage_keys"] = rng.sample(STAGES, rng.randint(1, 3))
    if rng.random() < 0.2:
        values["owner_id"] = rng.choice(["o1", "o2"])
    if rng.random() < 0.2:
        values["company_id"] = rng.choice(["c1", "c2", "c9"])
    if rng.random() < 0.2:
        values["contact_id"] = rng.choice(["k0", "k1", "k5"])
    if rng.random() < 0.2:
        values["status"] = rng.choice(["open", "won", "lost"])
    if rng.random() < 0.2:
        values["stale"] = rng.choice([True, False])
    if rng.random() < 0.25:
        currency = rng.choice([None, "USD", "EUR", "JPY"])
        values["currency"] = currency
        values["amount_min"] = rng.choice([None, "10", "50.00"])
        values["amount_max"] = rng.choice([None, "123.45", "999"])
        if currency == "JPY":
            values["amount_min"] = values["amount_max"] = rng.choice([None, "5000"])
    if rng.random() < 0.2:
        values["close_date_from"] = rng.choice([None, "2026-02-01"])
        values["close_date_to"] = rng.choice([None, "2026-02-28", "2026-12-31"])
    if rng.random() < 0.2:
        values["text"] = rng.choice(["alp", "ETA", "émi", "z.d", "Zed"])
    return DealFilter(**values)


class Pair:
    """The same in-memory database read by the store without and with the read index."""

    def __init__(self) -> None:
        self.db = MemoryDatabase(encode=encode)
        self.plain_root = memory_store(self.db)
        self.indexed_root = memory_store(self.db, workarounds=True)
        assert isinstance(self.indexed_root, IndexedRecordStore)
        self.index: DealIndex = self.indexed_root.index
        self.plain = self.plain_root.for_workspace("w1")
        self.store = self.indexed_root.for_workspace("w1")

    def put(self, doc: dict[str, Any]) -> None:
        """Written behind the stores' back (another replica, an importer)."""
        self.db.collections["deals"][doc["_id"]] = doc

    def change(self, deal_id: str, **fields: Any) -> None:
        self.db.collections["deals"][deal_id].update(fields)

    def scope(self, store: WorkspaceStore | None = None, clock: Any = lambda: NOW) -> Scope:
        caller = RequestContext("w1", "alice", frozenset({"admin"}))
        return Scope(store or self.store, caller, clock)


def seed(pair: Pair, rng: random.Random, n: int) -> list[dict[str, Any]]:
    docs = [random_doc(rng) for _ in range(n)]
    for doc in docs:
        pair.put(doc)
    # Another workspace's deals must never show up.
    for _ in range(10):
        pair.put(random_doc(rng, "w2"))
    return docs


async def walk(
    scope: Scope, selection: DealSelection, order: str, descending: bool, first: int
) -> list[Any]:
    """Every page of a list, following cursors: (ids, cursors, has_next, total) each."""
    pages, after = [], None
    for _ in range(100):
        page = await queries.list_deals(
            scope, selection, order=order, descending=descending, first=first, after=after
        )
        pages.append(([d.id for d in page.items], page.cursors, page.has_next, page.total))
        if not page.has_next:
            return pages
        after = page.cursors[-1]
    raise AssertionError("pagination did not end")


@pytest.mark.parametrize("seed_value", range(6))
async def test_lists_equal_the_store_query_semantics(seed_value: int) -> None:
    rng = random.Random(seed_value)
    pair = Pair()
    seed(pair, rng, 80)
    for _ in range(25):
        selection = queries.selection_of(random_filter(rng), NOW)
        order = rng.choice(list(ORDERS))
        descending = rng.random() < 0.5
        first = rng.choice([1, 3, 7, 20])
        expected = await walk(pair.scope(pair.plain), selection, order, descending, first)
        found = await walk(pair.scope(), selection, order, descending, first)
        assert found == expected, (selection, order)
        assert await pair.store.count_deals(selection) == await pair.plain.count_deals(selection)
        assert [d.id for d in await pair.store.find_deals(selection)] == [
            d.id for d in await pair.plain.find_deals(selection)
        ]
    assert pair.index.scans("w1") == 1  # one load served every query


@pytest.mark.parametrize("seed_value", range(4))
async def test_board_totals_and_reports_equal_the_store(seed_value: int) -> None:
    rng = random.Random(100 + seed_value)
    pair = Pair()
    seed(pair, rng, 120)
    pipeline = await get_pipeline(pair.scope(pair.plain), None)
    columns = await queries.board(pair.scope(), pipeline)
    expected = await queries.board(pair.scope(pair.plain), pipeline)
    assert [_column(c) for c in columns] == [_column(c) for c in expected]
    assert sum(c.count for c in columns) > 0
    narrowing = queries.board_narrowing(rng.choice([None, "o1"]), rng.choice([None, "beta"]))
    narrowed = await queries.board(pair.scope(), pipeline, narrowed=narrowing)
    assert [_column(c) for c in narrowed] == [
        _column(c)
        for c in await queries.board(pair.scope(pair.plain), pipeline, narrowed=narrowing)
    ]
    for pipeline_id in ("w1:default", "w1:other"):
        totals, _ = await pair.store.board(pipeline_id, [], 0)
        want, _ = await pair.plain.board(pipeline_id, [], 0)
        assert sorted(map(repr, totals)) == sorted(map(repr, want))
        facts = sorted(await pair.store.pipeline_facts(pipeline_id), key=lambda e: e.id)
        plain = sorted(await pair.plain.pipeline_facts(pipeline_id), key=lambda e: e.id)
        assert facts == plain and facts
        facts = sorted(await pair.store.pipeline_facts(pipeline_id, narrowing), key=lambda e: e.id)
        plain = sorted(await pair.plain.pipeline_facts(pipeline_id, narrowing), key=lambda e: e.id)
        assert facts == plain


def _column(c: queries.Column) -> tuple[Any, ...]:
    return (
        c.stage.key,
        c.count,
        c.amount_minor,
        c.weighted_minor,
        [(t.currency, t.count, t.amount_minor, t.weighted_minor) for t in c.by_currency],
        [d.id for d in c.first_page],
    )


async def test_stale_is_evaluated_at_query_time() -> None:
    pair = Pair()
    doc = random_doc(random.Random(1)) | {"stale_at": NOW + timedelta(hours=1), "deleted_at": None}
    pair.put(doc)

    def stale(flag: bool, at: datetime) -> DealSelection:
        return DealSelection(stale=flag, as_of=at)

    assert await pair.store.count_deals(stale(True, NOW)) == 0
    assert await pair.store.count_deals(stale(False, NOW)) == 1
    later = NOW + timedelta(hours=2)  # nothing was written: only the clock moved
    assert await pair.store.count_deals(stale(True, later)) == 1
    assert await pair.store.count_deals(stale(False, later)) == 0
    assert pair.index.scans("w1") == 1


async def test_local_writes_are_installed_without_a_scan_or_a_read() -> None:
    pair = Pair()
    scope = pair.scope()
    await pair.store.count_deals(DealSelection())  # load the (empty) workspace
    deal = await deals.create_deal(scope, DealInput(title="T", amount="10", company_id="c1"))
    company = DealSelection(company_id="c1")
    assert [d.id for d in await pair.store.find_deals(company)] == [deal.id]
    await deals.move_deal(scope, deal.id, "qualification")
    pipeline = await get_pipeline(scope, None)
    columns = {c.stage.key: c for c in await queries.board(scope, pipeline)}
    assert columns["qualification"].count == 1 and columns["prospecting"].count == 0
    assert columns["qualification"].weighted_minor == 250  # 10.00 x 25 %
    await deals.update_deal(scope, deal.id, DealChanges(company_id="c2"))
    assert await pair.store.count_deals(company) == 0
    await deals.delete_deal(scope, deal.id)
    assert await pair.store.count_deals(DealSelection()) == 0
    assert pair.index.scans("w1") == 1


async def test_an_import_batch_heard_together_is_installed_as_inserted() -> None:
    """An import batch's inserts (`WriteHooks.emit_batch`, the stored documents given):
    installed in one call for a workspace the index holds, no scan and no read; each
    installed document the index's own (the stored one changed after: not seen); their
    events expected (the feed re-reads nothing when they come back); a workspace not
    loaded left to its first scan."""
    pair = Pair()
    assert await pair.store.count_deals(DealSelection()) == 0  # w1 loaded, empty
    rng = random.Random(5)
    docs = [random_doc(rng) | {"deleted_at": None, "company_id": "c9"} for _ in range(6)]
    elsewhere = random_doc(rng, "w2") | {"deleted_at": None}
    reads: list[str] = []
    source_get = pair.indexed_root.source.records

    def counting(*args: Any) -> Any:
        reads.append(str(args))
        return source_get(*args)

    pair.indexed_root.source.records = counting  # type: ignore[method-assign]
    writes = []
    for doc in [*docs, elsewhere]:
        pair.put(doc)
        event = _updated(doc["_id"])
        writes.append(
            Written(
                "deals", doc["_id"], doc["workspace_id"], None,
                events=(event,), kind="insert", stored=dict(doc),
            )
        )  # fmt: skip
    await pair.db.hooks.emit_batch(writes)
    by_company = DealSelection(company_id="c9")
    assert await pair.store.count_deals(by_company) == 6
    held = sorted(d.id for d in await pair.store.find_deals(by_company))
    assert reads == [] and pair.index.scans("w1") == 1
    del pair.indexed_root.source.records  # type: ignore[attr-defined]
    assert held == sorted(d.id for d in await pair.plain.find_deals(by_company))
    assert all(pair.index.expected(w.events[0].id) for w in writes)
    writes[0].stored["company_id"] = "c0"  # type: ignore[index]
    assert await pair.store.count_deals(by_company) == 6
    assert pair.index.loaded("w2") is None


async def test_writes_to_a_workspace_not_loaded_are_left_to_its_first_scan() -> None:
    # An import writes thousands of deals into a workspace nobody has listed: the write
    # hook installs nothing (no copy of each deal), and the first list scans them all.
    pair = Pair()
    scope = pair.scope()
    deal = await deals.create_deal(scope, DealInput(title="T", amount="10", company_id="c1"))
    assert pair.index.loaded("w1") is None
    found = await pair.store.find_deals(DealSelection(company_id="c1"))
    assert [d.id for d in found] == [deal.id] and pair.index.scans("w1") == 1


async def test_refresh_and_drop_of_writes_made_elsewhere() -> None:
    pair = Pair()
    assert await pair.store.count_deals(DealSelection()) == 0
    doc = random_doc(random.Random(2)) | {"deleted_at": None, "company_id": "c7"}
    # Written by "another replica": invisible until its event makes the index re-read it.
    pair.put(doc)
    by_company = DealSelection(company_id="c7")
    assert await pair.store.count_deals(by_company) == 0
    await pair.index.refresh("w1", [doc["_id"]])
    assert await pair.store.count_deals(by_company) == 1
    pair.change(doc["_id"], deleted_at=NOW)
    await pair.index.refresh("w1", [doc["_id"]])
    assert await pair.store.count_deals(by_company) == 0
    await pair.index.refresh("w1", ["no-such-deal"])  # an unknown id is simply absent
    assert await pair.store.count_deals(DealSelection()) == 0
    # A deal of another workspace named by an event is not read into this one.
    foreign = random_doc(random.Random(3), "w2") | {"deleted_at": None}
    pair.put(foreign)
    await pair.index.refresh("w1", [foreign["_id"]])
    assert await pair.store.count_deals(DealSelection()) == 0


async def test_an_entry_that_fell_behind_is_healed_on_fetch() -> None:
    pair = Pair()
    base = random_doc(random.Random(4)) | {"deleted_at": None, "currency": "USD"}
    for deal_id, amount in (("a", 100), ("b", 200)):
        pair.put(
            deal_to_doc(deal_from_doc(base | {"_id": deal_id, "external_id": deal_id}))
            | {"amount_minor": amount}
        )
    assert await pair.store.count_deals(DealSelection()) == 2
    # Another replica lowered b below a; its event has not arrived.
    pair.change("b", amount_minor=50)
    page = await pair.store.list_deals(
        queries.DealQuery(DealSelection(), queries.order_of("AMOUNT", True), None, 1)
    )
    assert [d.id for d in page.items] == ["a"]
    cheap = DealSelection(currency="USD", amount_max=99)
    assert await pair.store.count_deals(cheap) == 1  # b healed


async def test_writes_during_the_first_scan_and_a_rebuild_are_kept() -> None:
    rng = random.Random(5)
    pair = Pair()
    docs = [random_doc(rng) | {"deleted_at": None} for _ in range(60)]
    for doc in docs:
        pair.put(doc)
    target = docs[-1]["_id"]  # the fake scans in insertion order: read last

    async def set_owner(deal_id: str, owner: str) -> None:
        async def change(deal: Deal) -> bool:
            deal.owner_id = owner
            return True

        assert await pair.store.change_deal(deal_id, change) is not None

    async def write_meanwhile() -> None:
        await asyncio.sleep(0)
        await set_owner(target, "during-load")

    during_load = DealSelection(owner_id="during-load")
    loaded, _ = await asyncio.gather(pair.store.count_deals(during_load), write_meanwhile())
    assert loaded in (0, 1)  # whichever came first; afterwards the write is in
    assert await pair.store.count_deals(during_load) == 1

    first = docs[0]["_id"]  # scanned first, then written during the rebuild

    async def write_during_rebuild() -> None:
        for _ in range(5):
            await asyncio.sleep(0)
        await set_owner(first, "during-rebuild")

    await asyncio.gather(pair.index.rebuild(), write_during_rebuild())
    assert pair.index.scans("w1") == 2
    assert await pair.store.count_deals(DealSelection(owner_id="during-rebuild")) == 1
    assert await pair.store.count_deals(DealSelection()) == 60


async def test_failed_loads_use_the_database_and_unknown_fields_are_refused() -> None:
    pair = Pair()
    seed(pair, random.Random(6), 30)

    class Down(MemoryBackend):
        async def scan_deals(self, workspace_id: str, fields: Sequence[str]) -> Any:
            raise RuntimeError("database down")
            yield  # pragma: no cover

    failing = IndexedRecordStore(pair.db, Down(pair.db), pair.indexed_root.models, pair.db.hooks)
    store = failing.for_workspace("w1")
    everything = DealSelection()
    assert await store.count_deals(everything) == await pair.plain.count_deals(everything)
    assert [d.id for d in await store.find_deals(everything)] == [
        d.id for d in await pair.plain.find_deals(everything)
    ]
    held = WorkspaceDeals()
    held.put(entry_of(random_doc(random.Random(6))))
    with pytest.raises(Unsupported):  # the index holds no next step: the database answers
        held.matching(Eq("next_step", None))


async def test_not_live_or_closed_index_serves_nothing() -> None:
    pair = Pair()
    seed(pair, random.Random(7), 10)
    db = pair.db
    index = IndexedRecordStore(db, MemoryBackend(db), ModelCache(), db.hooks, live=False).index
    assert await index.entries("w1") is None
    index.go_live()
    assert await index.entries("w1") is not None
    index.close()
    assert await index.entries("w1") is None


def _feed(index: DealIndex) -> IndexFeed:
    """The app's feed, without NATS (messages are handed to `on_message`)."""
    return IndexFeed(
        index,
        None,
        None,
        subjects=[DEAL_EVENTS],
        stream=stream_for("deals").name,
        rebuild_seconds=60,
    )


def _updated(deal_id: str) -> CloudEvent:
    return new_event(
        event_type="crm.deals.deal.updated.v1",
        source="crm/deals",
        workspace="w1",
        subject=deal_id,
        data={},
    )


@contextlib.asynccontextmanager
async def _refreshed(feed: IndexFeed) -> AsyncIterator[None]:
    """Run the feed's refresher until no event waits; stop the feed (and index) after."""
    task = asyncio.ensure_future(feed.run_refresher())
    try:
        for _ in range(100):
            await asyncio.sleep(0)
            if feed.idle:
                break
        assert feed.idle
        yield
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await feed.stop()


class _Msg:
    def __init__(self, data: bytes, headers: dict[str, str] | None = None) -> None:
        self.data = data
        self.headers = headers
        self.subject = "crm.deals.deal.updated.v1"


async def test_the_feed_re_reads_each_named_deal_once() -> None:
    pair = Pair()
    assert await pair.store.count_deals(DealSelection()) == 0
    doc = random_doc(random.Random(8)) | {"deleted_at": None, "owner_id": "o-feed"}
    pair.put(doc)
    feed = _feed(pair.index)
    event = _updated(doc["_id"])
    for _ in range(3):  # duplicates coalesce into one re-read
        await feed.on_message(_Msg(event.to_json(), {"crm-workspace": "w1"}))  # type: ignore[arg-type]
    await feed.on_message(_Msg(b"not json"))  # type: ignore[arg-type]
    assert feed.received == 3 and not feed.idle
    reads = 0
    records = type(pair.db.records(DEAL, "w1"))
    original = records.get

    async def counting(self: Any, ids: Sequence[str]) -> Any:
        nonlocal reads
        reads += 1
        return await original(self, ids)

    records.get = counting  # type: ignore[method-assign]
    try:
        async with _refreshed(feed):
            assert reads == 1
            assert await pair.store.count_deals(DealSelection(owner_id="o-feed")) == 1
    finally:
        records.get = original  # type: ignore[method-assign]
    assert pair.index.closed


async def test_the_feed_skips_the_events_of_this_process_writes() -> None:
    pair = Pair()
    scope = pair.scope(clock=Clock(NOW))
    assert await pair.store.count_deals(DealSelection()) == 0  # loaded
    deal = await deals.create_deal(scope, DealInput(title="Own", amount="10", company_id="c1"))
    await deals.move_deal(scope, deal.id, "qualification")
    # The deal's events (the feed's subjects; the default pipeline's creation is not one).
    own = [e for e in pair.db.outbox if e.type.startswith("crm.deals.deal.")]
    assert "crm.deals.deal.created.v1" in {e.type for e in own} and len(own) >= 2
    # Written by "another replica" after ours: its event is not skipped.
    pair.change(deal.id, owner_id="o-elsewhere", rev=99)
    other = _updated(deal.id)
    feed = _feed(pair.index)
    for event in [*own, other]:
        await feed.on_message(_Msg(event.to_json(), {"crm-workspace": "w1"}))  # type: ignore[arg-type]
    # The write path installed this process's own writes: one re-read is left, for the
    # other replica's write.
    assert feed.received == len(own) + 1 and feed.skipped == len(own)
    assert not feed.idle
    async with _refreshed(feed):
        moved_elsewhere = DealSelection(owner_id="o-elsewhere", stage_keys=("qualification",))
        assert await pair.store.count_deals(moved_elsewhere) == 1


async def test_the_warm_up_loads_every_workspace_from_one_scan_of_the_deals() -> None:
    """The start-up warm-up reads the deals once for all workspaces (on FerretDB each scan
    reads the whole collection); lists of each workspace then answer what the store does,
    and deleted deals are not held."""
    rng = random.Random(7)
    pair = Pair()
    docs = seed(pair, rng, 40)
    backend = pair.indexed_root.backend
    assert isinstance(backend, MemoryBackend)
    scanned: list[str | None] = []
    scan_deals = backend.scan_deals

    def counting(workspace_id: str | None, fields: Sequence[str]) -> AsyncIterator[Any]:
        scanned.append(workspace_id)
        return scan_deals(workspace_id, fields)

    backend.scan_deals = counting  # type: ignore[method-assign]
    await warm_up(pair.index)
    assert scanned == [None] and sorted(pair.index.workspaces) == ["w1", "w2"]
    live = {doc["_id"] for doc in docs if doc["deleted_at"] is None}
    w1 = pair.index.loaded("w1")
    assert w1 is not None and set(w1.entries) == live
    everything = queries.selection_of(DealFilter(), NOW)
    assert await pair.store.count_deals(everything) == await pair.plain.count_deals(everything)
    assert scanned == [None]  # served by the warmed index
