"""The generic read index (`crm_kit.read_index`, `index_entries`, `index_feed`) over a
fake collection: lazy shared loads, read-your-writes refreshes, rebuild generations, writes
during scans, failures, the event feed's coalescing and the safety rebuilds; the index
settings a service reads under its prefix."""

from __future__ import annotations

import asyncio
import tracemalloc
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import orjson
import pytest

from crm_kit import index_feed, periodic, read_index
from crm_kit.index_entries import Entries
from crm_kit.index_feed import IndexFeed, cloud_event_subject, start_feed
from crm_kit.periodic import BACKGROUND_SHARE, paced
from crm_kit.read_index import ReadIndex, warm_up
from crm_kit.settings import IndexSettings, Settings, with_index_env


@dataclass(frozen=True)
class Item:
    id: str
    owner: str | None
    n: int


def item_of(doc: dict[str, Any]) -> Item | None:
    if doc.get("deleted"):
        return None  # the index does not hold deleted documents
    return Item(doc["_id"], doc.get("owner"), doc.get("n", 0))


def posted(item: Item) -> Any:
    return [("owner", (item.owner,))]


class Collection:
    """Documents per workspace, with counters and hooks to race writes against scans."""

    def __init__(self) -> None:
        self.docs: dict[str, dict[str, dict[str, Any]]] = {}
        self.scans = 0
        self.reads = 0
        self.fail_scan = False
        self.during_scan: Any = None  # called (awaited) after the first scanned document
        self.before_read_returns: Any = None
        self.batches: list[list[str]] = []

    def put(self, workspace: str, doc: dict[str, Any]) -> None:
        self.docs.setdefault(workspace, {})[doc["_id"]] = dict(doc)

    async def scan(self, workspace: str) -> AsyncIterator[dict[str, Any]]:
        self.scans += 1
        if self.fail_scan:
            raise RuntimeError("database down")
        for i, doc in enumerate(list(self.docs.get(workspace, {}).values())):
            snapshot = dict(doc)
            await asyncio.sleep(0)
            if i == 0 and self.during_scan is not None:
                hook, self.during_scan = self.during_scan, None
                await hook()
            yield snapshot

    async def scan_all(self) -> AsyncIterator[tuple[str, dict[str, Any]]]:
        """Every workspace's documents in one scan (the shared warm-up and rebuilds)."""
        self.scans += 1
        if self.fail_scan:
            raise RuntimeError("database down")
        placed = [(ws, doc) for ws, docs in self.docs.items() for doc in list(docs.values())]
        for i, (workspace, doc) in enumerate(placed):
            snapshot = dict(doc)
            await asyncio.sleep(0)
            if i == 0 and self.during_scan is not None:
                hook, self.during_scan = self.during_scan, None
                await hook()
            yield workspace, snapshot

    async def read(self, workspace: str, doc_id: str) -> dict[str, Any] | None:
        self.reads += 1
        doc = self.docs.get(workspace, {}).get(doc_id)
        snapshot = dict(doc) if doc is not None else None
        if self.before_read_returns is not None:
            hook, self.before_read_returns = self.before_read_returns, None
            await hook()
        return snapshot

    async def read_many(self, workspace: str, doc_ids: list[str]) -> dict[str, dict[str, Any]]:
        """One query for several ids (absent ones left out)."""
        self.batches.append(list(doc_ids))
        docs = self.docs.get(workspace, {})
        found = {i: dict(docs[i]) for i in doc_ids if i in docs}
        if self.before_read_returns is not None:
            hook, self.before_read_returns = self.before_read_returns, None
            await hook()
        return found


def make_index(coll: Collection, **kwargs: Any) -> ReadIndex[Item, Entries[Item]]:
    return ReadIndex(
        scan=coll.scan,
        read=coll.read,
        entry_of=item_of,
        new_entries=lambda: Entries(posted),
        name="test index",
        **kwargs,
    )


def by_version(incoming: Item, held: Item) -> bool:
    """`older` for the tests' items: `n` plays the version."""
    return incoming.n < held.n


def ids(entries: Entries[Item] | None) -> set[str]:
    assert entries is not None
    return set(entries.entries)


