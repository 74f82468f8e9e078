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
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from . import metrics
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


@dataclass
class _Workspace(Generic[S]):
    data: S | None = None
    building: asyncio.Future[None] | None = None
    # Documents touched while a scan runs; re-read once the scan's result is installed.
    touched: set[str] | None = None
    generation: int = 0
    scans: int = 0


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
    ) -> None:
        """`scan(workspace)` yields every record of the workspace (straight from the
        database, not through an indexed store); `read(workspace, id)` one record by `_id`,
        None when absent or not the workspace's; `entry_of(record)` its entry, None when
        the index does not hold it (e.g. deleted); `new_entries()` an empty container;
        `older(incoming, held)` (optional, e.g. by a version field) says an entry is older
        than the one held, which it then does not replace: records a write returned
        (`refresh(..., known=)`) may be installed after a newer state was re-read.
        `live=False` keeps the index unused until `go_live()`: a service calls it once its
        event feed is subscribed."""
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
        metrics.track(self)

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
                    return
                held = w.data.get(doc_id)
                if held is None or self._older is None or not self._older(entry, held):
                    w.data.put(entry)
                return

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
