"""The change log (`crm_kit.change_log`) over an in-memory slot collection that yields
between its steps, so concurrent writers (replicas) interleave as on a real database."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pytest
from pymongo.errors import BulkWriteError, DuplicateKeyError

from crm_kit.change_log import Change, ChangeLog, Overflow, appends_together, journal_writes
from crm_kit.index_entries import Entries
from crm_kit.read_index import ReadIndex
from crm_kit.writer import WriteHooks, Written


class MemorySlots:
    """`_id` look-ups, unique inserts, `$max` upserts and deletes, one step at a time."""

    def __init__(self) -> None:
        self.docs: dict[str, dict[str, Any]] = {}
        self.finds = 0
        self.inserts = 0
        self.updates = 0
        self.fail_inserts = 0  # the next this many insert statements fail (an outage)

    def _failing(self) -> None:
        self.inserts += 1
        if self.fail_inserts:
            self.fail_inserts -= 1
            raise ConnectionError("database unreachable")

    async def insert_one(self, document: dict[str, Any]) -> None:
        await asyncio.sleep(0)
        self._failing()
        if document["_id"] in self.docs:
            raise DuplicateKeyError("duplicate _id")
        self.docs[document["_id"]] = dict(document)

    async def insert_many(self, documents: list[dict[str, Any]], ordered: bool = True) -> None:
        """One statement: the documents whose `_id` is free are inserted at once (as an
        unordered insert does), the others refused."""
        await asyncio.sleep(0)
        self._failing()
        assert not ordered
        refused = [n for n, doc in enumerate(documents) if doc["_id"] in self.docs]
        for n, doc in enumerate(documents):
            if n not in refused:
                self.docs[doc["_id"]] = dict(doc)
        if refused:
            errors = [{"index": n, "code": 11000} for n in refused]
            raise BulkWriteError(
                {"writeErrors": errors, "nInserted": len(documents) - len(refused)}
            )

    async def find_one(self, filter: Mapping[str, Any]) -> dict[str, Any] | None:
        await asyncio.sleep(0)
        self.finds += 1
        return self.docs.get(filter["_id"])

    async def update_one(
        self,
        filter: Mapping[str, Any],
        update: Mapping[str, Any],
        upsert: bool = False,
    ) -> None:
        await asyncio.sleep(0)
        self.updates += 1
        doc = self.docs.setdefault(filter["_id"], {"_id": filter["_id"]})
        for name, value in update["$max"].items():
            doc[name] = max(doc.get(name, value), value)

    async def delete_one(self, filter: Mapping[str, Any]) -> None:
        await asyncio.sleep(0)
        self.docs.pop(filter["_id"], None)


def filled(slots: MemorySlots) -> list[int]:
    return sorted(int(key) for key in slots.docs if key.isdigit())


async def test_concurrent_writers_fill_one_contiguous_run_a_reader_follows() -> None:
    slots = MemorySlots()
    writers = [ChangeLog(slots, hint_every=4) for _ in range(3)]
    reader = ChangeLog(slots)
    cursor = await reader.tail()
    assert cursor == 0
    rng = random.Random(7)
    changes = [(f"w{rng.randint(1, 2)}", f"d{n}") for n in range(60)]
    taken = await asyncio.gather(
        *(writers[n % 3].append(ws, doc) for n, (ws, doc) in enumerate(changes))
    )
    assert sorted(taken) == list(range(1, 61))  # every change its own slot, no gap
    assert filled(slots) == list(range(1, 61))
    cursor, seen = await reader.since(cursor)
    assert cursor == 60
    assert sorted((c.workspace_id, c.doc_id) for c in seen) == sorted(changes)
    # A writer's own changes are in its process's read models already: skipped.
    own_cursor, own_seen = await writers[0].since(0)
    assert own_cursor == 60 and len(own_seen) == 40
    assert not {c.slot for c in own_seen} & {taken[n] for n in range(0, 60, 3)}
    slots.finds = 0
    assert await reader.since(cursor) == (60, [])
    assert slots.finds <= 2  # nothing new: the next slot (and at most the hint)


async def test_a_process_s_concurrent_appends_go_together_in_one_insert() -> None:
    """Group commit: appends made while one is being written wait and share the next
    insert, each its own slot, without racing each other for one (no duplicate key)."""
    slots = MemorySlots()
    writer = ChangeLog(slots, hint_every=4)
    taken = await asyncio.gather(*(writer.append("w", f"d{n}") for n in range(10)))
    assert sorted(taken) == list(range(1, 11))
    assert {slots.docs[str(slot)]["d"] for slot in taken} == {f"d{n}" for n in range(10)}
    # All ten were asked for before the first insert went out: one statement.
    assert writer.inserts == 1 and slots.inserts == 1
    assert slots.docs["tail"]["n"] == 8  # the hint follows a grouped insert too
    cursor, seen = await ChangeLog(slots).since(0)
    assert cursor == 10 and sorted(c.slot for c in seen) == taken
    assert await writer.since(0) == (10, [])  # its own slots: nothing to re-read
    # Appends arriving while an insert is in flight share the next one.
    first = asyncio.ensure_future(writer.append("w", "alone"))
    await asyncio.sleep(0)  # its insert is under way
    later = await asyncio.gather(*(writer.append("w", f"e{n}") for n in range(5)))
    assert await first == 11 and sorted(later) == list(range(12, 17))
    assert writer.inserts == 3


async def test_an_import_batch_s_thousand_appends_are_one_insert_and_one_hint() -> None:
    """The write hooks of an import batch's 1,000 records run together: their slots go in
    one insert statement, and the hint follows with one update (not ten of each)."""
    slots = MemorySlots()
    writer = ChangeLog(slots)
    taken = await asyncio.gather(*(writer.append("w", f"d{n}") for n in range(1000)))
    assert sorted(taken) == list(range(1, 1001))
    assert slots.inserts == 1 and slots.updates == 1
    assert slots.docs["tail"]["n"] == 960  # the last multiple of the hint's 64
    assert await ChangeLog(slots).since(0) == (
        1000,
        [Change(n + 1, "w", f"d{n}") for n in range(1000)],
    )


async def test_a_group_meeting_another_process_s_slots_goes_after_them() -> None:
    """Slots another process took in the middle of a group stay theirs; the group's
    refused changes go after the new tail, and the run stays contiguous."""
    slots = MemorySlots()
    writer, other = ChangeLog(slots), ChangeLog(slots)
    assert await writer.append("w", "first") == 1
    slots.docs["3"] = {"_id": "3", "w": "w", "d": "theirs"}  # another replica, meanwhile
    slots.docs["4"] = {"_id": "4", "w": "w", "d": "theirs too"}
    taken = await asyncio.gather(*(writer.append("w", f"d{n}") for n in range(4)))
    assert sorted(taken) == [2, 5, 6, 7]
    assert filled(slots) == list(range(1, 8))
    cursor, seen = await other.since(0)
    assert cursor == 7
    assert [c.doc_id for c in seen][2:4] == ["theirs", "theirs too"]
    assert sorted(c.doc_id for c in seen) == sorted(
        ["first", "theirs", "theirs too", "d0", "d1", "d2", "d3"]
    )


async def test_a_failed_group_insert_fails_its_appends_and_the_next_ones_still_work() -> None:
    slots = MemorySlots()
    writer = ChangeLog(slots)
    assert await writer.append("w", "d0") == 1
    slots.fail_inserts = 1
    failed = await asyncio.gather(
        *(writer.append("w", f"d{n}") for n in range(1, 4)), return_exceptions=True
    )
    assert all(isinstance(outcome, ConnectionError) for outcome in failed)
    assert filled(slots) == [1]
    assert await writer.append("w", "again") == 2


async def test_an_append_cancelled_while_queued_leaves_the_others_written() -> None:
    slots = MemorySlots()
    writer = ChangeLog(slots)
    first = asyncio.ensure_future(writer.append("w", "d0"))
    queued = [asyncio.ensure_future(writer.append("w", f"d{n}")) for n in range(1, 4)]
    await asyncio.sleep(0)
    queued[0].cancel()
    taken = await asyncio.gather(first, *queued[1:])
    assert sorted(taken) == [1, 3, 4]  # the cancelled one's change was journalled too
    assert filled(slots) == [1, 2, 3, 4]


async def test_a_starting_process_finds_the_tail_from_the_hint() -> None:
    slots = MemorySlots()
    writer = ChangeLog(slots, hint_every=8)
    for n in range(1000):
        await writer.append("w", f"d{n}")
    slots.finds = 0
    assert await ChangeLog(slots).tail() == 1000
    assert slots.finds < 30  # galloping from the hint, not one probe per slot
    # A fresh writer continues the run.
    assert await ChangeLog(slots).append("w", "next") == 1001


async def test_pruned_slots_are_gone_and_a_reader_behind_them_must_rebuild() -> None:
    slots = MemorySlots()
    writer = ChangeLog(slots, keep=50, prune_every=10, hint_every=5)
    behind = ChangeLog(slots)
    cursor = await behind.tail()
    for n in range(200):
        await writer.append("w", f"d{n}")
    await asyncio.sleep(0.05)  # the background pruning
    await writer.close()
    kept = filled(slots)
    assert kept[-1] == 200 and kept[0] > 1 and kept == list(range(kept[0], 201))
    with pytest.raises(Overflow) as raised:
        await behind.since(cursor)
    assert raised.value.tail == 200


async def test_a_reader_too_far_behind_rebuilds_instead_of_re_reading() -> None:
    slots = MemorySlots()
    writer = ChangeLog(slots)
    for n in range(2100):
        await writer.append("w", f"d{n}")
    with pytest.raises(Overflow):
        await ChangeLog(slots).since(0)


class Docs:
    """A database of one workspace's documents, counting reads by `_id`."""

    def __init__(self, n: int) -> None:
        self.docs = {
            f"d{i:02d}": {"_id": f"d{i:02d}", "stage": "a", "title": "t"} for i in range(n)
        }
        self.reads = 0

    async def scan(self, workspace: str) -> Any:
        for doc in list(self.docs.values()):
            yield dict(doc)

    async def read(self, workspace: str, doc_id: str) -> dict[str, Any] | None:
        self.reads += 1
        await asyncio.sleep(0)
        doc = self.docs.get(doc_id)
        return dict(doc) if doc else None


