"""Keeps a read index (`crm_kit.read_index`) current with writes made elsewhere: other
replicas, importers writing the database directly (their events go out through the outbox
relay), anything that publishes the service's own events.

An ephemeral ordered JetStream consumer on the caller's subjects (new messages only) is
subscribed BEFORE the index serves anything (`start` calls `go_live` after subscribing),
so every workspace's first scan starts after the subscription: a write either precedes
the scan or its event arrives afterwards. Each event only names a document in a workspace
(`locate`); the document is re-read by `_id`, so duplicates and order do not matter.
Events are coalesced per document while a refresh runs. Events of this process's own
writes, whose state it installed from the write's result (`ReadIndex.expect_events`), are
skipped: on a hot path that halves the index's reads.

Every instance sees every event (no durable, no queue group): each keeps its own index.
A periodic rebuild and a rebuild after a NATS reconnect are the safety net for anything
missed (writes that publish no event, messages lost while disconnected).

With snapshots (`snapshot_seconds` > 0 and a snapshot store, `crm_kit.index_snapshot`)
the safety loop also writes the index's snapshot every `snapshot_seconds` while its log
moved, and `stop` writes one before the index closes (a clean shutdown), so the next
start of any replica loads it instead of scanning.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol

import orjson
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import DeliverPolicy

from crm_contracts.envelope import HEADER_MSG_ID, HEADER_WORKSPACE

from . import read_index
from .index_snapshot import IndexSnapshots
from .periodic import paced
from .read_index import ReadIndex, warm_up

log = logging.getLogger(__name__)

# How often the safety loop looks at the NATS reconnect counter and the rebuild clock.
TICK_SECONDS = 1.0
# The snapshot written at a clean shutdown gives up after this (the next start scans).
STOP_SNAPSHOT_SECONDS = 120.0
# (workspace, document id) an event names, or None when it names none the index keeps.
Located = tuple[str, str] | None
Locate = Callable[[Mapping[str, Any], Mapping[str, str]], Located]


def cloud_event_subject(body: Mapping[str, Any], headers: Mapping[str, str]) -> Located:
    """The default `locate`: a CloudEvent's workspace (header, else body) and `subject`
    (the id of the entity the event is about)."""
    workspace = headers.get(HEADER_WORKSPACE) or body.get("workspace")
    doc_id = body.get("subject")
    if isinstance(workspace, str) and isinstance(doc_id, str):
        return workspace, doc_id
    return None


class IndexFeed:
    def __init__(
        self,
        index: ReadIndex[Any, Any],
        nc: Client | None,
        js: JetStreamContext | None,
        *,
        subjects: Sequence[str],
        stream: str,
        rebuild_seconds: float,
        locate: Locate = cloud_event_subject,
        snapshot_seconds: float = 0.0,
    ) -> None:
        """`subjects` of `stream` whose events name documents of the index; `locate` turns
        one event (JSON body, headers) into (workspace, document id); `snapshot_seconds`:
        how often the index's snapshot is written (0: never; the index must have
        snapshots on, `ReadIndex.use_snapshots`)."""
        self.index = index
        self._nc = nc
        self._js = js
        self._subjects = list(subjects)
        self._stream = stream
        self._rebuild_seconds = rebuild_seconds
        self._locate = locate
        self._subscriptions: list[JetStreamContext.PushSubscription] = []
        self._pending: dict[str, set[str]] = {}
        self._wake = asyncio.Event()
        self.received = 0
        self.skipped = 0
        self.rebuilds = 0
        # The last periodic rebuild's seconds, and the pause before the next (`paced`).
        self.rebuild_took = 0.0
        self.rebuild_pause = rebuild_seconds
        self._refreshing = False
        self._snapshot_seconds = snapshot_seconds
        self.snapshots = 0
        # The log slot of the last snapshot written (none is written while it stands).
        self._snapshot_slot: int | None = None

    @property
    def idle(self) -> bool:
        """No event waits for its re-read (tests wait for this before acting behind the
        service's back)."""
        return not self._pending and not self._refreshing

    async def start(self) -> None:
        """Subscribe, then let the index serve (and so load workspaces)."""
        assert self._js is not None, "a feed without JetStream cannot start"
        for subject in self._subjects:
            self._subscriptions.append(
                await self._js.subscribe(
                    subject,
                    stream=self._stream,
                    ordered_consumer=True,
                    deliver_policy=DeliverPolicy.NEW,
                    cb=self.on_message,
                )
            )
        self.index.go_live()

    async def stop(self) -> None:
        """Write the index's snapshot (with snapshots on), stop the index from serving or
        loading, and unsubscribe (a live push subscription would hold up the NATS
        drain)."""
        if self._snapshot_seconds > 0:
            try:
                await asyncio.wait_for(
                    self.snapshot(settle=read_index.STOP_SETTLE_SECONDS), STOP_SNAPSHOT_SECONDS
                )
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("%s snapshot at shutdown failed", self.index.name, exc_info=True)
        self.index.close()
        await self.unsubscribe()

    async def snapshot(self, settle: float | None = None) -> bool:
        """Write the index's snapshot unless the last one is current; whether one was."""
        if self.index.holds_records and self.index.complete:
            await self.index.sync()  # the log's tail: has anything changed since?
        if self._snapshot_slot is None:
            # Started from a snapshot nothing has changed since: it is the one to write.
            # (Written again, the contacts' 412,000 entries cost ~5 s of the process's CPU
            # on its event loop, 120 s after every start: in the middle of the reads.)
            self._snapshot_slot = self.index.restored_slot
        if self._snapshot_slot is not None and self._snapshot_slot == self.index.cursor:
            return False
        saved = await self.index.save_snapshot(settle)
        if saved is None:
            return False
        self._snapshot_slot = saved.cursor
        self.snapshots += 1
        return True

    async def unsubscribe(self) -> None:
        """Stop hearing events (the index keeps serving: tests use it to show what keeps
        an index current without its feed)."""
        subscriptions, self._subscriptions = self._subscriptions, []
        for subscription in subscriptions:
            with contextlib.suppress(Exception):
                await subscription.unsubscribe()

    async def on_message(self, msg: Msg) -> None:
        # Only the workspace and the document id matter; never fail the subscription.
        msg_id = (msg.headers or {}).get(HEADER_MSG_ID)
        if msg_id is not None and self.index.expected(msg_id):
            # The outbox relay sends each event with its id as the message id: an event of
            # this process's own write (an import's thousand a batch) is known by its
            # headers, without reading its body.
            self.received += 1
            self.skipped += 1
            return
        try:
            body = orjson.loads(msg.data)
            located = self._locate(body, msg.headers or {}) if isinstance(body, dict) else None
        except (orjson.JSONDecodeError, AttributeError, TypeError, ValueError):
            log.warning("unreadable event on %s ignored by the %s", msg.subject, self.index.name)
            return
        self.received += 1
        event_id = body.get("id") if isinstance(body, dict) else None
        if isinstance(event_id, str) and self.index.expected(event_id):
            self.skipped += 1  # this process installed the write's state itself
            return
        if located is not None:
            workspace, doc_id = located
            self._pending.setdefault(workspace, set()).add(doc_id)
            self._wake.set()

    async def run_refresher(self) -> None:
        """Re-read the documents named by events, a batch per workspace at a time."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            pending, self._pending = self._pending, {}
            self._refreshing = True
            try:
                for workspace, ids in pending.items():
                    try:
                        await self.index.refresh(workspace, ids)
                    except asyncio.CancelledError:
                        raise
                    except Exception:
                        # The periodic rebuild repairs what a failed re-read left behind.
                        log.warning(
                            "%s refresh of %d documents failed",
                            self.index.name,
                            len(ids),
                            exc_info=True,
                        )
            finally:
                self._refreshing = False

    async def run_safety(self) -> None:
        """Rebuild every loaded workspace every `rebuild_seconds` and after a reconnect."""
        assert self._nc is not None, "a feed without NATS has no reconnects to watch"
        reconnects = self._nc.stats["reconnects"]
        next_rebuild = time.monotonic() + self._rebuild_seconds
        next_snapshot = time.monotonic() + self._snapshot_seconds
        while True:
            await asyncio.sleep(TICK_SECONDS)
            if self._snapshot_seconds > 0 and time.monotonic() >= next_snapshot:
                try:
                    await self.snapshot()
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.warning("%s snapshot failed", self.index.name, exc_info=True)
                next_snapshot = time.monotonic() + self._snapshot_seconds
            now_reconnects = self._nc.stats["reconnects"]
            reconnected = now_reconnects != reconnects
            if reconnected and not self._nc.is_connected:
                continue  # rebuild once the connection is back
            if reconnected or time.monotonic() >= next_rebuild:
                reconnects = now_reconnects
                if reconnected:
                    log.info("NATS reconnected: rebuilding the %s", self.index.name)
                started = time.monotonic()
                await self.index.rebuild()
                self.rebuilds += 1
                # A rebuild is a scan of every loaded document: one that took long (a
                # large workspace on FerretDB) waits proportionally longer for the next,
                # not to keep the database busy (a reconnect still rebuilds at once).
                self.rebuild_took = time.monotonic() - started
                self.rebuild_pause = paced(self._rebuild_seconds, self.rebuild_took)
                next_rebuild = time.monotonic() + self.rebuild_pause


class Runtime(Protocol):
    """What `start_feed` needs of the service runtime (`crm_kit.runtime.ServiceRuntime`)."""

    @property
    def nc(self) -> Client | None: ...

    @property
    def js(self) -> JetStreamContext | None: ...

    def spawn(self, coro: Awaitable[None], name: str) -> None: ...


async def start_feed(
    runtime: Runtime,
    index: ReadIndex[Any, Any],
    *,
    subjects: Sequence[str],
    stream: str,
    rebuild_seconds: float,
    name: str,
    list_workspaces: Callable[[], Awaitable[Iterable[str]]] | None = None,
    locate: Locate = cloud_event_subject,
    snapshots: IndexSnapshots | None = None,
    snapshot_seconds: float = 0.0,
) -> IndexFeed:
    """A service's index wiring at start-up: subscribe the feed (the index then goes live,
    so every scan starts after the subscription), and spawn on the runtime its refresher
    (`<name>-refresher`), its safety rebuilds (`<name>-rebuild`) and the warm-up
    (`<name>-warm-up`): every workspace from one scan for an index with `scan_all`, else
    the workspaces `list_workspaces()` names. With `snapshots` and `snapshot_seconds` > 0
    (and an index that can use them) the warm-up starts from the newest snapshot and the
    feed writes them. Call `stop()` on the feed before stopping the runtime."""
    if snapshots is None or snapshot_seconds <= 0 or not index.use_snapshots(snapshots):
        snapshot_seconds = 0.0
    feed = IndexFeed(
        index,
        runtime.nc,
        runtime.js,
        subjects=subjects,
        stream=stream,
        rebuild_seconds=rebuild_seconds,
        locate=locate,
        snapshot_seconds=snapshot_seconds,
    )
    await feed.start()
    runtime.spawn(feed.run_refresher(), f"{name}-refresher")
    runtime.spawn(feed.run_safety(), f"{name}-rebuild")
    runtime.spawn(warm_up(index, list_workspaces), f"{name}-warm-up")
    return feed