async def test_entries_post_and_unpost_and_narrow() -> None:
    entries: Entries[Item] = Entries(posted)
    entries.put(Item("a", "ann", 1))
    entries.put(Item("b", "bob", 2))
    entries.put(Item("c", "ann", 3))
    assert entries.posting("owner", "ann") == {"a", "c"}
    entries.put(Item("a", "bob", 1))  # moved: unposted from its old value
    assert entries.posting("owner", "ann") == {"c"}
    assert {e.id for e in entries.candidates([("owner", ["bob"])])} == {"a", "b"}
    # The smallest posting union among the constraints wins; none: every entry.
    assert {e.id for e in entries.candidates([("owner", ["bob"]), ("owner", ["ann"])])} == {"c"}
    assert len(entries.candidates([])) == 3
    entries.drop("c")
    entries.drop("zz")  # absent: nothing to do
    assert entries.posting("owner", "ann") == set() and len(entries) == 2
    assert entries._postings["owner"].keys() == {"bob"}  # empty lists are forgotten


async def test_lazy_load_is_shared_and_per_workspace() -> None:
    coll = Collection()
    for i in range(5):
        coll.put("w1", {"_id": f"d{i}", "owner": "ann", "n": i})
    coll.put("w2", {"_id": "x", "owner": "bob"})
    coll.put("w1", {"_id": "gone", "deleted": True})
    index = make_index(coll)
    first, second = await asyncio.gather(index.entries("w1"), index.entries("w1"))
    assert first is second and ids(first) == {f"d{i}" for i in range(5)}
    assert index.scans("w1") == 1 and index.scans("w2") == 0 and coll.scans == 1
    assert index.workspaces == ["w1"]
    assert ids(await index.entries("w2")) == {"x"}
    assert index.loaded("w3") is None and index.scans("w3") == 0


async def test_refresh_puts_drops_and_ignores_unloaded_workspaces() -> None:
    coll = Collection()
    coll.put("w1", {"_id": "a", "owner": "ann"})
    index = make_index(coll)
    await index.refresh("w1", ["a"])  # not loaded: no read at all
    assert coll.reads == 0
    data = await index.entries("w1")
    coll.put("w1", {"_id": "b", "owner": "bob"})
    coll.put("w1", {"_id": "a", "owner": "cy"})
    await index.refresh("w1", ["a", "b", "a"])  # duplicates are read once
    assert coll.reads == 2
    assert data is not None and data.get("a") == Item("a", "cy", 0) and "b" in data.entries
    coll.put("w1", {"_id": "a", "deleted": True})
    del coll.docs["w1"]["b"]
    await index.refresh("w1", ["a", "b"])
    assert ids(data) == set()


async def test_a_re_read_straddling_a_rebuild_reads_again() -> None:
    coll = Collection()
    coll.put("w1", {"_id": "a", "n": 1})
    index = make_index(coll)
    data = await index.entries("w1")
    assert data is not None

    async def rebuild_meanwhile() -> None:
        coll.put("w1", {"_id": "a", "n": 2})
        await index.rebuild()

    coll.before_read_returns = rebuild_meanwhile  # the read saw n=1, then a rebuild swapped
    await index.refresh("w1", ["a"])
    fresh = index.loaded("w1")
    assert fresh is not None and fresh.get("a") == Item("a", None, 2)
    assert index.scans("w1") == 2


