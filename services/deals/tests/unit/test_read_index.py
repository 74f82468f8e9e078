"""The read index against the store's own query semantics: randomized deals and filters,
keyset pages walked to the end, board totals, stale at query time, refresh and drop,
self-healing of entries that fell behind, writes during a scan, fallbacks."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from crm_contracts.envelope import new_event
from crm_contracts.streams import stream_for
from crm_deals.app import DEAL_EVENTS
from crm_deals.store.indexed import DealIndex, IndexedDealStore, IndexedStoreFactory, deal_index
from crm_deals.store.memory import MemoryDatabase, apply_update
from crm_deals.usecases import queries
from crm_deals.usecases.context import Actor
from crm_deals.usecases.deals import DealService
from crm_deals.usecases.queries import DealFilter, deal_query, list_deals
from crm_kit.context import RequestContext
from crm_kit.ids import new_id
from crm_kit.index_feed import IndexFeed

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
STAGES = ["prospecting", "qualification", "engaging", "proposal", "negotiation", "won", "lost"]
CURRENCIES = ["USD", "USD", "USD", "EUR", "JPY"]


def random_doc(rng: random.Random) -> dict[str, Any]:
    """A stored deal document with few distinct values per field (ties in every sort)."""
    stage = rng.choice(STAGES)
    status = stage if stage in ("won", "lost") else "open"
    contacts = rng.sample([f"k{i}" for i in range(6)], rng.randint(0, 3))
    close_date = rng.choice([None, "2026-01-15", "2026-02-01", "2026-02-28", "2026-04-30"])
    amount = rng.choice([0, 1000, 5000, 5000, 12345, 99900])
    probability = rng.choice([0, 10, 25, 40, 100])
    return {
        "_id": new_id(),
        "title": rng.choice(["Alpha", "alpha", "Beta", "Émile", "Zed", "Beta"]),
        "pipeline_id": rng.choice(["w1:default", "w1:default", "w1:other"]),
        "pipeline_version": 1,
        "stage_key": stage,
        "stage_probability": 10,
        "forecast_category": "pipeline",
        "status": status,
        "owner_id": rng.choice([None, "o1", "o2", "o3"]),
        "company_id": rng.choice([None, "c1", "c2", "c3", "c4"]),
        "primary_contact_id": contacts[0] if contacts else None,
        "contact_ids": contacts,
        "currency": rng.choice(CURRENCIES),
        "amount_minor": amount,
        "probability": probability,
        "weighted_minor": amount * probability // 100,
        "updated_at": NOW - timedelta(hours=rng.choice([1, 2, 2, 30, 400])),
        "close_date": close_date,
        "close_sort": close_date or "9999-12-31",
        "stale_at": rng.choice([None, NOW - timedelta(days=1), NOW + timedelta(days=1)]),
        "stage_history": [{"to_stage": stage}],
        "deleted_at": rng.choice([None] * 9 + [NOW]),
    }


def random_filter(rng: random.Random) -> DealFilter:
    f = DealFilter()
    if rng.random() < 0.3:
        f.pipeline_id = rng.choice(["w1:default", "w1:other", "nope"])
    if rng.random() < 0.3:
        f.stage_keys = rng.sample(STAGES, rng.randint(1, 3))
    if rng.random() < 0.2:
        f.owner_id = rng.choice(["o1", "o2"])
    if rng.random() < 0.2:
        f.company_id = rng.choice(["c1", "c2", "c9"])
    if rng.random() < 0.2:
        f.contact_id = rng.choice(["k0", "k1", "k5"])
    if rng.random() < 0.2:
        f.status = rng.choice(["open", "won", "lost"])
    if rng.random() < 0.2:
        f.stale = rng.choice([True, False])
    if rng.random() < 0.25:
        f.currency = rng.choice([None, "USD", "EUR", "JPY"])
        f.amount_min = rng.choice([None, "10", "50.00"])
        f.amount_max = rng.choice([None, "123.45", "999"])
        if f.currency == "JPY":
            f.amount_min = f.amount_max = rng.choice([None, "5000"])
    if rng.random() < 0.2:
        f.close_date_from = rng.choice([None, "2026-02-01"])
        f.close_date_to = rng.choice([None, "2026-02-28", "2026-12-31"])
    if rng.random() < 0.2:
        f.text = rng.choice(["alp", "ETA", "émi", "z.d", "Zed"])
    return f


async def walk(store: Any, query: dict, order: str, descending: bool, first: int) -> list:
    """Every page of a list, following cursors: (ids, cursors, has_next, total) each."""
    pages, after = [], None
    for _ in range(100):
        page = await list_deals(
            store, query, order=order, descending=descending, first=first, after=after
        )
        pages.append(([d.id for d in page.items], page.cursors, page.has_next, page.total))
        if not page.has_next:
            return pages
        after = page.cursors[-1]
    raise AssertionError("pagination did not end")


def indexed(db: MemoryDatabase, workspace: str = "w1") -> tuple[IndexedDealStore, DealIndex]:
    index = deal_index(db)
    return IndexedStoreFactory(db, index).for_workspace(workspace), index


async def seed(db: MemoryDatabase, rng: random.Random, n: int) -> list[dict[str, Any]]:
    docs = [random_doc(rng) for _ in range(n)]
    for doc in docs:
        await db.for_workspace("w1").insert_deal(doc, [])
    # Another workspace's deals must never show up.
    for doc in [random_doc(rng) for _ in range(10)]:
        await db.for_workspace("w2").insert_deal(doc, [])
    return docs


@pytest.mark.parametrize("seed_value", range(6))
async def test_lists_equal_the_store_query_semantics(seed_value: int) -> None:
    rng = random.Random(seed_value)
    db = MemoryDatabase()
    await seed(db, rng, 80)
    plain = db.for_workspace("w1")
    store, index = indexed(db)
    for _ in range(25):
        query = deal_query(random_filter(rng), NOW)
        order = rng.choice(list(queries.ORDER_FIELDS))
        descending = rng.random() < 0.5
        first = rng.choice([1, 3, 7, 20])
        expected = await walk(plain, query, order, descending, first)
        assert await walk(store, query, order, descending, first) == expected, (query, order)
        assert await store.count_deals(query) == await plain.count_deals(query)
    assert index.scans("w1") == 1  # one load served every query


@pytest.mark.parametrize("seed_value", range(4))
async def test_board_and_totals_equal_the_store(seed_value: int) -> None:
    rng = random.Random(100 + seed_value)
    db = MemoryDatabase()
    await seed(db, rng, 120)
    plain = db.for_workspace("w1")
    store, _ = indexed(db)
    pipeline = await DealService(plain, _actor()).pipelines.get(None)
    columns = await queries.board(store, pipeline)
    expected = await queries.board(plain, pipeline)
    assert [_column(c) for c in columns] == [_column(c) for c in expected]
    assert sum(c.count for c in columns) > 0
    where = queries.board_filter(rng.choice([None, "o1"]), rng.choice([None, "beta"]))
    narrowed = await queries.board(store, pipeline, where=where)
    assert [_column(c) for c in narrowed] == [
        _column(c) for c in await queries.board(plain, pipeline, where=where)
    ]
    for pipeline_id in ("w1:default", "w1:other"):
        totals = sorted(await store.stage_totals(pipeline_id), key=lambda r: sorted(r.items()))
        want = sorted(await plain.stage_totals(pipeline_id), key=lambda r: sorted(r.items()))
        assert totals == want


def _column(c: queries.Column) -> tuple:
    return (
        c.stage.key,
        c.count,
        c.amount_minor,
        c.weighted_minor,
        [(t.currency, t.count, t.amount_minor, t.weighted_minor) for t in c.by_currency],
        [d.id for d in c.first_page],
    )


def _actor(clock: Any = lambda: NOW) -> Actor:
    return Actor(RequestContext("w1", "alice", frozenset({"admin"})), clock=clock)


async def test_stale_is_evaluated_at_query_time() -> None:
    db = MemoryDatabase()
    doc = random_doc(random.Random(1)) | {"stale_at": NOW + timedelta(hours=1), "deleted_at": None}
    await db.for_workspace("w1").insert_deal(doc, [])
    store, index = indexed(db)
    stale, fresh = DealFilter(stale=True), DealFilter(stale=False)
    assert await store.count_deals(deal_query(stale, NOW)) == 0
    assert await store.count_deals(deal_query(fresh, NOW)) == 1
    later = NOW + timedelta(hours=2)  # nothing was written: only the clock moved
    assert await store.count_deals(deal_query(stale, later)) == 1
    assert await store.count_deals(deal_query(fresh, later)) == 0
    assert index.scans("w1") == 1


async def test_local_writes_are_read_back_without_a_scan() -> None:
    db = MemoryDatabase()
    store, index = indexed(db)
    service = DealService(store, _actor())
    await store.count_deals({})  # load the (empty) workspace
    deal = await service.create({"title": "T", "amount": "10", "companyId": "c1"})
    company = deal_query(DealFilter(company_id="c1"), NOW)
    assert [d["_id"] for d in await store.find_deals(company, [("_id", -1)], 5)] == [deal.id]
    await service.move(deal.id, "qualification")
    pipeline = await service.pipelines.get(None)
    columns = {c.stage.key: c for c in await queries.board(store, pipeline)}
    assert columns["qualification"].count == 1 and columns["prospecting"].count == 0
    assert columns["qualification"].weighted_minor == 250  # 10.00 x 25 %
    await service.update(deal.id, {"companyId": "c2"})
    assert await store.count_deals(company) == 0
    await service.delete(deal.id)
    assert await store.count_deals({}) == 0
    assert index.scans("w1") == 1


async def test_refresh_and_drop_of_writes_made_elsewhere() -> None:
    db = MemoryDatabase()
    store, index = indexed(db)
    assert await store.count_deals({}) == 0
    doc = random_doc(random.Random(2)) | {"deleted_at": None, "company_id": "c7"}
    # Written by "another replica": invisible until its event makes the index re-read it.
    await db.for_workspace("w1").insert_deal(doc, [])
    by_company = {"company_id": "c7"}
    assert await store.count_deals(by_company) == 0
    await index.refresh("w1", [doc["_id"]])
    assert await store.count_deals(by_company) == 1
    apply_update(db.collections["deals"][doc["_id"]], {"$set": {"deleted_at": NOW}})
    await index.refresh("w1", [doc["_id"]])
    assert await store.count_deals(by_company) == 0
    await index.refresh("w1", ["no-such-deal"])  # an unknown id is simply absent
    assert await store.count_deals({}) == 0
    # A deal of another workspace named by an event is not read into this one.
    foreign = random_doc(random.Random(3)) | {"deleted_at": None}
    await db.for_workspace("w2").insert_deal(foreign, [])
    await index.refresh("w1", [foreign["_id"]])
    assert await store.count_deals({}) == 0


async def test_an_entry_that_fell_behind_is_healed_on_fetch() -> None:
    db = MemoryDatabase()
    base = random_doc(random.Random(4)) | {"deleted_at": None, "currency": "USD"}
    small, large = dict(base, _id="a", amount_minor=100), dict(base, _id="b", amount_minor=200)
    for doc in (small, large):
        await db.for_workspace("w1").insert_deal(doc, [])
    store, _ = indexed(db)
    assert await store.count_deals({}) == 2
    # Another replica lowered b below a; its event has not arrived.
    apply_update(db.collections["deals"]["b"], {"$set": {"amount_minor": 50}})
    found = await store.find_deals({}, [("amount_minor", -1), ("_id", -1)], 1)
    assert [d["_id"] for d in found] == ["a"]
    assert await store.count_deals({"amount_minor": {"$lt": 100}}) == 1  # b healed


async def test_writes_during_the_first_scan_and_a_rebuild_are_kept() -> None:
    rng = random.Random(5)
    db = MemoryDatabase()
    docs = [d | {"deleted_at": None} for d in (random_doc(rng) for _ in range(60))]
    for doc in docs:
        await db.for_workspace("w1").insert_deal(doc, [])
    store, index = indexed(db)
    target = docs[-1]["_id"]  # the fake scans in insertion order: read last

    async def write_meanwhile() -> None:
        await asyncio.sleep(0)
        await store.update_deal(target, {}, {"$set": {"owner_id": "during-load"}}, [])

    loaded, _ = await asyncio.gather(
        store.count_deals({"owner_id": "during-load"}), write_meanwhile()
    )
    assert loaded in (0, 1)  # whichever came first; afterwards the write is in
    assert await store.count_deals({"owner_id": "during-load"}) == 1

    first = docs[0]["_id"]  # scanned first, then written during the rebuild

    async def write_during_rebuild() -> None:
        for _ in range(5):
            await asyncio.sleep(0)
        await store.update_deal(first, {}, {"$set": {"owner_id": "during-rebuild"}}, [])

    await asyncio.gather(index.rebuild(), write_during_rebuild())
    assert index.scans("w1") == 2
    assert await store.count_deals({"owner_id": "during-rebuild"}) == 1
    assert await store.count_deals({}) == 60


async def test_unsupported_queries_and_failed_loads_use_the_store() -> None:
    db = MemoryDatabase()
    await seed(db, random.Random(6), 30)
    plain = db.for_workspace("w1")
    store, _ = indexed(db)
    query = {"next_step": None}  # not a field of the index
    assert await store.find_deals(query, [("_id", 1)], None) == await plain.find_deals(
        query, [("_id", 1)], None
    )

    class Broken(MemoryDatabase):
        def for_workspace(self, workspace_id: str) -> Any:
            inner = super().for_workspace(workspace_id)

            async def scan(projection: dict) -> Any:
                raise RuntimeError("database down")
                yield  # pragma: no cover

            inner.scan_deals = scan  # type: ignore[method-assign]
            return inner

    broken = Broken()
    broken.collections = db.collections
    failing = IndexedStoreFactory(broken, deal_index(broken)).for_workspace("w1")
    assert await failing.count_deals({}) == await plain.count_deals({})


async def test_not_live_or_closed_index_serves_nothing() -> None:
    db = MemoryDatabase()
    await seed(db, random.Random(7), 10)
    index = deal_index(db, live=False)
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


def _updated(deal_id: str) -> Any:
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
    db = MemoryDatabase()
    store, index = indexed(db)
    assert await store.count_deals({}) == 0
    doc = random_doc(random.Random(8)) | {"deleted_at": None, "owner_id": "o-feed"}
    await db.for_workspace("w1").insert_deal(doc, [])
    feed = _feed(index)
    event = _updated(doc["_id"])
    for _ in range(3):  # duplicates coalesce into one re-read
        await feed.on_message(_Msg(event.to_json(), {"crm-workspace": "w1"}))  # type: ignore[arg-type]
    await feed.on_message(_Msg(b"not json"))  # type: ignore[arg-type]
    assert feed.received == 3 and not feed.idle
    reads = 0
    original = type(db.for_workspace("w1")).get_deal

    async def counting(self: Any, deal_id: str) -> Any:
        nonlocal reads
        reads += 1
        return await original(self, deal_id)

    type(db.for_workspace("w1")).get_deal = counting  # type: ignore[method-assign]
    try:
        async with _refreshed(feed):
            assert reads == 1
            assert await store.count_deals({"owner_id": "o-feed"}) == 1
    finally:
        type(db.for_workspace("w1")).get_deal = original  # type: ignore[method-assign]
    assert index.closed


async def test_the_feed_skips_the_events_of_this_process_writes() -> None:
    db = MemoryDatabase()
    store, index = indexed(db)
    service = DealService(store, _actor())
    assert await store.count_deals({}) == 0  # loaded
    deal = await service.create({"title": "Own", "amount": "10", "companyId": "c1"})
    await service.move(deal.id, "qualification")
    # The deal's events (the feed's subjects; the default pipeline's creation is not one).
    own = [e for e in db.events() if e.type.startswith("crm.deals.deal.")]
    assert "crm.deals.deal.created.v1" in {e.type for e in own} and len(own) >= 2
    # Written by "another replica" after ours: its event is not skipped.
    elsewhere = await db.for_workspace("w1").update_deal(
        deal.id, {}, {"$set": {"owner_id": "o-elsewhere"}}, []
    )
    assert elsewhere
    other = _updated(deal.id)
    feed = _feed(index)
    for event in [*own, other]:
        await feed.on_message(_Msg(event.to_json(), {"crm-workspace": "w1"}))  # type: ignore[arg-type]
    # The write path's re-reads installed this process's own writes: one re-read is left,
    # for the other replica's write.
    assert feed.received == len(own) + 1 and feed.skipped == len(own)
    assert not feed.idle
    async with _refreshed(feed):
        moved_elsewhere = {"owner_id": "o-elsewhere", "stage_key": "qualification"}
        assert await store.count_deals(moved_elsewhere) == 1
    # A conditional update that did not apply expects nothing (its events were not written).
    failed = _updated(deal.id)
    assert not await store.update_deal(deal.id, {"stage_key": "nope"}, {"$set": {}}, [failed])
    assert not index.expected(failed.id)
