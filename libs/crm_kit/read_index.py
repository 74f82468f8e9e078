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
- with `scan_all` (one scan of the whole collection, each record with its workspace), the
  warm-up (`load_all`) and the periodic rebuilds load every workspace from ONE scan: on
  FerretDB a workspace's scan reads the whole collection anyway (only `_id` filters are
  pushed down), so W workspaces one by one cost W times the collection. Requests for a
  workspace not loaded wait for a running shared scan instead of starting their own. While
  it runs every re-read is noted (whatever its workspace), and re-done once installed;
- local writes call `refresh(workspace, ids)` before they return: the documents are
  re-read by `_id` (read-your-writes within this process);
- writes made elsewhere arrive as events naming a document (`crm_kit.index_feed`), which
  is re-read the same way, so event order and duplicates do not matter. The feed
  subscribes before the index goes live, so every scan starts after the subscription: a
  write either precedes the scan or its event arrives afterwards;
- periodic rebuilds (and one after a NATS reconnect) are the safety net.

Snapshots (`crm_kit.index_snapshot`, with a change log, `scan_all` and a codec): the
warm-up (`load_all`) first loads the newest persisted snapshot and replays the log from
the slot it is current to (re-reading only the changed documents by `_id`) instead of
scanning, in rounds of `CATCH_UP_LIMIT` changes, up to `REPLAY_ROUNDS` of them; no
snapshot, one of another format or entry key, an unreadable one, a log pruned past its
slot or further ahead than the rounds hold (`Overflow`: the rebuild scans) falls back to
the scan. Requests
wait for the restore as for a shared scan. `save_snapshot` writes one once the index has
every workspace of the collection (after its first full load): synced to the log's tail,
then, once the writes whose slots it passed have had time to reach the index
(`SNAPSHOT_SETTLE_SECONDS`) and every re-read started before has been installed, the
entries are captured at once with that slot. Workspaces loaded later (lazily) are in it
too. Once an index holds every workspace of its collection (`complete`: after the
first full load, or a restore), a workspace it does not know starts empty instead of
being scanned: its documents, all written since, reach it as every other change does.

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
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from . import metrics, request_arrival
from .change_log import CATCH_UP_LIMIT, REPLAY_ROUNDS, ChangeLog, Overflow
from .index_entries import Entries, HasId
from .index_snapshot import IndexSnapshots, Saved, SnapshotCodec
from .locks import DocLocks

log = logging.getLogger(__name__)