def stage_index(docs: Docs, changes: ChangeLog) -> ReadIndex[Any, Any]:
    return ReadIndex(
        scan=docs.scan,
        read=docs.read,
        entry_of=lambda doc: StageEntry(doc["_id"], doc["stage"]),
        new_entries=Entries,
        changes=changes,
    )


@dataclass(frozen=True)
class StageEntry:
    id: str
    stage: str


async def test_held_records_are_served_and_other_replicas_changes_followed() -> None:
    slots = MemorySlots()
    docs = Docs(20)
    index = stage_index(docs, ChangeLog(slots))
    other_replica = ChangeLog(slots)
    assert await index.entries("w") is not None
    ids = sorted(docs.docs)
    assert len(await index.records("w", ids)) == 20
    assert docs.reads == 20  # read once, by `_id`, then held
    await index.entries("w")
    assert (await index.records("w", ids))["d03"]["title"] == "t"
    assert docs.reads == 20
    # Another replica changes a field the entries do not keep, and deletes a document.
    docs.docs["d03"]["title"] = "renamed"
    await other_replica.append("w", "d03")
    del docs.docs["d07"]
    await other_replica.append("w", "d07")
    await other_replica.append("elsewhere", "x1")  # another workspace: nothing to read
    entries = await index.entries("w")
    assert entries is not None and entries.get("d07") is None
    held = await index.records("w", sorted(entries.entries))
    assert held["d03"]["title"] == "renamed" and len(held) == 19
    assert docs.reads == 22 and index.followed == 3  # d03 and d07 re-read