async def test_a_refresh_of_several_documents_reads_them_in_batches(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With `read_many`, a refresh of several documents is one query per `READ_BATCH` ids
    (not one look-up each) and puts, drops and forgets as the one-by-one re-reads do."""
    monkeypatch.setattr(read_index, "READ_BATCH", 3)
    coll = Collection()
    for i in range(4):
        coll.put("w1", {"_id": f"d{i}", "owner": "ann", "n": i})
    index = make_index(coll, read_many=coll.read_many)
    data = await index.entries("w1")
    assert data is not None
    coll.put("w1", {"_id": "d0", "owner": "bob", "n": 9})
    coll.put("w1", {"_id": "d1", "deleted": True})
    del coll.docs["w1"]["d2"]
    coll.put("w1", {"_id": "new", "owner": "cy"})
    await index.refresh("w1", ["d0", "d1", "d2", "d0", "new", "absent"])
    assert coll.reads == 0
    assert sorted(map(sorted, coll.batches)) == [["absent", "new"], ["d0", "d1", "d2"]]
    assert ids(data) == {"d0", "d3", "new"}
    assert data.get("d0") == Item("d0", "bob", 9) and data.posting("owner", "bob") == {"d0"}
    await index.refresh("w1", ["d3"])  # one document: one look-up
    assert coll.reads == 1


async def test_a_batch_re_read_holds_its_documents_and_straddles_rebuilds() -> None:
    """A batch re-read holds each document's lock from its read to its install: a re-read
    of one of them started meanwhile installs after it (the newer state stays), and a
    batch that read before a rebuild swapped its scan in reads again."""
    coll = Collection()
    coll.put("w1", {"_id": "a", "n": 1})
    coll.put("w1", {"_id": "b", "n": 1})
    index = make_index(coll, read_many=coll.read_many)
    data = await index.entries("w1")
    assert data is not None
    single: list[asyncio.Task[None]] = []

    async def changed_and_re_read_meanwhile() -> None:
        coll.put("w1", {"_id": "a", "n": 2})
        single.append(asyncio.ensure_future(index.refresh("w1", ["a"])))
        await asyncio.sleep(0.01)  # the single re-read waits for the batch's lock

    coll.before_read_returns = changed_and_re_read_meanwhile
    await index.refresh("w1", ["a", "b"])  # read a at n=1
    await single[0]
    assert data.get("a") == Item("a", None, 2)

    async def rebuild_meanwhile() -> None:
        coll.put("w1", {"_id": "b", "n": 3})
        await index.rebuild()

    coll.before_read_returns = rebuild_meanwhile
    await index.refresh("w1", ["a", "b"])
    fresh = index.loaded("w1")
    assert fresh is not None and fresh.get("b") == Item("b", None, 3)
    assert len(coll.batches) == 3  # the straddling batch read twice


async def test_writes_during_a_scan_keep_their_state_and_are_re_read() -> None:
    coll = Collection()
    for i in range(4):
        coll.put("w1", {"_id": f"d{i}", "n": 0})
    index = make_index(coll)

    async def write_during_first_scan() -> None:
        coll.put("w1", {"_id": "d3", "n": 7})  # not scanned yet either way
        coll.put("w1", {"_id": "d0", "n": 5})  # already yielded with n=0
        await index.refresh("w1", ["d0"])  # the write's own refresh: no data yet

    coll.during_scan = write_during_first_scan
    data = await index.entries("w1")
    assert data is not None and data.get("d0") == Item("d0", None, 5)

    async def write_during_rebuild() -> None:
        coll.put("w1", {"_id": "d1", "n": 9})
        await index.refresh("w1", ["d1"])  # installed in the old data, carried over
        coll.put("w1", {"_id": "new", "n": 1})
        await index.refresh("w1", ["new"])

    coll.during_scan = write_during_rebuild
    await index.rebuild(["w1", "not-loaded"])
    data = index.loaded("w1")
    assert data is not None and index.scans("w1") == 2
    assert data.get("d1") == Item("d1", None, 9) and data.get("new") == Item("new", None, 1)


async def test_failed_loads_not_live_and_closed_serve_nothing(caplog: Any) -> None:
    coll = Collection()
    coll.put("w1", {"_id": "a"})
    coll.fail_scan = True
    index = make_index(coll)
    assert await index.entries("w1") is None
    assert "failed to load" in caplog.text
    await index.rebuild(["w1"])  # a failing rebuild is logged, not raised
    coll.fail_scan = False
    assert ids(await index.entries("w1")) == {"a"}  # the next use tries again

    idle = make_index(coll, live=False)
    assert await idle.entries("w1") is None
    idle.go_live()
    assert await idle.entries("w1") is not None
    idle.close()
    assert await idle.entries("w1") is None and idle.closed


async def test_warm_up_loads_the_listed_workspaces() -> None:
    coll = Collection()
    coll.put("w1", {"_id": "a"})
    coll.put("w2", {"_id": "b"})
    index = make_index(coll)

    async def listed() -> list[str]:
        return ["w1", "w2"]

    await warm_up(index, listed)
    assert sorted(index.workspaces) == ["w1", "w2"]

    async def broken() -> list[str]:
        raise RuntimeError("no database")

    await warm_up(make_index(coll), broken)  # logged; loading happens on first use


async def test_warm_up_with_scan_all_loads_every_workspace_from_one_scan() -> None:
    coll = Collection()
    for ws in ("w1", "w2", "w3"):
        for i in range(4):
            coll.put(ws, {"_id": f"{ws}-{i}", "owner": "ann"})
    coll.put("w2", {"_id": "gone", "deleted": True})
    index = make_index(coll, scan_all=coll.scan_all)
    await warm_up(index)  # no listing needed: the scan meets every workspace
    assert sorted(index.workspaces) == ["w1", "w2", "w3"] and coll.scans == 1
    assert ids(index.loaded("w2")) == {f"w2-{i}" for i in range(4)}
    # A periodic rebuild of the loaded workspaces is one scan too.
    coll.put("w3", {"_id": "w3-new"})
    await index.rebuild()
    assert coll.scans == 2 and "w3-new" in ids(index.loaded("w3"))
    assert index.scans("w1") == 2 and index.shared_scans == 2


@pytest.mark.parametrize("shared", [False, True])
async def test_a_rebuild_reuses_the_held_objects_of_unchanged_entries(shared: bool) -> None:
    """A rebuild's scan (one per workspace, or one for all) installs the held entry
    objects of the documents it finds unchanged instead of equal copies of them, new ones
    for the documents changed behind the index, and none for those gone; the postings,
    the text column carried over and the answers are the database's."""
    coll = Collection()
    for i in range(6):
        coll.put("w1", {"_id": f"a{i}", "owner": "ann", "n": i})
    coll.put("w2", {"_id": "b", "owner": "ann", "n": 1})
    index = make_index(coll, scan_all=coll.scan_all if shared else None)
    if shared:
        await index.load_all()
    else:
        await asyncio.gather(index.entries("w1"), index.entries("w2"))
    held = index.loaded("w1")
    assert held is not None
    column = held.text_column("owner", lambda item: (item.owner or "",))
    before = dict(held.entries)
    coll.put("w1", {"_id": "a1", "owner": "bob", "n": 1})  # behind the index: no event
    del coll.docs["w1"]["a2"]
    coll.put("w1", {"_id": "a9", "owner": "bob", "n": 9})
    await index.rebuild()
    fresh = index.loaded("w1")
    assert fresh is not None and fresh is not held and index.scans("w1") == 2
    assert ids(fresh) == {"a0", "a1", "a3", "a4", "a5", "a9"}
    assert all(fresh.entries[i] is before[i] for i in ("a0", "a3", "a4", "a5"))
    assert fresh.get("a1") == Item("a1", "bob", 1) and fresh.get("a1") is not before["a1"]
    assert fresh.posting("owner", "bob") == {"a1", "a9"}
    assert fresh.posting("owner", "ann") == {"a0", "a3", "a4", "a5"}
    assert fresh.text_column("owner", lambda item: (item.owner or "",)) is column
    assert {e.id for e in column.found("bob", ignore_case=False)} == {"a1", "a9"}
    assert {e.id for e in column.found("ann", ignore_case=False)} == {"a0", "a3", "a4", "a5"}


async def test_a_rebuild_holds_little_beside_the_entries_it_replaces() -> None:
    """The memory a rebuild adds at its peak (its fresh container beside the held one) is
    a small part of the entries' own: unchanged documents are not held twice. Measured
    with tracemalloc over 5,000 entries holding ~350 B each (a scan decodes every string
    anew: equal copies would add ~2 MB)."""
    coll = Collection()
    for i in range(5_000):
        coll.put("w1", {"_id": f"d{i}", "owner": "x" * 300 + str(i % 10), "n": i})

    async def scan_all() -> AsyncIterator[tuple[str, dict[str, Any]]]:
        # As a database does: every scan decodes new strings.
        async for workspace, doc in coll.scan_all():
            yield workspace, {**doc, "owner": (doc["owner"] + " ")[:-1]}

    index = make_index(coll, scan_all=scan_all)
    await index.load_all()
    tracemalloc.start()
    try:
        await index.rebuild()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    entries = index.loaded("w1")
    assert entries is not None and len(entries) == 5_000
    owners = sum(len(item.owner or "") for item in entries.entries.values())
    assert owners > 1_500_000
    assert peak < owners / 2, (peak, owners)


async def test_writes_during_the_shared_scan_are_not_lost() -> None:
    """A document written (and re-read, as the feed does) while the one scan runs, in a
    workspace the scan already passed or not met yet, or in a workspace that is new, is in
    the index once the scan is installed; requests meanwhile wait for the same scan."""
    coll = Collection()
    coll.put("w1", {"_id": "a", "n": 1})
    coll.put("w2", {"_id": "b", "n": 1})
    index = make_index(coll, scan_all=coll.scan_all)
    requests: list[asyncio.Task[Entries[Item] | None]] = []

    async def write_meanwhile() -> None:
        coll.put("w1", {"_id": "a", "n": 2})  # the scan already copied its old state
        coll.put("w2", {"_id": "late", "n": 1})
        coll.put("w9", {"_id": "new", "n": 1})  # a workspace the scan does not meet
        await asyncio.gather(
            index.refresh("w1", ["a"]), index.refresh("w2", ["late"]), index.refresh("w9", ["new"])
        )
        # A request for a workspace not loaded, while the scan runs.
        requests.append(asyncio.ensure_future(index.entries("w9")))
        await asyncio.sleep(0)

    coll.during_scan = write_meanwhile
    await index.load_all()
    served = await requests[0]
    assert coll.scans == 1  # the request waited for the shared scan instead of its own
    w1, w2 = index.loaded("w1"), index.loaded("w2")
    assert w1 is not None and w1.get("a") == Item("a", None, 2)
    assert ids(w2) == {"b", "late"}
    assert ids(index.loaded("w9")) == {"new"} and ids(served) == {"new"}


async def test_a_failed_shared_scan_leaves_loading_to_first_use() -> None:
    coll = Collection()
    coll.put("w1", {"_id": "a"})
    index = make_index(coll, scan_all=coll.scan_all)
    coll.fail_scan = True
    await warm_up(index)  # logged, not raised
    assert index.workspaces == []
    coll.fail_scan = False
    assert ids(await index.entries("w1")) == {"a"}


class _Msg:
    def __init__(self, data: bytes, headers: dict[str, str] | None = None) -> None:
        self.data = data
        self.headers = headers
        self.subject = "crm.test.item.updated.v1"


def _event(workspace: str, subject: str) -> bytes:
    return orjson.dumps({"type": "x", "workspace": workspace, "subject": subject, "data": {}})


async def test_the_feed_coalesces_events_and_re_reads_each_document_once() -> None:
    coll = Collection()
    coll.put("w1", {"_id": "a", "n": 1})
    index = make_index(coll, live=False)
    feed = IndexFeed(index, None, None, subjects=["crm.test.>"], stream="S", rebuild_seconds=60)
    index.go_live()
    assert await index.entries("w1") is not None
    coll.put("w1", {"_id": "a", "n": 2})
    for _ in range(3):
        await feed.on_message(_Msg(_event("w1", "a"), {"crm-workspace": "w1"}))  # type: ignore[arg-type]
    await feed.on_message(_Msg(b"not json"))  # type: ignore[arg-type]
    await feed.on_message(_Msg(b"[1]"))  # type: ignore[arg-type]
    await feed.on_message(_Msg(orjson.dumps({"workspace": "w1"})))  # type: ignore[arg-type]
    assert feed.received == 5 and not feed.idle
    runner = asyncio.ensure_future(feed.run_refresher())
    try:
        for _ in range(100):
            await asyncio.sleep(0)
            if feed.idle:
                break
        assert feed.idle and coll.reads == 1
        data = index.loaded("w1")
        assert data is not None and data.get("a") == Item("a", None, 2)
    finally:
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)
        await feed.stop()
    assert index.closed


