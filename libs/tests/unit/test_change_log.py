"""The change log (`crm_kit.change_log`) over an in-memory slot collection that yields
between its steps, so concurrent writers (replicas) interleave as on a real database."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pytest
from pymongo.errors import DuplicateKeyError

from crm_kit.change_log import ChangeLog, Overflow
from crm_kit.index_entries import Entries
from crm_kit.read_index import ReadIndex


class MemorySlots:
    """`_id` look-ups, unique inserts, `$max` upserts and deletes, one step at a time."""

    def __init__(self) -> None:
        self.docs: dict[str, dict[str, Any]] = {}
        self.finds = 0

    async def insert_one(self, document: dict[str, Any]) -> None:
        await asyncio.sleep(0)
        if document["_id"] in self.docs:
            raise DuplicateKeyError("duplicate _id")
        self.docs[document["_id"]] = dict(document)

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
