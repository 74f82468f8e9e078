"""Every access event (`crm.tasks.team.changed.v1`, `crm.tasks.access_settings.changed.v1`)
heard by every instance of a service, so that each holds the teams and sharing settings
in memory (`crm_kit.access_view.AccessViews.hold`) instead of reading them once a request.

The durable consumer (`access_subscription`) still stores the projection: one replica
handles each event, and a starting process reads the stored document once per workspace.
The feed is an ordered JetStream consumer of its own per process, replaying the stream's
access events from its start: a process joins what the durable stored with every event
the stream keeps, so an event published before this process subscribed but not yet
stored by the durable still reaches it. Events are applied by their own versions (a join,
`AccessView.join`), so replays, duplicates and order change nothing.

A change therefore takes effect in a process as soon as its feed delivers the event (the
same moment, give or take a NATS hop, as the durable consumer's write did before), on
every replica. The safety net, as for the read indexes (`crm_kit.index_feed`): after a
NATS reconnect and every `reread_seconds`, each held workspace's stored document is read
and joined again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from typing import TYPE_CHECKING

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import DeliverPolicy
from pydantic import ValidationError

from crm_contracts import tasks as contract
from crm_contracts.envelope import CloudEvent
from crm_contracts.streams import stream_for

from .access_view import AccessViews, access_subscription

if TYPE_CHECKING:
    from .runtime import ServiceRuntime

log = logging.getLogger(__name__)

TICK_SECONDS = 1.0
# How often every held view is joined with its stored document again (what a lost
# message would leave out; a reconnect re-reads at once).
REREAD_SECONDS = 60.0
REREAD_ENV = "ACCESS_VIEW_REREAD_SECONDS"
SUBJECTS = (contract.TEAM_CHANGED, contract.ACCESS_SETTINGS_CHANGED)


class AccessFeed:
    def __init__(
        self,
        views: AccessViews,
        nc: Client | None,
        js: JetStreamContext | None,
        *,
        reread_seconds: float = REREAD_SECONDS,
    ) -> None:
        self.views = views
        self._nc = nc
        self._js = js
        self._reread_seconds = reread_seconds
        self._subscriptions: list[JetStreamContext.PushSubscription] = []
        self.received = 0
        self.rereads = 0

    async def start(self) -> None:
        """Subscribe (replaying the stream's access events), then hold the views."""
        assert self._js is not None, "a feed without JetStream cannot start"
        for subject in SUBJECTS:
            self._subscriptions.append(
                await self._js.subscribe(
                    subject,
                    stream=stream_for(contract.SERVICE).name,
                    ordered_consumer=True,
                    deliver_policy=DeliverPolicy.ALL,
                    cb=self.on_message,
                )
            )
        self.views.hold()

    async def stop(self) -> None:
        """Read per request again, and unsubscribe."""
        self.views.release()
        subscriptions, self._subscriptions = self._subscriptions, []
        for subscription in subscriptions:
            with contextlib.suppress(Exception):
                await subscription.unsubscribe()

    async def on_message(self, msg: Msg) -> None:
        # Never fail the subscription: an unreadable event is logged and skipped (the
        # durable consumer dead-letters it; the periodic re-read brings what it stored).
        try:
            event = CloudEvent.from_json(msg.data)
            if event.type == contract.TEAM_CHANGED:
                self.views.heard_team(
                    event.workspace, contract.TeamChanged.model_validate(event.data)
                )
            elif event.type == contract.ACCESS_SETTINGS_CHANGED:
                self.views.heard_settings(
                    event.workspace, contract.AccessSettingsChanged.model_validate(event.data)
                )
            else:
                return
        except (ValidationError, ValueError):
            log.warning("unreadable access event on %s ignored", msg.subject)
            return
        self.received += 1

    async def run_safety(self) -> None:
        """Join the stored documents again after a reconnect and every `reread_seconds`."""
        assert self._nc is not None, "a feed without NATS has no reconnects to watch"
        reconnects = self._nc.stats["reconnects"]
        next_reread = time.monotonic() + self._reread_seconds
        while True:
            await asyncio.sleep(TICK_SECONDS)
            now_reconnects = self._nc.stats["reconnects"]
            reconnected = now_reconnects != reconnects
            if reconnected and not self._nc.is_connected:
                continue  # once the connection is back
            if reconnected or time.monotonic() >= next_reread:
                reconnects = now_reconnects
                try:
                    await self.views.reload()
                    self.rereads += 1
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.warning("access views' re-read failed", exc_info=True)
                next_reread = time.monotonic() + self._reread_seconds


async def start_access_views(
    runtime: ServiceRuntime,
    durable: str,
    views: AccessViews,
    *,
    reread_seconds: float | None = None,
) -> AccessFeed:
    """A service's access wiring at start-up: the durable consumer that stores the
    projection, this process's feed (after which `views` holds), and its safety re-reads
    (`access-view-reread`, every `reread_seconds`: else $ACCESS_VIEW_REREAD_SECONDS, else
    `REREAD_SECONDS`). Call `stop()` on the feed before stopping the runtime."""
    if reread_seconds is None:
        reread_seconds = max(1.0, float(os.environ.get(REREAD_ENV) or REREAD_SECONDS))
    await access_subscription(durable, views).start(runtime)
    feed = AccessFeed(views, runtime.nc, runtime.js, reread_seconds=reread_seconds)
    await feed.start()
    runtime.spawn(feed.run_safety(), "access-view-reread")
    return feed