async def test_concurrent_requests_share_a_sync_that_started_after_them() -> None:
    slots = MemorySlots()
    index = stage_index(Docs(3), ChangeLog(slots))
    await index.entries("w")
    syncs, slots.finds = index.syncs, 0
    await asyncio.gather(*(index.entries("w") for _ in range(50)))
    # One sync runs for the first caller; all who came while it ran share the next.
    assert index.syncs - syncs <= 2
    assert slots.finds <= 6


async def test_an_overflow_rebuilds_every_workspace_from_one_shared_scan() -> None:
    """A reader too far behind its log rebuilds; with `scan_all` that is one scan for all
    workspaces, started from inside the sync (which it must not wait for)."""
    slots = MemorySlots()
    docs = Docs(4)
    scans: list[str] = []

    async def scan_all() -> Any:
        scans.append("all")
        for workspace in ("w", "v"):
            for doc in list(docs.docs.values()):
                yield workspace, dict(doc)

    index: ReadIndex[Any, Any] = ReadIndex(
        scan=docs.scan,
        scan_all=scan_all,
        read=docs.read,
        entry_of=lambda doc: StageEntry(doc["_id"], doc["stage"]),
        new_entries=Entries,
        changes=ChangeLog(slots),
    )
    await index.load_all()
    assert scans == ["all"] and sorted(index.workspaces) == ["v", "w"]
    writer = ChangeLog(slots)
    docs.docs["d01"]["stage"] = "b"
    for n in range(2100):
        await writer.append("w", "d01" if n == 0 else f"zz{n}")
    entries = await asyncio.wait_for(index.entries("w"), 10)  # bounded: a deadlock hangs
    assert entries is not None and entries.get("d01") == StageEntry("d01", "b")
    assert scans == ["all", "all"]