E = TypeVar("E", bound=HasId)
S = TypeVar("S", bound=Entries[Any])
# A stored record as the service's `scan` yields and `read` returns it (a document, a
# projected document...): only `entry_of` looks inside.
Record = Any
# What `scan_all` yields: a record with the workspace it belongs to.
Placed = tuple[str, Record]
# Re-reads of one document that straddle rebuild swaps before giving up (the rebuild that
# caused the last swap re-reads the document itself then).
REREAD_ATTEMPTS = 3
# Ids of events whose effect this process installed itself (`expect_events`), remembered
# until their message arrives; bounded, since some are never published (a retried write).
EXPECTED_EVENTS = 50_000
# Ids a batch re-read (`read_many`) asks for at once.
READ_BATCH = 500
# Whole records a workspace holds at most (the oldest installed goes first).
RECORDS_LIMIT = 50_000
# What the index holds of a document it knows to be absent (`remember_absent`).
_ABSENT = object()
# Between the sync that fixes a snapshot's slot and the capture of its entries: a write
# of this process has its slot journalled by one write hook and its entry installed by
# the next (a loop turn and the log's hint update later); its slot is passed by the sync
# without a re-read (`ChangeLog.since` skips a process's own slots).
SNAPSHOT_SETTLE_SECONDS = 2.0
# The same at a clean shutdown: no request is being served any more.
STOP_SETTLE_SECONDS = 0.5


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
        scan_all: Callable[[], AsyncIterator[Placed]] | None = None,
        snapshot_codec: SnapshotCodec[E] | None = None,
        prepare: Callable[[S], None] | None = None,
        read_many: Callable[[str, list[str]], Awaitable[Mapping[str, Record]]] | None = None,
        hold_all: bool = False,
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
        again until then. `scan_all()` (optional) yields every record of the collection
        with its workspace, straight from the database: then one scan loads or rebuilds
        every workspace at once (`load_all`, `rebuild`). `snapshot_codec`: how entries go
        into a persisted snapshot (`use_snapshots` turns them on). `prepare(entries)`:
        what requests would otherwise build on first use (a search's joined text, a kept
        order), built as a workspace's entries are installed (a rebuild's fresh entries
        first take over the old ones' columns, `Entries.carry_columns`). `read_many(workspace,
        ids)`: the records of several ids by id (absent ones left out), one query: a
        refresh of several documents (a page's rows not held yet, the log's changes) reads
        them in batches instead of one look-up each. `hold_all` (with a change log): hold
        every record from the start, not only as first read: the scans' records are held
        with their entries and the snapshots carry them (for a small collection whose
        records most pages read, e.g. the companies of a contacts page: after a start from
        the snapshots no page reads one by `_id`); `records_limit` still bounds them."""
        self._scan = scan
        self._scan_all = scan_all
        # The running shared scan, the workspaces whose requests wait for it, and the
        # documents re-read meanwhile, by workspace (re-read again once it is installed).
        self._shared: asyncio.Future[None] | None = None
        self._shared_wanted: set[str] = set()
        self._shared_touched: dict[str, set[str]] | None = None
        self.shared_scans = 0
        self._read = read
        self._read_many = read_many
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
        self._hold_all = hold_all and changes is not None
        # The log's slot up to which every change is applied (None: not followed yet).
        self._cursor: int | None = None
        self._sync_asked = 0
        self._sync_done = 0
        # The ticket (`crm_kit.request_arrival`) at which the latest completed follow began.
        self._covered_from = 0
        self._syncing: asyncio.Future[None] | None = None
        self.syncs = 0
        # Changes applied from the log (made by other replicas, or this one's own writes).
        self.followed = 0
        self._codec = snapshot_codec
        self._prepare = prepare
        self._snapshots: IndexSnapshots | None = None
        # Every workspace of the collection is loaded (a full scan or a snapshot did it).
        self.complete = False
        # The restore from a snapshot while it runs: requests wait for it.
        self._restoring: asyncio.Future[bool] | None = None
        self.restored_from: str | None = None
        # The log slot the restored snapshot is still current to (its replay applied no
        # change): a snapshot written now would hold the same entries.
        self.restored_slot: int | None = None
        # Workspaces' entries installed (loads, restores, rebuilds).
        self.installs = 0
        # Re-reads under way by ticket (a snapshot waits for those started before it).
        self._tickets = 0
        self._inflight: set[int] = set()
        self._settled = asyncio.Event()
        metrics.track(self)

    @property
    def holds_records(self) -> bool:
        """Whether `records` serves whole records (a change log keeps them current)."""
        return self._changes is not None

    def go_live(self) -> None:
        self.live = True

    @property
    def cursor(self) -> int | None:
        """The change-log slot up to which every change is applied (None: not yet)."""
        return self._cursor

    def use_snapshots(self, snapshots: IndexSnapshots) -> bool:
        """Start from and write persisted snapshots (needs a codec, a change log and
        `scan_all`); whether they are on."""
        if self._codec is None or self._changes is None or self._scan_all is None:
            return False
        self._snapshots = snapshots
        return True

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

    def holds_record(self, workspace: str, doc_id: str) -> bool:
        """Whether the whole record of `doc_id` is held (as of the last sync), without
        loading or syncing: a caller about to read one record decides whether a sync (one
        probe) would spare it the read."""
        w = self._workspaces.get(workspace)
        return w is not None and w.data is not None and doc_id in w.records

    async def entries(self, workspace: str) -> S | None:
        """The workspace's entries, loading them on first use; None when the index cannot
        serve (not live, closed, or the load failed: the caller queries the store)."""
        if not self.live or self.closed:
            return None
        restoring = self._restoring
        if restoring is not None and not restoring.done():
            # Its cursor and entries come first; a sync of our own would place the cursor
            # at the log's tail before the snapshot's entries are in.
            with contextlib.suppress(Exception):  # logged by the warm-up; scanned then
                await asyncio.shield(restoring)
        if self._changes is not None:
            try:
                await self.sync()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("%s could not follow its change log", self.name, exc_info=True)
                return None
        w = self._workspaces.setdefault(workspace, _Workspace())
        if w.data is not None or self._adopt(w):
            return w.data
        shared = self._shared
        if shared is not None and not shared.done():
            # Its scan reads this workspace's documents too: a scan of our own would read
            # the whole collection once more.
            self._shared_wanted.add(workspace)
            # A failure is logged by the scan's caller; this workspace then loads alone.
            with contextlib.suppress(Exception):
                await asyncio.shield(shared)
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
        """Re-scan loaded workspaces (the safety net): with `scan_all` all of them from one
        scan, else one after another; queries keep being served from the current entries
        meanwhile."""
        targets = list(workspaces if workspaces is not None else self.workspaces)
        if self._scan_all is not None and len(targets) > 1:
            loaded = {ws for ws in targets if self.loaded(ws) is not None}
            if loaded:
                await self._shared_load(loaded)
            return
        for workspace in targets:
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
            records: dict[str, Record] | None = {} if self._hold_all else None
            async for record in self._scan(workspace):
                entry = self._entry_of(record)
                if entry is not None:
                    fresh.put(_reused(w.data, entry))
                    if records is not None:
                        records[entry.id] = record
            touched, w.touched = w.touched, None
            self._install(w, fresh, touched, started, records)
            await self.refresh(workspace, touched)
        finally:
            w.touched = None

    def _install(
        self,
        w: _Workspace[S],
        fresh: S,
        touched: set[str],
        started: float,
        records: dict[str, Record] | None = None,
    ) -> None:
        """Swap a scan's entries in (the caller then re-reads `touched`). `records`: the
        whole records the entries were made from, by id (`hold_all`), held with them."""
        old = w.data
        held = records if records is not None and self._hold_all else {}
        if old is not None:
            # Until re-read, keep what this process already saw of the documents written
            # during the scan (its own writes among them), with the record it was made from
            # when one is held (else none: read when asked).
            for doc_id in touched:
                entry = old.get(doc_id)
                record = w.records.get(doc_id)
                if entry is None:
                    fresh.drop(doc_id)
                else:
                    fresh.put(entry)
                if not self._hold_all:
                    continue
                if entry is None or record is None or record is _ABSENT:
                    held.pop(doc_id, None)
                else:
                    held[doc_id] = record
            fresh.carry_columns(old)
        if self._prepare is not None:
            self._prepare(fresh)
        w.data = fresh
        # Held records are dropped with the entries they were read with (the rebuild is
        # the safety net for whatever the log and the feed missed); with `hold_all` the
        # scan's own records, those the new entries were made from, take their place.
        w.records = _bounded(held, self._records_limit)
        w.generation += 1
        w.scans += 1
        self.installs += 1
        metrics.READ_MODEL_BUILDS.labels(self.name).observe(time.perf_counter() - started)

    @property
    def scans_all(self) -> bool:
        """Whether one scan loads every workspace (`scan_all` given)."""
        return self._scan_all is not None

    async def load_all(self) -> None:
        """Load every workspace the collection holds (the warm-up; needs `scan_all`):
        from the newest snapshot and the log since, when snapshots are on and one fits,
        else from one scan. Workspaces already loaded are refreshed by the same scan."""
        if not self.live or self.closed:
            return
        if self._can_restore():
            self._restoring = asyncio.ensure_future(self._restore())
            self._restoring.add_done_callback(_consume_error)
            try:
                if await asyncio.shield(self._restoring):
                    return
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("%s could not restore its snapshot: scanning", self.name, exc_info=True)
        await self._shared_load(None)
        self.complete = not self.closed

    def _adopt(self, w: _Workspace[S]) -> bool:
        """Once the index holds every workspace of the collection (`complete`), one it
        does not know has no documents but those written since, which reach it as every
        other change does (this process's writes, the feed, the log): it starts empty,
        without a scan. Whether `w` now has entries."""
        if not self.complete or w.data is not None:
            return w.data is not None
        if w.building is not None and not w.building.done():
            return False
        w.data = self._new_entries()
        return True

    def _can_restore(self) -> bool:
        # Only before anything loaded or followed: the snapshot places the cursor.
        return (
            self._snapshots is not None
            and self._cursor is None
            and self._shared is None
            and not any(
                w.data is not None or w.building is not None for w in self._workspaces.values()
            )
        )

    async def _restore(self) -> bool:
        """Install the newest snapshot and replay the log from its slot; False when there
        is none to use (the caller scans)."""
        assert self._snapshots is not None and self._codec is not None
        started = time.perf_counter()
        # Re-reads meanwhile (events) are noted and done again once the entries are in.
        self._shared_touched = {}
        try:
            loaded = await self._snapshots.load(self.name, self._stored_codec())
        finally:
            touched_all, self._shared_touched = self._shared_touched or {}, None
        if loaded is None or self.closed or self._cursor is not None:
            return False
        for workspace, stored in loaded.workspaces.items():
            fresh = self._new_entries()
            records: dict[str, Record] = {}
            if self._hold_all:
                for entry, record in stored:
                    fresh.put(entry)
                    if record is not None:
                        records[entry.id] = record
            else:
                for entry in stored:
                    fresh.put(entry)
            w = self._workspaces.setdefault(workspace, _Workspace())
            self._install(w, fresh, touched_all.get(workspace, set()), started, records)
        self._cursor = loaded.cursor
        self.complete = True
        self.restored_from = loaded.snapshot_id
        for workspace in {*loaded.workspaces, *touched_all}:
            await self.refresh(workspace, touched_all.get(workspace, ()))
        # Every change since the snapshot's slot, whichever replica made it, in rounds (a
        # pruned log, or more changes than the rounds hold, raises `Overflow` in there: the
        # loaded workspaces are scanned again).
        followed, installs = self.followed, self.installs
        await self._follow(self._sync_asked, rounds=REPLAY_ROUNDS)
        if self.followed == followed and self.installs == installs and not touched_all:
            # No change re-read, no rebuild (a pruned log scans): the entries are the
            # snapshot's own.
            self.restored_slot = self._cursor
        log.info(
            "%s restored from snapshot %s (slot %d, %d workspaces) in %.1f s",
            self.name,
            loaded.snapshot_id,
            loaded.cursor,
            len(loaded.workspaces),
            time.perf_counter() - started,
        )
        return True

    async def save_snapshot(self, settle: float | None = None) -> Saved | None:
        """Write a snapshot of every loaded workspace, current to the log's slot it was
        synced to; None when the index has none to give (snapshots off, not every
        workspace loaded yet, a scan running, closed). `settle`: seconds between the sync
        and the capture (None: `SNAPSHOT_SETTLE_SECONDS`)."""
        if not self._snapshot_ready():
            return None
        assert self._snapshots is not None and self._codec is not None
        await self.sync()
        cursor = self._cursor
        await asyncio.sleep(SNAPSHOT_SETTLE_SECONDS if settle is None else settle)
        await self._settle()
        if cursor is None or not self._snapshot_ready():
            return None
        # Captured at once (no await): every entry as of now, which includes every change
        # at or below `cursor` (with `hold_all`, each with the record it was made from
        # when one is held: both are installed together).
        captured: dict[str, list[Any]] = {}
        for ws, w in self._workspaces.items():
            if w.data is None:
                continue
            if self._hold_all:
                held = w.records
                captured[ws] = [
                    (entry, _record_or_none(held.get(entry.id)))
                    for entry in w.data.entries.values()
                ]
            else:
                captured[ws] = list(w.data.entries.values())
        saved = await self._snapshots.save(self.name, self._stored_codec(), cursor, captured)
        log.info(
            "%s snapshot %s: %d entries at slot %d, %d chunks, %d bytes, %.1f s",
            self.name,
            saved.snapshot_id,
            saved.entries,
            saved.cursor,
            saved.chunks,
            saved.bytes,
            saved.seconds,
        )
        return saved

    def _stored_codec(self) -> SnapshotCodec[Any]:
        """How a snapshot stores an entry: by the index's codec; with `hold_all`, beside
        the record it was made from (None: not held), under a key of its own (a snapshot
        of entries alone holds no records: not used then, the index scans)."""
        codec = self._codec
        assert codec is not None
        if not self._hold_all:
            return codec
        pack, unpack = codec.pack, codec.unpack

        def pack_held(pair: tuple[E, Record | None]) -> tuple[Any, ...]:
            return (pack(pair[0]), pair[1])

        def unpack_held(packed: tuple[Any, ...]) -> tuple[E, Record | None]:
            return unpack(packed[0]), packed[1]

        return SnapshotCodec(key=f"{codec.key}+records", pack=pack_held, unpack=unpack_held)

    def _snapshot_ready(self) -> bool:
        return (
            self._snapshots is not None
            and self.complete
            and self.live
            and not self.closed
            and (self._shared is None or self._shared.done())
            and not any(
                w.building is not None and not w.building.done() for w in self._workspaces.values()
            )
        )

    async def _settle(self) -> None:
        """Wait until every re-read started before now has been installed (or gave up)."""
        upto = self._tickets
        while any(ticket <= upto for ticket in self._inflight):
            self._settled.clear()
            await self._settled.wait()

    async def _shared_load(self, targets: set[str] | None) -> None:
        """One scan of the collection installing `targets` (None: every workspace met,
        and those whose requests waited for it). One runs at a time: a caller waits for
        the running one, then scans again (it may not have covered the caller's
        workspaces, nor writes made before the caller asked)."""
        if self._changes is not None and self._cursor is None:
            # The log's cursor is placed before the scan starts. Only then: a rebuild
            # after an overflow runs inside a sync, which must not wait for itself.
            await self.sync()
        while self._shared is not None and not self._shared.done():
            with contextlib.suppress(Exception):  # its own caller logs its failure
                await asyncio.shield(self._shared)
        if self.closed:
            return
        # Noted from here: a re-read made before the scan reads its document is harmless.
        self._shared_touched = {}
        self._shared_wanted = set()
        self._shared = asyncio.ensure_future(self._scan_shared(targets))
        self._shared.add_done_callback(_consume_error)
        await asyncio.shield(self._shared)

    async def _scan_shared(self, targets: set[str] | None) -> None:
        assert self._scan_all is not None and self._shared_touched is not None
        started = time.perf_counter()
        try:
            fresh: dict[str, S] = {}
            # The entries held now, by workspace (a rebuild's scan reuses their objects).
            held: dict[str, S | None] = {}
            # The records the entries are made from (`hold_all`), by workspace.
            records: dict[str, dict[str, Record]] = {}
            async for workspace, record in self._scan_all():
                if targets is not None and workspace not in targets:
                    continue
                entries = fresh.get(workspace)
                if entries is None:
                    entries = fresh[workspace] = self._new_entries()
                    now = self._workspaces.get(workspace)
                    held[workspace] = now.data if now is not None else None
                entry = self._entry_of(record)
                if entry is not None:
                    entries.put(_reused(held[workspace], entry))
                    if self._hold_all:
                        records.setdefault(workspace, {})[entry.id] = record
            touched_all, self._shared_touched = self._shared_touched, None
            # The scan read the whole collection: a workspace asked for meanwhile and not
            # met is empty (its documents written since are among the touched).
            # So is a workspace whose documents were written during the scan.
            wanted = self._shared_wanted | set(touched_all) if targets is None else targets
            for workspace in wanted:
                fresh.setdefault(workspace, self._new_entries())
            installed = []
            for workspace, entries in fresh.items():
                w = self._workspaces.setdefault(workspace, _Workspace())
                self._install(
                    w,
                    entries,
                    touched_all.get(workspace, set()),
                    started,
                    records.get(workspace, {}),
                )
                installed.append(workspace)
            self.shared_scans += 1
            for workspace in installed:
                await self.refresh(workspace, touched_all.get(workspace, ()))
        finally:
            self._shared_touched = None

    async def refresh(
        self,
        workspace: str,
        doc_ids: Iterable[str],
        known: Mapping[str, Record] | None = None,
    ) -> None:
        """Re-read these documents by `_id` and update or drop their entries (bounded
        concurrency; with `read_many`, in batches of up to `READ_BATCH` ids, one query
        each). A no-op for a workspace that is not loaded. `known` maps ids to records a
        write just returned: installed without a read (needs `older`, so such a record
        never replaces a newer state re-read meanwhile)."""
        ids = list(dict.fromkeys(doc_ids))
        given = known if known is not None and self._older is not None else {}
        if len(ids) == 1:
            await self._refresh_one(workspace, ids[0], given.get(ids[0]))
        elif ids and self._read_many is None:
            await asyncio.gather(*(self._refresh_one(workspace, i, given.get(i)) for i in ids))
        elif ids:
            unread = [i for i in ids if given.get(i) is None]
            written = [i for i in ids if given.get(i) is not None]
            await asyncio.gather(
                *(self._refresh_one(workspace, i, given[i]) for i in written),
                *(
                    self._refresh_ticketed(workspace, unread[at : at + READ_BATCH], None)
                    for at in range(0, len(unread), READ_BATCH)
                ),
            )

    async def _refresh_one(self, workspace: str, doc_id: str, known: Record | None) -> None:
        await self._refresh_ticketed(workspace, [doc_id], known)

    async def _refresh_ticketed(
        self, workspace: str, doc_ids: list[str], known: Record | None
    ) -> None:
        self._tickets += 1
        ticket = self._tickets
        self._inflight.add(ticket)
        try:
            await self._refreshed(workspace, doc_ids, known)
        finally:
            self._inflight.discard(ticket)
            self._settled.set()

    def install(self, workspace: str, known: Mapping[str, Record]) -> list[str]:
        """Records a write just returned, installed as `refresh(known=...)` installs them
        but at once, without a lock, a task or a ticket each (an import batch's deals,
        a thousand a batch): nothing runs between the steps of a record's install, so a
        record no refresh is working on needs no lock. Returns the ids left for
        `refresh` (a refresh of the document is running: it takes its turn under the
        lock; or the index has no `older` to keep a newer state from being replaced)."""
        if self._older is None:
            return list(known)
        left: list[str] = []
        for doc_id, record in known.items():
            if self._locks.busy(f"{workspace}:{doc_id}"):
                left.append(doc_id)
                continue
            w = self._target(workspace, [doc_id])
            if w is not None and w.data is not None:
                self._apply(w, doc_id, record)
        return left

    def _target(self, workspace: str, doc_ids: list[str]) -> _Workspace[S] | None:
        """The workspace a refresh of `doc_ids` updates, its documents marked touched for
        a scan under way; None when there is nothing to update (not loaded, or its first
        scan is running, which re-reads touched documents after)."""
        if self._shared_touched is not None:
            self._shared_touched.setdefault(workspace, set()).update(doc_ids)
        w = self._workspaces.get(workspace)
        if w is None and self.complete:
            w = self._workspaces.setdefault(workspace, _Workspace())
        if w is None or self.closed:
            return None
        if w.touched is not None:
            w.touched.update(doc_ids)
        if w.data is None and not self._adopt(w):
            return None
        return w

    async def _refreshed(self, workspace: str, doc_ids: list[str], known: Record | None) -> None:
        """Re-read `doc_ids` (one query for several, with `read_many`; `known`: the record
        of a single id, installed without a read) under their locks, and install them."""
        w = self._target(workspace, doc_ids)
        if w is None:
            return
        async with contextlib.AsyncExitStack() as held:
            # Each document's lock (taken in a fixed order: batches that overlap cannot
            # deadlock), so re-reads of one document install in the order they read.
            for key in sorted(f"{workspace}:{doc_id}" for doc_id in doc_ids):
                await held.enter_async_context(self._locks.hold(key))
            await held.enter_async_context(self._limit)
            for _ in range(REREAD_ATTEMPTS):
                generation = w.generation
                if known is not None:
                    records = {doc_ids[0]: known}
                elif len(doc_ids) == 1 or self._read_many is None:
                    records = {doc_ids[0]: await self._read(workspace, doc_ids[0])}
                else:
                    records = dict(await self._read_many(workspace, doc_ids))
                if generation != w.generation or w.data is None:
                    known = None  # a rebuild swapped its scan in meanwhile: read again
                    continue
                for doc_id in doc_ids:
                    self._apply(w, doc_id, records.get(doc_id))
                return

    def _apply(self, w: _Workspace[S], doc_id: str, record: Record | None) -> None:
        """`record` (None: the document is gone) as the document's state, unless the entry
        held is newer."""
        assert w.data is not None
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

    def _hold(self, w: _Workspace[S], doc_id: str, record: Record) -> None:
        w.records.pop(doc_id, None)
        if len(w.records) >= self._records_limit:
            del w.records[next(iter(w.records))]
        w.records[doc_id] = record

    async def records(self, workspace: str, doc_ids: Iterable[str]) -> dict[str, Record]:
        """The whole records of these ids held by the index (only with a change log; call
        after `entries` in the same request, which followed the log): those not held yet
        are read by `_id` and held. Absent ones are left out. A held record is the one
        its entry was made from (both are installed together, a rebuild drops every
        held record with the entries it replaces), so a caller need not compare them."""
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
        they called; inside a request (`crm_kit.request_arrival`), a sync completed that
        started after the request arrived covers it already."""
        arrival = request_arrival.arrived()
        if arrival is not None and self._covered_from > arrival:
            return
        self._sync_asked += 1
        ticket = self._sync_asked
        while self._sync_done < ticket:
            if self._syncing is None or self._syncing.done():
                self._syncing = asyncio.ensure_future(self._follow(self._sync_asked))
                self._syncing.add_done_callback(_consume_error)
            await asyncio.shield(self._syncing)

    async def _follow(self, covers: int, rounds: int = 1) -> None:
        """Re-read what the log says changed since the cursor. `rounds`: how many rounds
        of `CATCH_UP_LIMIT` changes it may re-read before it rebuilds instead (a restore
        from a snapshot replays more than a live follower, which is never far behind)."""
        assert self._changes is not None
        self.syncs += 1
        started = request_arrival.ticket()
        if self._cursor is None:
            # Before any workspace loads: every change up to here is in its scan.
            self._cursor = await self._changes.tail()
            self._sync_done = max(self._sync_done, covers)
            self._covered_from = max(self._covered_from, started)
            return
        for round_ in range(rounds):
            last = round_ == rounds - 1
            try:
                cursor, changes = await self._changes.since(
                    self._cursor, most=None if last else CATCH_UP_LIMIT
                )
            except Overflow as overflow:
                log.warning("%s fell behind its change log: rebuilding", self.name)
                self._cursor = overflow.tail
                await self.rebuild()
                break
            self.followed += len(changes)
            by_workspace: dict[str, list[str]] = {}
            for change in changes:
                by_workspace.setdefault(change.workspace_id, []).append(change.doc_id)
            for workspace, ids in by_workspace.items():
                await self.refresh(workspace, ids)
            self._cursor = cursor
            if len(changes) < CATCH_UP_LIMIT:
                break
        self._sync_done = max(self._sync_done, covers)
        # Requests that arrived before this follow started have seen every change.
        self._covered_from = max(self._covered_from, started)

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
        if self._shared is not None and not self._shared.done():
            self._shared.cancel()


def _reused(held: Entries[Any] | None, entry: E) -> E:
    """The entry `held` holds for `entry`'s id when equal to it, else `entry`: a rebuild's
    scan finds most documents unchanged, and its fresh entries then share the held
    objects (entries are never changed in place) instead of holding a copy of each beside
    them until the swap. Building them apart held the held and the fresh entries at once:
    ~250 MB more for 202,000 contacts and 210,000 interactions at the rebuild's peak, which
    the process's allocator kept (RSS 650-705 MB warm, 880-960 after the first rebuild)."""
    if held is None:
        return entry
    same = held.get(entry.id)
    return same if same is not None and same == entry else entry


def _bounded(records: dict[str, Record], limit: int) -> dict[str, Record]:
    """At most `limit` records (the last installed), as `_hold` keeps them."""
    if len(records) <= limit:
        return records
    return dict(list(records.items())[len(records) - limit :])


def _record_or_none(record: Record | None) -> Record | None:
    return None if record is _ABSENT else record


def _consume_error(future: asyncio.Future[Any]) -> None:
    # Awaiting callers log a failed load; this keeps asyncio from warning about a task
    # exception nobody retrieved when no request was waiting (e.g. a periodic rebuild).
    if not future.cancelled():
        future.exception()


async def warm_up(
    index: ReadIndex[Any, Any],
    list_workspaces: Callable[[], Awaitable[Iterable[str]]] | None = None,
) -> None:
    """Load every workspace at start-up, in the background, so no user request pays the
    first scan; requests arriving meanwhile wait for the same load. With `scan_all`, one
    scan of the collection loads them all; otherwise the workspaces `list_workspaces()`
    names load one after another. A failure is logged: loading then happens on first
    use."""
    if index.scans_all:
        try:
            await index.load_all()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.warning("%s warm-up failed; loading on first use", index.name, exc_info=True)
        return
    if list_workspaces is None:
        return
    try:
        workspaces = list(await list_workspaces())
    except Exception:
        log.warning("%s warm-up could not list workspaces", index.name, exc_info=True)
        return
    for workspace in workspaces:
        if index.closed:
            return
        await index.entries(workspace)
