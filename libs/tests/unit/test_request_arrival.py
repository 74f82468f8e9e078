"""A read index's change-log follows per request (`crm_kit.request_arrival`): inside one
request, one follow per index at most, however often the request reads it; a follow that
began after the request arrived (another request's) covers it; one that began before it
arrived does not (a change whose write returned in between would be missed); outside a
request every read follows the log, as before. Whatever is shared, a request sees every
change another writer journalled before it arrived."""

from __future__ import annotations

import asyncio
from typing import Any

from crm_kit.change_log import ChangeLog
from crm_kit.doc_index import DocIndex
from crm_kit.memory_db import MemoryDatabase
from crm_kit.request_arrival import arrived, request_arrived

from .test_change_log import MemorySlots
from .test_doc_index import NOTE, WS, Note


class GatedSlots(MemorySlots):
    """Slots whose look-ups, once they have read, wait for `gate` before answering while
    it is closed (a probe answered by the database, its reply not yet processed)."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()
        self.gate.set()
        self.looked_up = 0

    async def find_one(self, filter: Any) -> Any:
        found = await super().find_one(filter)
        self.looked_up += 1
        await self.gate.wait()
        return found


async def indexed() -> tuple[MemoryDatabase, DocIndex[Note], GatedSlots, ChangeLog]:
    db = MemoryDatabase()
    slots = GatedSlots()
    changes = ChangeLog(slots)
    index = DocIndex(db, NOTE, db.hooks, fields=("owner", "rank"), posted=("owner",),
                     name="note index", changes=changes)  # fmt: skip
    records = db.records(NOTE, WS)
    for n in range(3):
        await records.insert(Note(f"n{n}", WS, "u1", f"note {n}", n, body="first"))
    assert await index.entries(WS) is not None  # loaded; the log's cursor placed
    assert len(await index.get(WS, ["n0", "n1", "n2"]) or []) == 3  # held from now on
    return db, index, slots, changes


async def behind_the_index(db: MemoryDatabase, doc_id: str, body: str, slots: GatedSlots) -> None:
    """Another replica's write: the document changed, then its slot journalled (through
    slots of its own over the same documents: never held by the gate)."""
    db.collections["notes"][doc_id]["body"] = body
    writer = MemorySlots()
    writer.docs = slots.docs
    await ChangeLog(writer).append(WS, doc_id)


async def body_of(index: DocIndex[Note], doc_id: str) -> str:
    found = await index.get(WS, [doc_id])
    assert found is not None
    return found[0].body


async def test_a_request_follows_each_log_once_and_sees_what_came_before_it() -> None:
    db, index, slots, _ = await indexed()
    await behind_the_index(db, "n1", "second", slots)
    with request_arrived():
        follows = index.index.syncs
        assert await body_of(index, "n1") == "second"  # journalled before it arrived
        for _ in range(3):
            assert await index.entries(WS) is not None
            await body_of(index, "n2")
        assert index.index.syncs - follows == 1  # not one per read
        # A change journalled after this request arrived may or may not show in it.
    await behind_the_index(db, "n2", "second", slots)
    with request_arrived():
        assert await body_of(index, "n2") == "second"  # the next request sees it


async def test_outside_a_request_every_read_follows_the_log() -> None:
    _, index, _, _ = await indexed()
    assert arrived() is None
    follows = index.index.syncs
    for _ in range(3):
        assert await index.entries(WS) is not None
    assert index.index.syncs - follows == 3


async def test_a_follow_covers_a_request_only_if_it_began_after_the_request_arrived() -> None:
    db, index, slots, _ = await indexed()
    # Request A's follow: its probe has found nothing new, its answer not yet processed.
    slots.gate.clear()
    probes = slots.looked_up

    async def request_a() -> str:
        with request_arrived():
            return await body_of(index, "n0")

    first = asyncio.ensure_future(request_a())
    for _ in range(100):  # until its probe has read
        if slots.looked_up > probes:
            break
        await asyncio.sleep(0)
    assert slots.looked_up > probes
    # Another replica's write returns; then request C arrives, A's follow still running.
    await behind_the_index(db, "n0", "second", slots)
    read = asyncio.Event()

    async def request_c() -> str:
        with request_arrived():
            await read.wait()
            return await body_of(index, "n0")

    third = asyncio.ensure_future(request_c())
    await asyncio.sleep(0)
    slots.gate.set()
    assert await first == "first"  # its follow's probe came before the write
    # C reads after A's follow completed; it began before C arrived, so C follows again.
    read.set()
    assert await third == "second"
    # D arrives after: C's follow began before D too, so D follows once, and only once.
    follows = index.index.syncs
    with request_arrived():
        assert await body_of(index, "n0") == "second"
        assert await body_of(index, "n1") == "first"
    assert index.index.syncs - follows == 1


async def test_a_follow_begun_after_a_request_arrived_serves_it() -> None:
    _, index, _, _ = await indexed()
    with request_arrived():
        # Another request's follow, begun after this one arrived.
        await asyncio.ensure_future(_as_another_request(index))
        follows = index.index.syncs
        assert await index.entries(WS) is not None
        assert index.index.syncs == follows  # covered: no follow of its own


async def _as_another_request(index: DocIndex[Note]) -> None:
    with request_arrived():
        assert await index.entries(WS) is not None
