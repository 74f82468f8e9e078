"""Keeps the read index (`store/read_index.py`) current with writes made elsewhere: other
replicas, the importer (`crm import deals` writes the database directly; its events go
out through the outbox relay), anything that publishes the service's deal events.

An ephemeral ordered JetStream consumer on `crm.deals.deal.>` (new messages only) is
subscribed BEFORE the index serves anything, so every workspace's first scan starts after
the subscription: a write either precedes the scan or its event arrives afterwards. Each
event only names a deal (`subject`) in a workspace; the deal is re-read by `_id`, so
duplicates and order do not matter. Events are coalesced per deal while a refresh runs.

Every instance sees every event (no durable, no queue group): each keeps its own index.
A periodic rebuild and a rebuild after a NATS reconnect are the safety net for anything
missed (e.g. `stale_at` pushed out by a consumer on another replica, which publishes no
event).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

import orjson
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import DeliverPolicy

from crm_contracts.envelope import HEADER_WORKSPACE
from crm_contracts.streams import stream_for

from ..store.read_index import DealReadIndex

log = logging.getLogger(__name__)

DEAL_EVENTS = "crm.deals.deal.>"
# How often the safety loop looks at the NATS reconnect counter and the rebuild clock.
TICK_SECONDS = 1.0


class IndexFeed:
    def __init__(
        self,
        index: DealReadIndex,
        nc: Client,
        js: JetStreamContext,
        *,
        rebuild_seconds: float,
    ) -> None:
        self.index = index
        self._nc = nc
        self._js = js
        self._rebuild_seconds = rebuild_seconds
        self._subscription: JetStreamContext.PushSubscription | None = None
        self._pending: dict[str, set[str]] = {}
        self._wake = asyncio.Event()
        self.received = 0
        self.rebuilds = 0
        self._refreshing = False

    @property
    def idle(self) -> bool:
        """No event waits for its re-read (tests wait for this before acting behind the
        service's back)."""
        return not self._pending and not self._refreshing

    async def start(self) -> None:
        """Subscribe, then let the index serve (and so load workspaces)."""
        self._subscription = await self._js.subscribe(
            DEAL_EVENTS,
            stream=stream_for("deals").name,
            ordered_consumer=True,
            deliver_policy=DeliverPolicy.NEW,
            cb=self._on_message,
        )
        self.index.go_live()

    async def stop(self) -> None:
        """Unsubscribe (a live push subscription would hold up the NATS drain) and stop
        the index from serving or loading."""
        self.index.close()
        if self._subscription is not None:
            with contextlib.suppress(Exception):
                await self._subscription.unsubscribe()
            self._subscription = None

    async def _on_message(self, msg: Msg) -> None:
        # Only the workspace and the deal id matter; never fail the subscription.
        try:
            body = orjson.loads(msg.data)
            workspace = (msg.headers or {}).get(HEADER_WORKSPACE) or body.get("workspace")
            deal_id = body.get("subject")
        except (orjson.JSONDecodeError, AttributeError):
            log.warning("unreadable deal event on %s ignored by the index", msg.subject)
            return
        self.received += 1
        if isinstance(workspace, str) and isinstance(deal_id, str):
            self._pending.setdefault(workspace, set()).add(deal_id)
            self._wake.set()

    async def run_refresher(self) -> None:
        """Re-read the deals named by events, a batch per workspace at a time."""
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
                        log.warning("index refresh of %d deals failed", len(ids), exc_info=True)
            finally:
                self._refreshing = False

    async def run_safety(self) -> None:
        """Rebuild every loaded workspace every `rebuild_seconds` and after a reconnect."""
        reconnects = self._nc.stats["reconnects"]
        next_rebuild = time.monotonic() + self._rebuild_seconds
        while True:
            await asyncio.sleep(TICK_SECONDS)
            now_reconnects = self._nc.stats["reconnects"]
            reconnected = now_reconnects != reconnects
            if reconnected and not self._nc.is_connected:
                continue  # rebuild once the connection is back
            if reconnected or time.monotonic() >= next_rebuild:
                reconnects = now_reconnects
                if reconnected:
                    log.info("NATS reconnected: rebuilding the deal index")
                await self.index.rebuild()
                self.rebuilds += 1
                next_rebuild = time.monotonic() + self._rebuild_seconds