def _journalled(slots: MemorySlots) -> tuple[WriteHooks, ChangeLog]:
    hooks = WriteHooks()
    changes = ChangeLog(slots, hint_every=64)
    journal_writes(hooks, changes, "lists")
    return hooks, changes


async def test_writes_inside_appends_together_are_journalled_at_its_end_in_one_insert() -> None:
    """Writes side by side that end apart (a batch's deal lists) take one slot insert at
    the block's end, where appending as each returned took two (the first alone); the
    block returns with every slot in, a document written twice in it journalled once."""
    slots = MemorySlots()
    hooks, changes = _journalled(slots)

    async def write(doc_id: str, after: int) -> None:
        for _ in range(after):
            await asyncio.sleep(0)
        await hooks.emit(Written("lists", doc_id, "w1", None))

    async with appends_together():
        await asyncio.gather(write("d1", 0), write("d2", 3), write("d3", 6), write("d1", 9))
        assert filled(slots) == [] and slots.inserts == 0  # nothing before the end
    assert filled(slots) == [1, 2, 3] and slots.inserts == 1
    assert sorted(slots.docs[str(n)]["d"] for n in (1, 2, 3)) == ["d1", "d2", "d3"]
    # Outside a block, each write appends before it returns.
    await write("d4", 0)
    assert filled(slots) == [1, 2, 3, 4] and slots.inserts == 2
    assert changes.inserts == 2


async def test_a_batch_of_writes_is_journalled_in_one_insert_before_it_returns() -> None:
    """An import batch's inserts heard together (`WriteHooks.emit_batch`): their slots in
    one insert, in the order written, before `emit_batch` returns; other collections'
    writes and writes without a workspace are not journalled; inside `appends_together`
    they wait for the block's end like single writes."""
    slots = MemorySlots()
    hooks, changes = _journalled(slots)
    batch = [Written("lists", f"d{n}", "w1", None, kind="insert") for n in range(5)]
    await hooks.emit_batch(
        [
            *batch[:2],
            Written("other", "x", "w1", None),
            Written("lists", "y", None, None),
            *batch[2:],
        ]
    )
    assert filled(slots) == [1, 2, 3, 4, 5] and slots.inserts == 1
    assert [slots.docs[str(n)]["d"] for n in range(1, 6)] == [f"d{n}" for n in range(5)]
    async with appends_together():
        await hooks.emit_batch([Written("lists", "d9", "w1", None, kind="insert")])
        assert slots.inserts == 1  # nothing before the end
    assert filled(slots) == [1, 2, 3, 4, 5, 6] and slots.inserts == 2
    assert changes.appended == 6


async def test_a_block_that_raises_still_journals_what_it_wrote() -> None:
    slots = MemorySlots()
    hooks, _ = _journalled(slots)
    with pytest.raises(RuntimeError, match="third list"):
        async with appends_together():
            await hooks.emit(Written("lists", "d1", "w1", None))
            raise RuntimeError("the third list's write failed")
    assert filled(slots) == [1]


async def test_an_append_failing_at_the_end_fails_the_block() -> None:
    slots = MemorySlots()
    hooks, _ = _journalled(slots)
    slots.fail_inserts = 1
    with pytest.raises(ConnectionError):
        async with appends_together():
            await hooks.emit(Written("lists", "d1", "w1", None))
    async with appends_together():  # the caller's retry: journalled
        await hooks.emit(Written("lists", "d1", "w1", None))
    assert filled(slots) == [1]


async def test_a_write_outliving_the_block_appends_at_once() -> None:
    slots = MemorySlots()
    hooks, _ = _journalled(slots)
    go = asyncio.Event()

    async def lingering() -> None:
        await go.wait()
        await hooks.emit(Written("lists", "late", "w1", None))

    async with appends_together():
        task = asyncio.create_task(lingering())
    assert filled(slots) == []
    go.set()
    await task
    assert filled(slots) == [1]
