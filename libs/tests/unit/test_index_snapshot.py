"""Persisted index snapshots (`crm_kit.index_snapshot`) and a read index started from one
(`ReadIndex.load_all` with snapshots on), over in-memory collections: the entries and the
log slot come back as saved; changes since the slot are replayed; a snapshot of another
entry key or format, a corrupt or missing chunk, a forbidden global, or a log pruned past
the slot all fall back to the scan."""

from __future__ import annotations

import asyncio
import pickle
import zlib
from array import array
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from bson import ObjectId
from bson.binary import Binary
from bson.tz_util import utc

from crm_kit import index_feed, index_snapshot
from crm_kit.change_log import ChangeLog
from crm_kit.index_entries import Entries
from crm_kit.index_feed import IndexFeed
from crm_kit.index_snapshot import IndexSnapshots, dataclass_codec
from crm_kit.read_index import ReadIndex

from .test_change_log import MemorySlots


@dataclass(slots=True, eq=True)
class Row:
    id: str
    stage: str | None
    at: datetime | None
    tags: tuple[str, ...]
    times: array[int]


CODEC = dataclass_codec(Row)


class MemoryDocs:
    """`_id` look-ups, inserts, replacements and deletes of whole documents."""

    def __init__(self) -> None:
        self.docs: dict[str, dict[str, Any]] = {}
        self.finds = 0

    async def find_one(self, filter: Mapping[str, Any]) -> dict[str, Any] | None:
        await asyncio.sleep(0)
        self.finds += 1
        return self.docs.get(filter["_id"])

    async def insert_one(self, document: dict[str, Any]) -> None:
        await asyncio.sleep(0)
        assert document["_id"] not in self.docs
        self.docs[document["_id"]] = dict(document)

    async def replace_one(
        self, filter: Mapping[str, Any], replacement: Mapping[str, Any], upsert: bool = False
    ) -> None:
        await asyncio.sleep(0)
        self.docs[filter["_id"]] = dict(replacement)

    async def delete_one(self, filter: Mapping[str, Any]) -> None:
        await asyncio.sleep(0)
        self.docs.pop(filter["_id"], None)


def rows(n: int, prefix: str = "r") -> list[Row]:
    at = datetime(2026, 12, 6, 12, 0, tzinfo=utc)
    return [
        Row(f"{prefix}{i}", "won" if i % 2 else None, at, ("a", "b"), array("q", [i, i + 1]))
        for i in range(n)
    ]