def test_locating_a_cloud_event() -> None:
    assert cloud_event_subject({"subject": "t1"}, {"crm-workspace": "w1"}) == ("w1", "t1")
    assert cloud_event_subject({"subject": "t1", "workspace": "w2"}, {}) == ("w2", "t1")
    assert cloud_event_subject({"workspace": "w2"}, {}) is None


class _FakeNats:
    def __init__(self) -> None:
        self.stats = {"reconnects": 0}
        self.is_connected = True


async def test_safety_rebuilds_periodically_and_after_a_reconnect(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(index_feed, "TICK_SECONDS", 0.01)
    coll = Collection()
    coll.put("w1", {"_id": "a"})
    index = make_index(coll)
    await index.entries("w1")
    nc = _FakeNats()
    feed = IndexFeed(index, nc, None, subjects=[], stream="S", rebuild_seconds=3600)  # type: ignore[arg-type]
    loop = asyncio.ensure_future(feed.run_safety())
    try:
        await asyncio.sleep(0.05)
        assert feed.rebuilds == 0  # not due yet
        nc.stats["reconnects"] = 1
        nc.is_connected = False
        await asyncio.sleep(0.05)
        assert feed.rebuilds == 0  # waits for the connection to be back
        nc.is_connected = True
        for _ in range(100):
            await asyncio.sleep(0.01)
            if feed.rebuilds:
                break
        assert feed.rebuilds == 1 and index.scans("w1") == 2
    finally:
        loop.cancel()
        await asyncio.gather(loop, return_exceptions=True)

    periodic = IndexFeed(index, nc, None, subjects=[], stream="S", rebuild_seconds=0.02)  # type: ignore[arg-type]
    loop = asyncio.ensure_future(periodic.run_safety())
    try:
        for _ in range(200):
            await asyncio.sleep(0.01)
            if periodic.rebuilds >= 2:
                break
        assert periodic.rebuilds >= 2
    finally:
        loop.cancel()
        await asyncio.gather(loop, return_exceptions=True)


def test_a_slow_background_scan_waits_in_proportion_to_its_length() -> None:
    assert paced(300.0, 2.0) == 300.0  # a quick pass keeps the period
    assert paced(300.0, 60.0) == pytest.approx(60.0 / BACKGROUND_SHARE)  # 1,200 s
    assert paced(300.0, 60.0, share=0.5) == 300.0
    assert paced(300.0, 600.0, share=0.5) == 1200.0
    assert paced(300.0, 60.0, share=0.0) == 300.0  # no share: the period alone


async def test_a_slow_safety_rebuild_puts_the_next_one_off(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(index_feed, "TICK_SECONDS", 0.01)
    # 1/1000: a rebuild that took at least 20 ms waits at least 20 s for the next.
    monkeypatch.setattr(periodic, "BACKGROUND_SHARE", 0.001)
    coll = Collection()
    coll.put("w1", {"_id": "a"})
    coll.put("w1", {"_id": "b"})
    index = make_index(coll)
    await index.entries("w1")

    async def slow_scan() -> None:
        await asyncio.sleep(0.02)

    coll.during_scan = slow_scan
    feed = IndexFeed(index, _FakeNats(), None, subjects=[], stream="S", rebuild_seconds=0.01)  # type: ignore[arg-type]
    loop = asyncio.ensure_future(feed.run_safety())
    try:
        for _ in range(500):
            await asyncio.sleep(0.01)
            if feed.rebuilds:
                break
        assert feed.rebuilds == 1 and feed.rebuild_took >= 0.02
        assert feed.rebuild_pause == pytest.approx(feed.rebuild_took / 0.001)
        assert feed.rebuild_pause >= 20.0
        # Ten of the 10 ms periods later the next rebuild is still not due.
        for _ in range(10):
            await asyncio.sleep(0.01)
        assert feed.rebuilds == 1 and index.scans("w1") == 2
    finally:
        loop.cancel()
        await asyncio.gather(loop, return_exceptions=True)


async def test_known_records_install_without_a_read_and_never_regress() -> None:
    coll = Collection()
    coll.put("w1", {"_id": "a", "n": 1})
    index = make_index(coll, older=by_version)
    data = await index.entries("w1")
    assert data is not None
    coll.put("w1", {"_id": "a", "n": 3})
    await index.refresh("w1", ["a"], known={"a": {"_id": "a", "n": 3}})
    assert coll.reads == 0 and data.get("a") == Item("a", None, 3)
    # A write's result that arrives after a newer state was installed is ignored.
    await index.refresh("w1", ["a"], known={"a": {"_id": "a", "n": 2}})
    assert data.get("a") == Item("a", None, 3)
    # Without `older`, `known` is ignored: the document is read.
    plain = make_index(coll)
    await plain.entries("w1")
    await plain.refresh("w1", ["a"], known={"a": {"_id": "a", "n": 99}})
    assert coll.reads == 1 and plain.loaded("w1").get("a") == Item("a", None, 3)  # type: ignore[union-attr]


async def test_install_takes_a_batch_at_once_and_leaves_busy_documents_to_refresh() -> None:
    """`install` (an import batch's records as inserted): no read, no regression, and a
    document whose refresh is under way (its lock held) is left for `refresh`."""
    coll = Collection()
    coll.put("w1", {"_id": "a", "n": 1})
    index = make_index(coll, older=by_version)
    data = await index.entries("w1")
    assert data is not None
    left = index.install("w1", {"a": {"_id": "a", "n": 3}, "b": {"_id": "b", "n": 1}})
    assert left == [] and coll.reads == 0
    assert data.get("a") == Item("a", None, 3) and data.get("b") == Item("b", None, 1)
    assert index.install("w1", {"a": {"_id": "a", "n": 2}}) == []
    assert data.get("a") == Item("a", None, 3)  # an older state never replaces a newer
    # A refresh of `a` is reading it (lock held) when a write's result arrives.
    coll.put("w1", {"_id": "a", "n": 4})
    seen: list[list[str]] = []

    async def meanwhile() -> None:
        seen.append(index.install("w1", {"a": {"_id": "a", "n": 5}}))

    coll.before_read_returns = meanwhile
    await index.refresh("w1", ["a"])
    assert seen == [["a"]] and data.get("a") == Item("a", None, 4)
    await index.refresh("w1", seen[0], known={"a": {"_id": "a", "n": 5}})
    assert data.get("a") == Item("a", None, 5)
    # Not loaded: nothing to install; without `older`: everything is left to `refresh`.
    assert index.install("w2", {"c": {"_id": "c", "n": 1}}) == []
    assert index.loaded("w2") is None
    assert make_index(coll).install("w1", {"a": {"_id": "a", "n": 9}}) == ["a"]


async def test_the_feed_skips_events_whose_state_is_installed() -> None:
    coll = Collection()
    coll.put("w1", {"_id": "a", "n": 1})
    index = make_index(coll)
    await index.entries("w1")
    feed = IndexFeed(index, None, None, subjects=[], stream="S", rebuild_seconds=60)
    index.expect_events(["e1"])
    mine = orjson.dumps({"id": "e1", "workspace": "w1", "subject": "a"})
    theirs = orjson.dumps({"id": "e2", "workspace": "w1", "subject": "a"})
    await feed.on_message(_Msg(mine))  # type: ignore[arg-type]
    assert feed.idle and feed.skipped == 1
    await feed.on_message(_Msg(mine))  # forgotten once seen: a re-read this time
    await feed.on_message(_Msg(theirs))  # type: ignore[arg-type]
    assert not feed.idle and feed.skipped == 1 and feed.received == 3


async def test_the_feed_knows_its_own_events_by_their_message_id() -> None:
    """The relay sends an event with its id as `Nats-Msg-Id`: one this process installed
    is skipped without its body being read (here a body that would not parse)."""
    coll = Collection()
    coll.put("w1", {"_id": "a", "n": 1})
    index = make_index(coll)
    await index.entries("w1")
    feed = IndexFeed(index, None, None, subjects=[], stream="S", rebuild_seconds=60)
    index.expect_events(["e1"])
    await feed.on_message(_Msg(b"not json", {"Nats-Msg-Id": "e1"}))  # type: ignore[arg-type]
    assert feed.idle and feed.skipped == 1 and feed.received == 1
    # Another process's event (an id not expected) is read and its document re-read.
    theirs = orjson.dumps({"id": "e2", "workspace": "w1", "subject": "a"})
    await feed.on_message(_Msg(theirs, {"Nats-Msg-Id": "e2"}))  # type: ignore[arg-type]
    assert not feed.idle and feed.skipped == 1 and feed.received == 2


@pytest.mark.parametrize(
    ("extra", "enabled", "rebuild"),
    [
        ({}, True, 300.0),
        ({"SVC_INDEX": "off"}, False, 300.0),
        ({"SVC_INDEX": " No "}, False, 300.0),
        ({"SVC_INDEX": "on", "SVC_INDEX_REBUILD_SECONDS": "42"}, True, 42.0),
        ({"SVC_INDEX_REBUILD_SECONDS": "0.01"}, True, 1.0),  # at least a second
        ({"OTHER_INDEX": "off", "OTHER_INDEX_REBUILD_SECONDS": "5"}, True, 300.0),
    ],
)
def test_index_settings_are_read_under_the_service_prefix(
    extra: dict[str, str], enabled: bool, rebuild: float
) -> None:
    found = IndexSettings.of(Settings(service="svc", extra=extra), "SVC")
    assert found == IndexSettings(enabled=enabled, rebuild_seconds=rebuild)


def test_index_env_is_copied_into_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SVC_INDEX", "off")
    monkeypatch.setenv("SVC_INDEX_REBUILD_SECONDS", "")  # empty: not set
    monkeypatch.setenv("OTHER_INDEX", "off")
    settings = with_index_env(Settings(service="svc", extra={"KEEP": "1"}), "SVC")
    assert settings.extra == {"KEEP": "1", "SVC_INDEX": "off"}
    assert not IndexSettings.of(settings, "SVC").enabled


class _FakeJetStream:
    def __init__(self, index: ReadIndex[Any, Any]) -> None:
        self.index = index
        self.subscribed: list[tuple[str, str, bool]] = []

    async def subscribe(self, subject: str, *, stream: str, **_: Any) -> Any:
        self.subscribed.append((subject, stream, self.index.live))
        return self


class _FakeRuntime:
    def __init__(self, js: _FakeJetStream) -> None:
        self.nc = _FakeNats()
        self.js = js
        self.spawned: dict[str, asyncio.Task[None]] = {}

    def spawn(self, coro: Any, name: str) -> None:
        self.spawned[name] = asyncio.ensure_future(coro)


async def test_start_feed_subscribes_before_going_live_and_spawns_the_index_jobs() -> None:
    coll = Collection()
    coll.put("w1", {"_id": "a"})
    coll.put("w2", {"_id": "b"})
    index = make_index(coll, live=False)
    js = _FakeJetStream(index)
    runtime = _FakeRuntime(js)

    async def workspaces() -> list[str]:
        return ["w1", "w2"]

    feed = await start_feed(
        runtime,  # type: ignore[arg-type]
        index,
        subjects=["crm.test.item.>"],
        stream="TEST",
        rebuild_seconds=3600,
        list_workspaces=workspaces,
        name="test-index",
    )
    try:
        assert js.subscribed == [("crm.test.item.>", "TEST", False)]  # not live yet then
        assert index.live and feed.index is index
        assert set(runtime.spawned) == {
            "test-index-refresher",
            "test-index-rebuild",
            "test-index-warm-up",
        }
        await runtime.spawned["test-index-warm-up"]
        assert sorted(index.workspaces) == ["w1", "w2"] and coll.scans == 2
    finally:
        for task in runtime.spawned.values():
            task.cancel()
        await asyncio.gather(*runtime.spawned.values(), return_exceptions=True)
        await feed.stop()
