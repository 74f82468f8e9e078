"""A journal of which documents of one collection were changed, numbered 1, 2, 3... in one
shared sequence, so that a read index (`crm_kit.read_index`) on any replica can keep whole
documents in memory and check that they are current with ONE cheap query per request
instead of re-reading every row it returns by `_id`.

Why a journal of numbered slots: on FerretDB's SQLite backend only a filter `{_id: <string
or ObjectId>}` is served by an index (`backends/sqlite/collection.go`, v1.24: any other
filter, `$in` on `_id` included, and any sort but `$natural` reads the whole collection),
and concurrent updates of one document are not isolated (a shared counter would lose
increments between replicas). Inserts of a unique `_id` are atomic everywhere, and looking
a slot up by `_id` is the one query every backend serves from an index. So:

- a writer appends a change by inserting slot `n` (`_id` = str(n), naming the workspace and
  the document) AFTER writing the document and BEFORE its write returns; a slot taken by
  another writer (duplicate key) makes it look for the tail and try the next one;
- a writer tries slot `n` only once it has seen `n - 1` filled (its own insert, a duplicate,
  a probe), so the filled slots are always one contiguous range: "slot `c + 1` is absent"
  proves every change appended so far is at or below `c`;
- within a process, appends made while one insert is in flight wait for it and then go
  together in the next (slots `n..n+k` in one statement, one transaction: group commit), so
  a process's concurrent writers neither race each other for a slot (a duplicate key and a
  probe each) nor pay a write statement each;
- a reader at cursor `c` probes `c + 1`, `c + 2`... by `_id` (a few at a time) until one is
  absent: nothing changed costs one look-up. Each slot found names a document to re-read.

A write that returned has its slot in place, so a request that probes after it sees it
(read-your-writes across replicas); a write whose slot is not in yet has not returned.
Inside `appends_together()` the unit is the block: the writes made in it (side by side,
ending milliseconds apart) are journalled when it ends, in one insert, and the block
returns once their slots are in (a batch's deal lists: one slot insert, not the first
list's alone and the others' in a second).

Every write is journalled, inserts included: a new document makes no held copy stale,
but an index started from a persisted snapshot (`crm_kit.index_snapshot`) learns of the
documents created since the snapshot, while it was down, from the log alone.

The journal is bounded: the writer of every `PRUNE_EVERY`th slot deletes, in the
background, the slots `KEEP` below it. Every `HINT_EVERY`th slot also raises a `tail`
document (`$max`: never lowered; a lost update leaves an older filled slot) from which a
process starting up finds the tail in a few look-ups (galloping, then bisecting). A reader
so far behind that its next slot was pruned (it made no request for `KEEP` changes) sees
the hint beyond a missing slot, and is told to rebuild (`Overflow`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Protocol

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError

from .group_commit import GroupCommit
from .writer import WriteHooks, Written

log = logging.getLogger(__name__)

KEEP = 200_000
PRUNE_EVERY = 1_000
HINT_EVERY = 64
# Slots probed at once while catching up (each an `_id` look-up).
PROBES = 8
# Appends written together at most: an import batch's (up to 1,000 records, whose write
# hooks run together) in one insert statement and one hint update, instead of ten of each
# (groups of 100 cost the embedded database two statements per 100 records on the batch's
# path; one statement of 1,000 slots of ~60 bytes is far below any server's batch limit).
GROUP = 1000
DUPLICATE_KEY = 11000
# A reader that finds more changes than this at once rebuilds instead of re-reading them.
CATCH_UP_LIMIT = 2_000
# An index restored from a snapshot replays up to this many rounds of `CATCH_UP_LIMIT`
# changes before it scans instead: re-reading 50,000 changed documents by `_id` costs far
# less than scanning 100k deals' collections (a restart after ~17 minutes of writes at
# 50/s, where the single limit had it scan after 40 s of them).
REPLAY_ROUNDS = 25
# How often a reader finding nothing new checks the hint for a pruned gap.
HINT_CHECK_SECONDS = 30.0
HINT_ID = "tail"
# Slots this process appended, remembered until its reader passes them (bounded: a
# process that appends without reading forgets them all at once).
OWN_SLOTS = 100_000


class SlotCollection(Protocol):
    """The part of PyMongo's async collection the journal uses (`_id` look-ups only)."""

    async def insert_one(self, document: dict[str, Any]) -> Any: ...

    async def insert_many(self, documents: list[dict[str, Any]], ordered: bool = True) -> Any: ...

    async def find_one(self, filter: Mapping[str, Any]) -> Mapping[str, Any] | None: ...

    async def update_one(
        self, filter: Mapping[str, Any], update: Mapping[str, Any], upsert: bool = False
    ) -> Any: ...

    async def delete_one(self, filter: Mapping[str, Any]) -> Any: ...


