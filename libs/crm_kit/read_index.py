"""A per-process read index (a query model) of one collection, per workspace.

Why: on FerretDB's SQLite backend every filter other than `{_id: value}` is evaluated over
the whole collection (~36 µs a document, holding up writers), so lists, counts and
groupings cannot be served by queries. A service keeps, per workspace, a small entry per
document in memory, selects, sorts and pages over the entries, and reads only the chosen
documents by `_id`. This module is the workspace-agnostic machinery; the service supplies
what is specific (`scan`, `read`, `entry_of`, `new_entries`).

Consistency:
- a workspace loads lazily, on first use, with one (projected) scan; concurrent first
  requests share it, and a cancelled request does not cancel it;
- local writes call `refresh(workspace, ids)` before they return: the documents are
  re-read by `_id` (read-your-writes within this process);
- writes made elsewhere arrive as events naming a document (`crm_kit.index_feed`), which
  is re-read the same way, so event order and duplicates do not matter. The feed
  subscribes before the index goes live, so every scan starts after the subscription: a
  write either precedes the scan or its event arrives afterwards;
- periodic rebuilds (and one after a NATS reconnect) are the safety net.

With a change log (`changes`, `crm_kit.change_log`) the index also holds whole records (as
`read` returns them, filled as they are first read and by this process's writes) and
serves them (`records`) without a read: each request first follows the log (`sync`, one
`_id` look-up when nothing changed) and re-reads the documents other replicas changed.
Every write that returned has its slot in the log before it returned, so a request sees
every change made before it started, whichever replica made it, at the cost of one look-up
instead of one per row. Concurrent requests share a sync; a sync started before a request
arrived does not count for it (the change it waits for may have come after its probe).

Each re-read holds that document's lock, so re-reads of one document are installed in the
order they were made. A rebuild that swaps in a fresh scan bumps the workspace's
generation: a re-read that straddled the swap reads again instead of installing a state
older than the scan's. Documents touched while a scan runs keep the state this process
already saw (its own writes among them) and are re-read once the scan is installed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from . import metrics
from .change_log import ChangeLog, Overflow
from .index_entries import Entries, HasId
from .locks import DocLocks

log = logging.getLogger(__name__)

E = TypeVar("E", bound=HasId)
S = TypeVar("S", bound=Entries[Any])
# A stored record as the service's `scan` yields and `read` returns it (a document, a
# projected document...): only `entry_of` looks inside.
Record = Any
# Re-reads of one document that straddle rebuild swaps before giving up (the rebuild that
# caused the last swap re-reads the document itself then).
REREAD_ATTEMPTS = 3
# Ids of events whose effect this process installed itself (`expect_events`), remembered
# until their message arrives; bounded, since some are never published (a retried write).
EXPECTED_EVENTS = 50_000
# Whole records a workspace holds at most (the oldest installed goes first).
RECORDS_LIMIT = 50_000
# What the index holds of a document it knows to be absent (`remember_absent`).
_ABSENT = object()


@dataclass
class _Workspace(Generic[S]):
    data: S | None = None
    building: asyncio.Future[None] | None = None
    # Documents touched while a scan runs; re-read once the scan's result is installed.
    touched: set[str] | None = None
    generation: int = 0
    scans: int = 0
    # Whole records by id (with a change log only): current as of the last sync.
    records: dict[str, Record] = field(default_factory=dict)


class ReadIndex(Generic[E, S]):
    def __init__(
        self,
        *,
        scan: Callable[[str], AsyncIterator[Record]],
        read: Callable[[str, str], Awaitable[Record | None]],
        entry_of: Callable[[Record], E | None],
        new_entries: Callable[[], S],
        older: Callable[[E, E], bool] | None = None,
        name: str = "read index",
        concurrency: int = 16,
        live: bool = True,
        changes: ChangeLog | None = None,
        records_limit: int = RECORDS_LIMIT,
        remember_absent: bool = False,
    ) -> None:
        """`scan(workspace)` yields every record of the workspace (straight from the
        database, not through an indexed store); `read(workspace, id)` one record by `_id`,
        None when absent or not the workspace's; `entry_of(record)` its entry, None when
        the index does not hold it (e.g. deleted); `new_entries()` an empty container;
        `older(incoming, held)` (optional, e.g. by a version field) says an entry is older
        than the one held, which it then does not replace: records a write returned
        (`refresh(..., known=)`) may be installed after a newer state was re-read.
        `live=False` keeps the index unused until `go_live()`: a service calls it once its
        event feed is subscribed. `changes`: the collection's change log, followed before
        each request is served; the index then holds whole records (`records`).
        `remember_absent`: hold that a document is absent too, when its creation is
        journalled as well (a collection written by upserts only): it is not looked for
        again until then."""
        self._scan = scan
        self._read = read
        self._entry_of = entry_of
        self._new_entries = new_entries
        self._older = older
        self._expected: OrderedDict[str, None] = OrderedDict()
        self.name = name
        self._workspaces: dict[str, _Workspace[S]] = {}
        self._locks = DocLocks()
        self._limit = asyncio.Semaphore(concurrency)
        self.live = live
        self.closed = False
        self._changes = changes
        self._records_limit = records_limit
        self._remember_absent = remember_absent and changes is not None
        # The log's slot up to which every change is applied (None: not followed yet).
        self._cursor: int | None = None
        self._sync_asked = 0
        self._sync_done = 0
        self._syncing: asyncio.Future[None] | None = None
        self.syncs = 0
        # Changes applied from the log (made by other replicas, or this one's own writes).
        self.followed = 0
        metrics.track(self)

    @property
    def holds_records(self) -> bool:
        """Whether `records` serves whole records (a change log keeps them current)."""
        return self._changes is not None

    def go_live(self) -> None:
        self.live = True

    @property
    def workspaces(self) -> list[str]:
        """The loaded workspaces."""
        return [ws for ws, w in self._workspaces.items() if w.data is not None]

    def scans(self, workspace: str) -> int:
        """How many full scans the workspace has had (for tests and diagnostics)."""
        w = self._workspaces.get(workspace)
        return w.scans if w else 0

    def loaded(self, workspace: str) -> S | None:
        """The workspace's entries if loaded, without loading (diagnostics, memory)."""
        w = self._workspaces.get(workspace)
        return w.data if w is not None else None

    async def entries(self, workspace: str) -> S | None:
        """The workspace's entries, loading them on first use; None when the index cannot
        serve (not live, closed, or the load failed: the caller queries the store)."""
        if not self.live or self.closed:
            return None
        if self._changes is not None:
            try:
                await self.sync()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("%s could not follow its change log", self.name, exc_info=True)
                return None
        w = self._workspaces.setdefault(workspace, _Workspace())
        if w.data is not None:
            return w.data
        try:
            # Shielded: a cancelled request must not cancel the load others wait for.
            await asyncio.shield(self._start_build(workspace, w))
        except asyncio.CancelledError:
            raise
        except Exception:
            log.warning(
                "%s of %s failed to load; querying the store", self.name, workspace, exc_info=True
            )
            return None
        return w.data

    def _start_build(self, workspace: str, w: _Workspace[S]) -> asyncio.Future[None]:
        if w.building is None or w.building.done():
            w.building = asyncio.ensure_future(self._build(workspace, w))
            w.building.add_done_callback(_consume_error)
        return w.building

    async def rebuild(self, workspaces: Iterable[str] | None = None) -> None:
        """Re-scan loaded workspaces one after another (the safety net); queries keep
        being served from the current entries meanwhile."""
        for workspace in list(workspaces if workspaces is not None else self.workspaces):
            w = self._workspaces.get(workspace)
            if w is None or self.closed:
                continue
            try:
                await asyncio.shield(self._start_build(workspace, w))
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("%s rebuild of %s failed", self.name, workspace, exc_info=True)

    async def _build(self, workspace: str, w: _Workspace[S]) -> None:
        w.touched = set()
        started = time.perf_counter()
        try:
            fresh = self._new_entries()
            async for record in self._scan(workspace):
                entry = self._entry_of(record)
                if entry is not None:
                    fresh.put(entry)
            touched, w.touched = w.touched, None
            old = w.data
            if old is not None:
                # Until re-read below, keep what this process already saw of the documents
                # written during the scan (its own writes among them).
                for doc_id in touched:
                    entry = old.get(doc_id)
                    if entry is None:
                        fresh.drop(doc_id)
                    else:
                        fresh.put(entry)
            w.data = fresh
            # Held records are dropped with the entries they were read with: the rebuild
            # is the safety net for whatever the log and the feed missed.
            w.records = {}
            w.generation += 1
            w.scans += 1
            metrics.READ_MODEL_BUILDS.labels(self.name).observe(time.perf_counter() - started)
            await self.refresh(workspace, touched)
        finally:
            w.touched = None

    async def refresh(
        self,
        workspace: str,
        doc_ids: Iterable[str],
        known: Mapping[str, Record] | None = None,
    ) -> None:
        """Re-read these documents by `_id` and update or drop their entries (bounded
        concurrency). A no-op for a workspace that is not loaded. `known` maps ids to
        records a write just returned: installed without a read (needs `older`, so such a
        record never replaces a newer state re-read meanwhile)."""
        ids = list(dict.fromkeys(doc_ids))
        given = known if known is not None and self._older is not None else {}
        if len(ids) == 1:
            await self._refresh_one(workspace, ids[0], given.get(ids[0]))
        elif ids:
            await asyncio.gather(*(self._refresh_one(workspace, i, given.get(i)) for i in ids))

    async def _refresh_one(self, workspace: str, doc_id: str, known: Record | None) -> None:
        w = self._workspaces.get(workspace)
        if w is None or self.closed:
            return
        if w.touched is not None:
            w.touched.add(doc_id)
        if w.data is None:
            return  # the first scan is running; it re-reads touched documents after
        async with self._locks.hold(f"{workspace}:{doc_id}"), self._limit:
            for _ in range(REREAD_ATTEMPTS):
                generation = w.generation
                record = known if known is not None else await self._read(workspace, doc_id)
                if generation != w.generation or w.data is None:
                    known = None  # a rebuild swapped its scan in meanwhile: read again
                    continue
                entry = self._entry_of(record) if record is not None else None
                if entry is None:
                    w.data.drop(doc_id)
                    w.records.pop(doc_id, None)
                    if self._remember_absent:
                        self._hold(w, doc_id, _ABSENT)
                    return
                held = w.data.get(doc_id)
                if held is None or self._older is None or not self._older(entry, held):
                    w.data.put(entry)
                    if self._changes is not None:
                        self._hold(w, doc_id, record)
                return

    def _hold(self, w: _Workspace[S], doc_id: str, record: Record) -> None:
        w.records.pop(doc_id, None)
        if len(w.records) >= self._records_limit:
            del w.records[next(iter(w.records))]
        w.records[doc_id] = record

    async def records(self, workspace: str, doc_ids: Iterable[str]) -> dict[str, Record]:
        """The whole records of these ids held by the index (only with a change log; call
        after `entries` in the same request, which followed the log): those not held yet
        are read by `_id` and held. Absent ones are left out."""
        assert self._changes is not None, "records are held only with a change log"
        w = self._workspaces.get(workspace)
        if w is None or w.data is None:
            return {}
        ids = list(doc_ids)
        missing = [doc_id for doc_id in ids if doc_id not in w.records]
        if missing:
            await self.refresh(workspace, missing)
        held = w.records
        return {
            doc_id: held[doc_id] for doc_id in ids if doc_id in held and held[doc_id] is not _ABSENT
        }

    async def sync(self) -> None:
        """Apply every change the log holds up to now (re-read the documents other
        replicas changed). Shares a sync with concurrent callers when it started after
        they called."""
        self._sync_asked += 1
        ticket = self._sync_asked
        while self._sync_done < ticket:
            if self._syncing is None or self._syncing.done():
                self._syncing = asyncio.ensure_future(self._follow(self._sync_asked))
                self._syncing.add_done_callback(_consume_error)
            await asyncio.shield(self._syncing)

    async def _follow(self, covers: int) -> None:
        assert self._changes is not None
        self.syncs += 1
        if self._cursor is None:
            # Before any workspace loads: every change up to here is in its scan.
            self._cursor = await self._changes.tail()
        else:
            try:
                cursor, changes = await self._changes.since(self._cursor)
            except Overflow as overflow:
                log.warning("%s fell behind its change log: rebuilding", self.name)
                self._cursor = overflow.tail
                await self.rebuild()
            else:
                self.followed += len(changes)
                by_workspace: dict[str, list[str]] = {}
                for change in changes:
                    by_workspace.setdefault(change.workspace_id, []).append(change.doc_id)
                for workspace, ids in by_workspace.items():
                    await self.refresh(workspace, ids)
                self._cursor = cursor
        self._sync_done = max(self._sync_done, covers)

    def metric_readings(self) -> Iterable[metrics.Reading]:
        if self.closed:
            return
        loaded = [w.data for w in self._workspaces.values() if w.data is not None]
        labels = {"index": self.name}
        yield (
            "crm_read_model_entries",
            "Entries a read index holds, over its loaded workspaces.",
            labels,
            float(sum(len(entries) for entries in loaded)),
        )
        yield (
            "crm_read_model_workspaces",
            "Workspaces a read index has loaded.",
            labels,
            len(loaded),
        )

    def expect_events(self, event_ids: Iterable[str]) -> None:
        """Events whose effect this process has installed (its own writes, refreshed with
        `known` records or re-read after the write returned): the feed need not re-read
        their documents when they arrive."""
        for event_id in event_ids:
            self._expected[event_id] = None
        while len(self._expected) > EXPECTED_EVENTS:
            self._expected.popitem(last=False)

    def expected(self, event_id: str) -> bool:
        """Whether this event was expected (and forget it: each event arrives once)."""
        return self._expected.pop(event_id, 0) is None

    def close(self) -> None:
        """Stop serving and cancel running loads (shutdown)."""
        self.closed = True
        for w in self._workspaces.values():
            if w.building is not None and not w.building.done():
                w.building.cancel()


def _consume_error(future: asyncio.Future[None]) -> None:
    # Awaiting callers log a failed load; this keeps asyncio from warning about a task
    # exception nobody retrieved when no request was waiting (e.g. a periodic rebuild).
    if not future.cancelled():
        future.exception()


async def warm_up(
    index: ReadIndex[Any, Any], list_workspaces: Callable[[], Awaitable[Iterable[str]]]
) -> None:
    """Load the workspaces `list_workspaces()` names, one after another (start-up, in the
    background), so no user request pays the first scan; requests arriving meanwhile wait
    for the same load. A failure is logged: loading then happens on first use."""
    try:
        workspaces = list(await list_workspaces())
    except Exception:
        log.warning("%s warm-up could not list workspaces", index.name, exc_info=True)
        return
    for workspace in workspaces:
        if index.closed:
            return
        await index.entries(workspace)