async def test_a_snapshot_comes_back_as_saved_in_chunks_and_replaces_the_last(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(index_snapshot, "CHUNK_ENTRIES", 7)
    docs = MemoryDocs()
    snapshots = IndexSnapshots(docs)
    first = await snapshots.save("idx", CODEC, 5, {"w": rows(3)})
    saved = await snapshots.save("idx", CODEC, 9, {"w": rows(10), "v": rows(6, "v"), "e": []})
    assert saved.chunks == 3 and saved.entries == 16  # 16 entries, 7 a chunk
    # Only the newest snapshot's chunks and its head remain.
    assert sorted(docs.docs) == sorted(["idx", *(f"idx#{saved.snapshot_id}#{n}" for n in range(3))])
    assert first.snapshot_id != saved.snapshot_id
    loaded = await snapshots.load("idx", CODEC)
    assert loaded is not None and loaded.cursor == 9
    assert loaded.workspaces == {"w": rows(10), "v": rows(6, "v"), "e": []}


async def test_unusable_snapshots_are_refused(caplog: Any) -> None:
    docs = MemoryDocs()
    snapshots = IndexSnapshots(docs)
    assert await snapshots.load("idx", CODEC) is None  # none yet
    saved = await snapshots.save("idx", CODEC, 3, {"w": rows(4)})
    other = dataclass_codec(Row, version=2)
    assert await snapshots.load("idx", other) is None
    docs.docs["idx"]["format"] = index_snapshot.FORMAT + 1
    assert await snapshots.load("idx", CODEC) is None
    docs.docs["idx"]["format"] = index_snapshot.FORMAT
    chunk = docs.docs[f"idx#{saved.snapshot_id}#0"]
    good = chunk["z"]
    chunk["z"] = Binary(bytes(good)[:-3] + b"xyz")
    assert await snapshots.load("idx", CODEC) is None
    chunk["z"] = good
    assert await snapshots.load("idx", CODEC) is not None
    del docs.docs[f"idx#{saved.snapshot_id}#0"]
    assert await snapshots.load("idx", CODEC) is None
    assert "not used" in caplog.text or "kept changing" in caplog.text


async def test_a_snapshot_naming_a_forbidden_global_is_not_unpickled() -> None:
    docs = MemoryDocs()
    snapshots = IndexSnapshots(docs)
    saved = await snapshots.save("idx", CODEC, 3, {"w": rows(1)})
    # A chunk that would call a function when unpickled, with a digest that matches.
    evil = zlib.compress(pickle.dumps([("w", [(print, ("pwned",))])]), 1)
    import hashlib

    docs.docs[f"idx#{saved.snapshot_id}#0"]["z"] = Binary(evil)
    docs.docs["idx"]["digests"] = [hashlib.sha256(evil).hexdigest()]
    assert await snapshots.load("idx", CODEC) is None


async def test_stored_value_types_round_trip() -> None:
    docs = MemoryDocs()
    snapshots = IndexSnapshots(docs)
    codec = index_snapshot.SnapshotCodec(key="raw", pack=lambda e: e, unpack=lambda p: p)
    values = [
        (ObjectId(), datetime.now(UTC), datetime.now(utc), datetime(2026, 1, 1).date()),
        ({"nested": [1, 2.5, None, True]}, b"bytes", array("q", [1])),
    ]
    await snapshots.save("raw", codec, 1, {"w": values})
    loaded = await snapshots.load("raw", codec)
    assert loaded is not None and loaded.workspaces["w"] == values


# -- a read index started from a snapshot -------------------------------------------


class Coll:
    """Documents by workspace, with a change log every write journals (as the writer's
    hooks do), counting scans and reads."""

    def __init__(self, slots: MemorySlots) -> None:
        self.docs: dict[str, dict[str, dict[str, Any]]] = {}
        self.log = ChangeLog(slots)
        self.scans = 0
        self.reads = 0

    async def write(self, workspace: str, doc_id: str, stage: str | None, note: str = "") -> None:
        """`note`: a field the entries do not hold (only whole records show it)."""
        if stage is None:
            self.docs.get(workspace, {}).pop(doc_id, None)
        else:
            doc = {"_id": doc_id, "stage": stage, "note": note}
            self.docs.setdefault(workspace, {})[doc_id] = doc
        await self.log.append(workspace, doc_id)

    async def scan(self, workspace: str) -> Any:
        self.scans += 1
        for doc in list(self.docs.get(workspace, {}).values()):
            yield dict(doc)

    async def scan_all(self) -> Any:
        self.scans += 1
        for workspace, docs in list(self.docs.items()):
            for doc in list(docs.values()):
                await asyncio.sleep(0)
                yield workspace, dict(doc)

    async def read(self, workspace: str, doc_id: str) -> dict[str, Any] | None:
        self.reads += 1
        await asyncio.sleep(0)
        doc = self.docs.get(workspace, {}).get(doc_id)
        return dict(doc) if doc else None


@dataclass(frozen=True, slots=True)
class Stage:
    id: str
    stage: str


def stage_index(coll: Coll, slots: MemorySlots, snapshots: IndexSnapshots, **options: Any) -> Any:
    index: ReadIndex[Stage, Entries[Stage]] = ReadIndex(
        scan=coll.scan,
        scan_all=coll.scan_all,
        read=coll.read,
        entry_of=lambda doc: Stage(doc["_id"], doc["stage"]),
        new_entries=Entries,
        changes=ChangeLog(slots),
        snapshot_codec=dataclass_codec(Stage),
        name="stage index",
        **options,
    )
    assert index.use_snapshots(snapshots)
    return index


async def stages(index: Any, workspace: str) -> dict[str, str]:
    entries = await index.entries(workspace)
    assert entries is not None
    return {entry.id: entry.stage for entry in entries.entries.values()}


async def test_an_index_starts_from_its_snapshot_and_replays_the_log_since(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("crm_kit.read_index.SNAPSHOT_SETTLE_SECONDS", 0.0)
    slots, docs = MemorySlots(), MemoryDocs()
    snapshots = IndexSnapshots(docs)
    coll = Coll(slots)
    for n in range(20):
        await coll.write("w", f"d{n}", "a")
    for n in range(5):
        await coll.write("v", f"e{n}", "b")
    first = stage_index(coll, slots, snapshots)
    await first.load_all()
    assert coll.scans == 1 and first.complete
    saved = await first.save_snapshot()
    assert saved is not None and saved.entries == 25
    # While no index runs: an update, a delete, an insert, a new workspace.
    await coll.write("w", "d3", "won")
    await coll.write("w", "d4", None)
    await coll.write("w", "d99", "new")
    await coll.write("x", "f1", "c")
    coll.reads = 0
    second = stage_index(coll, slots, snapshots)
    await second.load_all()
    assert coll.scans == 1  # no scan: the snapshot and re-reads by `_id`
    # Four re-reads by `_id`, the new workspace's document among them.
    assert coll.reads == 4 and second.restored_from == saved.snapshot_id
    w = await stages(second, "w")
    assert w["d3"] == "won" and "d4" not in w and w["d99"] == "new" and len(w) == 20
    assert await stages(second, "v") == {f"e{n}": "b" for n in range(5)}
    # A workspace the snapshot does not hold came from the log; an unknown one is empty.
    assert await stages(second, "x") == {"f1": "c"}
    assert await stages(second, "nobody") == {}
    assert coll.scans == 1


async def test_a_pruned_log_or_an_unusable_snapshot_falls_back_to_the_scan(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("crm_kit.read_index.SNAPSHOT_SETTLE_SECONDS", 0.0)
    slots, docs = MemorySlots(), MemoryDocs()
    snapshots = IndexSnapshots(docs)
    coll = Coll(slots)
    for n in range(10):
        await coll.write("w", f"d{n}", "a")
    first = stage_index(coll, slots, snapshots)
    await first.load_all()
    assert await first.save_snapshot() is not None
    # More changes than a live reader catches up with (the log's CATCH_UP_LIMIT): a
    # restore replays them in rounds, without a scan.
    for n in range(2100):
        await coll.write("w", f"d{n % 50}", f"s{n}")
    scans = coll.scans
    replayed = stage_index(coll, slots, snapshots)
    await replayed.load_all()
    assert coll.scans == scans and replayed.restored_from is not None
    assert replayed.restored_slot is None  # changed since: its own snapshot is due
    assert await stages(replayed, "w") == {f"d{n}": f"s{2050 + n}" for n in range(50)}
    # More than its rounds hold: as a pruned log, the reader is told to rebuild.
    monkeypatch.setattr("crm_kit.read_index.REPLAY_ROUNDS", 1)
    second = stage_index(coll, slots, snapshots)
    await second.load_all()
    assert coll.scans == scans + 1  # restored, then rebuilt from a scan
    assert second.restored_slot is None  # its entries are the scan's, not the snapshot's
    assert await stages(second, "w") == {f"d{n}": f"s{2050 + n}" for n in range(50)}
    # A corrupt snapshot: the warm-up scans.
    saved = await second.save_snapshot()
    assert saved is not None
    docs.docs[f"stage index#{saved.snapshot_id}#0"]["z"] = Binary(b"garbage")
    third = stage_index(coll, slots, snapshots)
    await third.load_all()
    assert coll.scans == scans + 2 and third.restored_from is None
    assert await stages(third, "w") == await stages(second, "w")


async def test_requests_during_the_restore_wait_for_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("crm_kit.read_index.SNAPSHOT_SETTLE_SECONDS", 0.0)
    slots, docs = MemorySlots(), MemoryDocs()
    snapshots = IndexSnapshots(docs)
    coll = Coll(slots)
    for n in range(30):
        await coll.write("w", f"d{n}", "a")
    first = stage_index(coll, slots, snapshots)
    await first.load_all()
    await first.save_snapshot()
    await coll.write("w", "d1", "b")
    second = stage_index(coll, slots, snapshots)
    warm = asyncio.ensure_future(second.load_all())
    await asyncio.sleep(0)
    early = await stages(second, "w")  # asked while the snapshot is being read
    await warm
    assert early["d1"] == "b" and len(early) == 30
    assert coll.scans == 1


class _Nats:
    stats = {"reconnects": 0}
    is_connected = True


async def test_the_feed_writes_snapshots_periodically_while_the_log_moves_and_at_stop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("crm_kit.read_index.SNAPSHOT_SETTLE_SECONDS", 0.0)
    monkeypatch.setattr("crm_kit.read_index.STOP_SETTLE_SECONDS", 0.0)
    monkeypatch.setattr(index_feed, "TICK_SECONDS", 0.01)
    slots, docs = MemorySlots(), MemoryDocs()
    snapshots = IndexSnapshots(docs)
    coll = Coll(slots)
    await coll.write("w", "d1", "a")
    index = stage_index(coll, slots, snapshots)
    await index.load_all()
    feed = IndexFeed(
        index, _Nats(), None, subjects=[], stream="S", rebuild_seconds=3600, snapshot_seconds=0.02
    )  # type: ignore[arg-type]
    loop = asyncio.ensure_future(feed.run_safety())
    try:
        for _ in range(200):
            await asyncio.sleep(0.01)
            if feed.snapshots:
                break
        assert feed.snapshots == 1
        await asyncio.sleep(0.1)
        assert feed.snapshots == 1  # nothing changed: not written again
        await coll.write("w", "d2", "b")  # another replica's write
        for _ in range(200):
            await asyncio.sleep(0.01)
            if feed.snapshots == 2:
                break
        assert feed.snapshots == 2
    finally:
        loop.cancel()
        await asyncio.gather(loop, return_exceptions=True)
    await coll.write("w", "d3", "c")
    await feed.stop()  # a clean shutdown writes the last one
    assert feed.snapshots == 3 and index.closed
    loaded = await snapshots.load("stage index", dataclass_codec(Stage))
    assert loaded is not None
    assert sorted(e.id for e in loaded.workspaces["w"]) == ["d1", "d2", "d3"]

    # The next start restores that snapshot, nothing changed since: not written again
    # (the same entries), until the log moves; then the newest state is.
    restarted = stage_index(coll, slots, snapshots)
    await restarted.load_all()
    assert restarted.restored_from == loaded.snapshot_id
    again = IndexFeed(
        restarted, _Nats(), None, subjects=[], stream="S", rebuild_seconds=3600,
        snapshot_seconds=0.02,
    )  # type: ignore[arg-type]  # fmt: skip
    assert not await again.snapshot() and again.snapshots == 0
    await coll.write("w", "d1", "moved")
    assert await again.snapshot() and again.snapshots == 1
    newest = await snapshots.load("stage index", dataclass_codec(Stage))
    assert newest is not None and newest.snapshot_id != loaded.snapshot_id
    assert {e.id: e.stage for e in newest.workspaces["w"]} == {"d1": "moved", "d2": "b", "d3": "c"}
    # A start whose replay re-read changes writes its own snapshot at the first chance.
    await coll.write("w", "d2", "moved")
    replayed = stage_index(coll, slots, snapshots)
    await replayed.load_all()
    assert replayed.restored_slot is None
    third = IndexFeed(
        replayed, _Nats(), None, subjects=[], stream="S", rebuild_seconds=3600,
        snapshot_seconds=0.02,
    )  # type: ignore[arg-type]  # fmt: skip
    assert await third.snapshot()


# -- an index holding every record from the start (`hold_all`) -----------------------


async def held_records(index: Any, workspace: str) -> dict[str, Any]:
    """Every record the index serves for the workspace's entries, after a request's sync."""
    entries = await index.entries(workspace)
    assert entries is not None
    return await index.records(workspace, list(entries.entries))


async def test_an_index_holding_every_record_serves_them_after_a_scan_a_rebuild_and_a_restore(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("crm_kit.read_index.SNAPSHOT_SETTLE_SECONDS", 0.0)
    slots, docs = MemorySlots(), MemoryDocs()
    snapshots = IndexSnapshots(docs)
    coll = Coll(slots)
    for n in range(30):
        await coll.write("w", f"d{n}", "a", note=f"first {n}")
    for n in range(5):
        await coll.write("v", f"e{n}", "b", note="v")
    first = stage_index(coll, slots, snapshots, hold_all=True)
    await first.load_all()
    # The scan's records, held with the entries made from them: none read by `_id`.
    assert await held_records(first, "w") == coll.docs["w"]
    assert await held_records(first, "v") == coll.docs["v"] and coll.reads == 0
    # A change the entry does not show (only the record does): re-read from the log.
    await coll.write("w", "d3", "a", note="changed")
    assert (await held_records(first, "w"))["d3"]["note"] == "changed" and coll.reads == 1
    # A rebuild holds its scan's records in place of those it drops.
    await coll.write("w", "d4", "a", note="behind the log")
    coll.docs["w"]["d5"]["note"] = "written around the log"  # only a scan sees it
    await first.rebuild()
    assert coll.scans == 2
    assert await held_records(first, "w") == coll.docs["w"] and coll.reads == 2
    saved = await first.save_snapshot()
    assert saved is not None and saved.entries == 35
    # While no index runs: a change of a record's unheld field, a delete, an insert.
    await coll.write("w", "d6", "a", note="while stopped")
    await coll.write("w", "d7", None)
    await coll.write("w", "d99", "new", note="inserted")
    coll.reads = 0
    second = stage_index(coll, slots, snapshots, hold_all=True)
    await second.load_all()
    assert coll.scans == 2 and second.restored_from == saved.snapshot_id
    # The snapshot's records and the three re-read from the log, nothing else read.
    assert await held_records(second, "w") == coll.docs["w"]
    assert await held_records(second, "v") == coll.docs["v"] and coll.reads == 3
    entries = await second.entries("w")
    assert {e.id: e.stage for e in entries.entries.values()} == {
        i: doc["stage"] for i, doc in coll.docs["w"].items()
    }


async def test_snapshots_with_and_without_records_are_not_taken_for_each_other(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("crm_kit.read_index.SNAPSHOT_SETTLE_SECONDS", 0.0)
    slots, docs = MemorySlots(), MemoryDocs()
    snapshots = IndexSnapshots(docs)
    coll = Coll(slots)
    for n in range(10):
        await coll.write("w", f"d{n}", "a", note=str(n))
    plain = stage_index(coll, slots, snapshots)
    await plain.load_all()
    assert await plain.save_snapshot() is not None
    held = stage_index(coll, slots, snapshots, hold_all=True)
    await held.load_all()
    # Entries alone hold no record: scanned, and every record held without a read.
    assert coll.scans == 2 and held.restored_from is None
    assert await held_records(held, "w") == coll.docs["w"] and coll.reads == 0
    assert await held.save_snapshot() is not None
    again = stage_index(coll, slots, snapshots)
    await again.load_all()
    assert coll.scans == 3 and again.restored_from is None


async def paged_records(index: Any, workspace: str, size: int) -> dict[str, Any]:
    """`held_records`, asked a page of `size` ids at a time (as lists do)."""
    entries = await index.entries(workspace)
    assert entries is not None
    ids = sorted(entries.entries)
    found: dict[str, Any] = {}
    for at in range(0, len(ids), size):
        found.update(await index.records(workspace, ids[at : at + size]))
    return found


async def test_held_records_stay_within_the_limit_and_the_rest_are_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("crm_kit.read_index.SNAPSHOT_SETTLE_SECONDS", 0.0)
    slots, docs = MemorySlots(), MemoryDocs()
    snapshots = IndexSnapshots(docs)
    coll = Coll(slots)
    for n in range(30):
        await coll.write("w", f"d{n}", "a", note=str(n))
    first = stage_index(coll, slots, snapshots, hold_all=True, records_limit=10)
    await first.load_all()
    assert sum(first.holds_record("w", f"d{n}") for n in range(30)) == 10
    assert await paged_records(first, "w", 5) == coll.docs["w"] and 0 < coll.reads <= 30
    assert await first.save_snapshot() is not None
    coll.reads = 0
    second = stage_index(coll, slots, snapshots, hold_all=True, records_limit=10)
    await second.load_all()
    assert second.restored_from is not None
    assert sum(second.holds_record("w", f"d{n}") for n in range(30)) == 10
    assert await paged_records(second, "w", 5) == coll.docs["w"] and 0 < coll.reads <= 30


async def test_a_record_written_during_a_rebuild_is_held_as_its_entry_is(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    slots = MemorySlots()
    coll = Coll(slots)
    for n in range(20):
        await coll.write("w", f"d{n}", "a", note="old")
    index = stage_index(coll, slots, IndexSnapshots(MemoryDocs()), hold_all=True)
    await index.load_all()
    scanning = asyncio.ensure_future(index.rebuild())
    for _ in range(5):
        await asyncio.sleep(0)  # the scan has read some documents, not all
    await coll.write("w", "d1", "b", note="during the scan")
    await coll.write("w", "d19", None)
    await index.refresh("w", ["d1", "d19"])  # this process's write hooks
    await scanning
    entries = await index.entries("w")
    assert entries is not None and entries.get("d1") == Stage("d1", "b")
    assert "d19" not in entries.entries
    assert await held_records(index, "w") == coll.docs["w"]