@dataclass(frozen=True)
class Change:
    slot: int
    workspace_id: str
    doc_id: str


class Overflow(Exception):
    """The reader fell too far behind (or its next slot was pruned): rebuild from a scan,
    then follow from `tail`."""

    def __init__(self, tail: int) -> None:
        super().__init__(f"change log reader behind; tail at {tail}")
        self.tail = tail


def journal_name(collection: str) -> str:
    return f"changes_{collection}"


class ChangeLog:
    def __init__(
        self,
        slots: SlotCollection,
        *,
        keep: int = KEEP,
        prune_every: int = PRUNE_EVERY,
        hint_every: int = HINT_EVERY,
    ) -> None:
        self._slots = slots
        self._keep = keep
        self._prune_every = prune_every
        self._hint_every = hint_every
        # The highest slot this process knows filled (writers start their search there).
        self._known = 0
        self._hint_checked = 0.0
        self._background: set[asyncio.Task[None]] = set()
        self._own: set[int] = set()
        # Appends made while an insert is in flight go together in the next.
        self._group: GroupCommit[tuple[str, str], int] = GroupCommit(self._insert, most=GROUP)
        self.appended = 0
        self.probes = 0
        self.inserts = 0

    # -- writing ------------------------------------------------------------------------
    async def append(self, workspace_id: str, doc_id: str) -> int:
        """Journal a change of `doc_id` (already written); returns its slot. Appends made
        while another is being written go together in the next insert (group commit)."""
        return await self._group.submit((workspace_id, doc_id))

    async def append_many(self, changes: Sequence[tuple[str, str]]) -> list[int]:
        """`append` of each (workspace, document) in order, together (an import batch's
        documents): their slots."""
        return await self._group.submit_many(changes)

    async def _insert(self, changes: list[tuple[str, str]]) -> list[int]:
        """Fill the next free slots with `changes`, in one statement while no other process
        takes any of them; those another took go after the new tail."""
        slots = [0] * len(changes)
        pending = list(range(len(changes)))
        start = self._known + 1 if self._known else await self.tail() + 1
        while True:
            docs = [
                {"_id": str(start + n), "w": changes[k][0], "d": changes[k][1]}
                for n, k in enumerate(pending)
            ]
            refused = await self._insert_docs(docs)
            for n, k in enumerate(pending):
                if n not in refused:
                    slots[k] = start + n
            # Every slot tried is filled now: by this insert or by another writer.
            top = start + len(docs) - 1
            self._known = max(self._known, top)
            pending = [k for n, k in enumerate(pending) if n in refused]
            if not pending:
                break
            start = await self.tail(start=top) + 1
        for slot in slots:
            self._appended(slot)
        hinted = [slot for slot in slots if slot % self._hint_every == 0]
        if hinted:
            await self._slots.update_one(
                {"_id": HINT_ID}, {"$max": {"n": max(hinted)}}, upsert=True
            )
        return slots

    async def _insert_docs(self, docs: list[dict[str, Any]]) -> set[int]:
        """Insert the slots (one statement); the positions refused as taken."""
        self.inserts += 1
        if len(docs) == 1:
            try:
                await self._slots.insert_one(docs[0])
            except DuplicateKeyError:
                return {0}
            return set()
        try:
            await self._slots.insert_many(docs, ordered=False)
        except BulkWriteError as error:
            failures = error.details.get("writeErrors", [])
            if any(failure.get("code") != DUPLICATE_KEY for failure in failures):
                raise
            return {int(failure["index"]) for failure in failures}
        return set()

    def _appended(self, slot: int) -> None:
        if len(self._own) >= OWN_SLOTS:
            self._own.clear()
        self._own.add(slot)
        self.appended += 1
        if slot % self._prune_every == 0 and slot > self._keep:
            self._in_background(
                self._prune(slot - self._keep - self._prune_every, slot - self._keep)
            )

    async def _prune(self, above: int, upto: int) -> None:
        for slot in range(max(above, 0) + 1, upto + 1):
            await self._slots.delete_one({"_id": str(slot)})

    def _in_background(self, work: Any) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(work)
        self._background.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("change log pruning failed", exc_info=task.exception())

    # -- reading ------------------------------------------------------------------------
    async def _filled(self, slot: int) -> Mapping[str, Any] | None:
        self.probes += 1
        return await self._slots.find_one({"_id": str(slot)})

    async def tail(self, start: int | None = None) -> int:
        """The last filled slot (0 when none): from `start` (a slot known filled) or the
        hint, gallop forward to an absent slot, then bisect."""
        if start is None:
            hint = await self._slots.find_one({"_id": HINT_ID})
            start = int(hint["n"]) if hint else 0
        low = max(start, self._known)
        step = 1
        high = low + step
        while await self._filled(high) is not None:
            low, step = high, step * 2
            high = low + step
        while high - low > 1:
            middle = (low + high) // 2
            if await self._filled(middle) is not None:
                low = middle
            else:
                high = middle
        self._known = max(self._known, low)
        return low

    async def since(self, cursor: int, most: int | None = None) -> tuple[int, list[Change]]:
        """The changes after slot `cursor` made by other processes (this one's own writes
        are in its read models already, installed by their write hooks), and the new
        cursor. Raises `Overflow` when they are too many to re-read, or when the next slot
        was pruned. `most`: stop after about this many instead (the cursor says where),
        for a caller that reads on in rounds."""
        start = cursor
        found: list[Change] = []
        while True:
            # Slots this process appended are filled: passed without a look-up.
            while cursor + 1 in self._own:
                self._own.discard(cursor + 1)
                cursor += 1
            # Nothing new costs one look-up; catching up probes a few at a time.
            slots = range(cursor + 1, cursor + 1 + (PROBES if found else 1))
            docs = await asyncio.gather(*(self._filled(slot) for slot in slots))
            for slot, doc in zip(slots, docs, strict=True):
                if doc is None:
                    break
                cursor = slot
                if slot in self._own:
                    self._own.discard(slot)
                    continue
                found.append(Change(slot, str(doc.get("w")), str(doc.get("d"))))
            else:
                if most is not None and len(found) >= most:
                    break
                if len(found) <= CATCH_UP_LIMIT:
                    continue
                raise Overflow(await self.tail(start=cursor))
            if cursor + 1 in self._own:
                continue  # the absent slot was probed before this process filled it
            break
        self._known = max(self._known, cursor)
        if cursor == start:
            await self._check_gap(cursor)
        return cursor, found

    async def _check_gap(self, cursor: int) -> None:
        """Every `HINT_CHECK_SECONDS`: a hint beyond the cursor over an absent next slot
        means the slots in between were pruned."""
        now = time.monotonic()
        if now - self._hint_checked < HINT_CHECK_SECONDS:
            return
        self._hint_checked = now
        hint = await self._slots.find_one({"_id": HINT_ID})
        if hint is None or int(hint["n"]) <= cursor:
            return
        # Filled slots are contiguous up to the hint's: the next slot absent now (it may
        # have been written since the probe) can only have been pruned.
        if await self._filled(cursor + 1) is None:
            raise Overflow(await self.tail(start=int(hint["n"])))

    async def close(self) -> None:
        await self._group.close()
        for task in list(self._background):
            task.cancel()
        for task in list(self._background):
            with contextlib.suppress(BaseException):  # cancelled, or logged already
                await task


