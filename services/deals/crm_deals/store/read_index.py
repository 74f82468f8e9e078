"""The per-process read index of deals (this service's query model).

Why: on FerretDB's SQLite backend every filter other than `{_id: value}` is evaluated over
the whole collection (seconds for a few thousand deals with their stage history), so
lists, the board and the list endpoints cannot be served by queries. The index keeps, per
workspace, a small entry per live deal (`index_entry.Entry`); queries select, sort and page
in memory and then read only the page's documents by `_id`.

Consistency:
- a workspace loads lazily, on first use, with one projected scan;
- local writes re-read the written deal by `_id` before the write returns
  (read-your-writes within this process);
- other replicas' and the importer's writes arrive as the service's own deal events
  (`events/index_feed.py`); each names a deal, which is re-read by `_id`, so the order of
  events does not matter. The feed subscribes before any workspace is scanned, so nothing
  written between scan and subscription is missed;
- a periodic rebuild, and one after a NATS reconnect, is the safety net.

Each re-read of a deal holds that deal's lock (reads of one deal are installed in the
order they were made), and a rebuild that swaps in a fresh scan bumps a generation so a
re-read that straddled the swap reads again instead of installing an older state.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from dataclasses import dataclass

from crm_kit.locks import DocLocks

from .index_data import WorkspaceDeals
from .index_entry import PROJECTION, entry_of
from .protocol import StoreFactory

log = logging.getLogger(__name__)
# Re-reads of one deal that straddle rebuild swaps before giving up (the rebuild re-reads
# the deal itself then).
REREAD_ATTEMPTS = 3


@dataclass
class _Workspace:
    data: WorkspaceDeals | None = None
    building: asyncio.Future[None] | None = None
    # Deals touched while a scan runs; re-read once the scan's result is installed.
    touched: set[str] | None = None
    generation: int = 0
    scans: int = 0


class DealReadIndex:
    def __init__(self, stores: StoreFactory, *, concurrency: int = 16, live: bool = True) -> None:
        """`stores` is the undecorated store factory (reads go straight to the database).
        `live=False` keeps the index unused until `go_live()`: the app calls it once the
        event feed is subscribed."""
        self._stores = stores
        self._workspaces: dict[str, _Workspace] = {}
        self._locks = DocLocks()
        self._limit = asyncio.Semaphore(concurrency)
        self.live = live
        self.closed = False

    def go_live(self) -> None:
        self.live = True

    @property
    def workspaces(self) -> list[str]:
        return [ws for ws, w in self._workspaces.items() if w.data is not None]

    def scans(self, workspace: str) -> int:
        """How many full scans the workspace has had (for tests and diagnostics)."""
        w = self._workspaces.get(workspace)
        return w.scans if w else 0

    async def deals(self, workspace: str) -> WorkspaceDeals | None:
        """The workspace's deals, loading them on first use; None when the index cannot
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
                "deal index of %s failed to load; querying the store", workspace, exc_info=True
            )
            return None
        return w.data

    def _start_build(self, workspace: str, w: _Workspace) -> asyncio.Future[None]:
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
                log.warning("deal index rebuild of %s failed", workspace, exc_info=True)

    async def _build(self, workspace: str, w: _Workspace) -> None:
        w.touched = set()
        try:
            fresh = WorkspaceDeals()
            store = self._stores.for_workspace(workspace)
            async for doc in store.scan_deals(PROJECTION):
                fresh.put(entry_of(doc))
            touched, w.touched = w.touched, None
            old = w.data
            if old is not None:
                # Until re-read below, keep what this process already saw of the deals
                # written during the scan (its own writes among them).
                for deal_id in touched:
                    entry = old.entries.get(deal_id)
                    if entry is None:
                        fresh.drop(deal_id)
                    else:
                        fresh.put(entry)
            w.data = fresh
            w.generation += 1
            w.scans += 1
            await self.refresh(workspace, touched)
        finally:
            w.touched = None

    async def refresh(self, workspace: str, deal_ids: Iterable[str]) -> None:
        """Re-read these deals by `_id` and update or drop their entries (bounded
        concurrency). A no-op for a workspace that is not loaded."""
        ids = list(dict.fromkeys(deal_ids))
        if len(ids) == 1:
            await self._refresh_one(workspace, ids[0])
        elif ids:
            await asyncio.gather(*(self._refresh_one(workspace, i) for i in ids))

    async def _refresh_one(self, workspace: str, deal_id: str) -> None:
        w = self._workspaces.get(workspace)
        if w is None or self.closed:
            return
        if w.touched is not None:
            w.touched.add(deal_id)
        if w.data is None:
            return  # the first scan is running; it re-reads touched deals after
        store = self._stores.for_workspace(workspace)
        async with self._locks.hold(f"{workspace}:{deal_id}"), self._limit:
            for _ in range(REREAD_ATTEMPTS):
                generation = w.generation
                doc = await store.get_deal(deal_id)
                if generation != w.generation or w.data is None:
                    continue  # a rebuild swapped its scan in meanwhile: read again
                if doc is None:
                    w.data.drop(deal_id)
                else:
                    w.data.put(entry_of(doc))
                return

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