@dataclass(eq=False)
class _Together:
    """The appends of the writes made inside one `appends_together()`, in order."""

    appends: list[tuple[ChangeLog, str, str]] = field(default_factory=list)
    open: bool = True


# The running task's `appends_together()`: the tasks it starts (a `gather` of writes)
# inherit it; one that outlives it finds it closed and appends at once.
_TOGETHER: ContextVar[_Together | None] = ContextVar(
    "crm_change_log_appends_together", default=None
)


@contextlib.asynccontextmanager
async def appends_together() -> AsyncIterator[None]:
    """Journal the writes made inside (by this task and the tasks it starts) when the
    block ends, together: one group commit (one insert statement, one commit) for writes
    that end a few milliseconds apart, where each write appending as it returned sent
    the first alone and the others in a second insert. The block returns once every slot
    is in, so what its caller returns after it is journalled, as a single write's is;
    the writes inside return before their slots are in (nothing in the block may rely on
    another replica seeing them). A block that raises still journals what it wrote (and
    raises its own error); an append that fails fails the block, as it fails a write (its
    caller retries: the writes are idempotent, as every retried write must be)."""
    together = _Together()
    token = _TOGETHER.set(together)
    failure: BaseException | None = None
    try:
        yield
    finally:
        _TOGETHER.reset(token)
        together.open = False
        wanted = list(dict.fromkeys(together.appends))  # a document twice: one slot
        if wanted:
            outcomes = await asyncio.gather(
                *(changes.append(workspace_id, doc_id) for changes, workspace_id, doc_id in wanted),
                return_exceptions=True,
            )
            failure = next((o for o in outcomes if isinstance(o, BaseException)), None)
    if failure is not None:  # only when the block itself ended well: its error wins
        raise failure


def journal_writes(hooks: WriteHooks, changes: ChangeLog, collection: str) -> None:
    """Journal every write of `collection` (inserts too) before it returns (a required
    hook: a change not journalled fails the write, which the client retries; the event
    feed still brings it to the other replicas meanwhile); inside `appends_together()`,
    before the block returns."""

    async def journal(written: Written) -> None:
        if written.collection == collection and written.workspace_id is not None:
            together = _TOGETHER.get()
            if together is not None and together.open:
                together.appends.append((changes, written.workspace_id, str(written.doc_id)))
                return
            await changes.append(written.workspace_id, str(written.doc_id))

    async def journal_batch(writes: Sequence[Written]) -> None:
        # A bulk insert's documents (`WriteHooks.emit_batch`): their slots in one group.
        wanted = [
            (w.workspace_id, str(w.doc_id))
            for w in writes
            if w.collection == collection and w.workspace_id is not None
        ]
        if not wanted:
            return
        together = _TOGETHER.get()
        if together is not None and together.open:
            together.appends.extend((changes, ws, doc_id) for ws, doc_id in wanted)
            return
        await changes.append_many(wanted)

    hooks.subscribe(journal, required=True, batch=journal_batch)


# Makes the change log of a collection (its writes journalled): given to stores that hold
# whole documents in a read index.
Journal = Callable[[str], ChangeLog]


def journal_on(db: AsyncDatabase[Any], hooks: WriteHooks) -> Journal:
    """Change logs in `db`, journalled by the writes `hooks` hear."""

    def journal(collection: str) -> ChangeLog:
        changes = ChangeLog(db[journal_name(collection)])
        journal_writes(hooks, changes, collection)
        return changes

    return journal
