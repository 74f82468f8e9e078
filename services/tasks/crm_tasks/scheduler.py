"""Reminders and overdue notices.

Every replica runs this loop. A due item is fired by inserting a `scheduled_fires`
document with a unique id and the events in its outbox (then the task's flag,
`reminder_sent` / `overdue_sent`, is set): two replicas never both fire it, and a crash
after the insert still publishes (the outbox relay sweeps). Each fire is published at once
by `_id`. With the default 0.5 s tick the event leaves well
within the 5 s bound.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime

from .domain.model import utcnow
from .events.publish import overdue_events, reminder_events
from .store.protocol import FIRES, TasksStore, fire_id
from .usecases.base import Notify

log = logging.getLogger(__name__)


class Scheduler:
    def __init__(
        self,
        store: TasksStore,
        notify_outbox: Notify,
        *,
        interval: float = 0.5,
        batch: int = 200,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._store = store
        self._notify = notify_outbox
        self._interval = interval
        self._batch = batch
        self._clock = clock
        self.reminders_fired = 0
        self.overdue_fired = 0

    async def tick(self) -> int:
        """One pass; returns how many items this replica fired."""
        now = self._clock()
        reminded, overdue = await self._store.claim_due(
            now, self._batch, reminder_events, overdue_events
        )
        self.reminders_fired += len(reminded)
        self.overdue_fired += len(overdue)
        for task in reminded:
            self._notify(FIRES, fire_id("reminder_sent", task))
        for task in overdue:
            self._notify(FIRES, fire_id("overdue_sent", task))
        return len(reminded) + len(overdue)

    async def run(self) -> None:
        while True:
            try:
                fired = await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("scheduler pass failed; will retry")
                fired = 0
            # A full batch means more are waiting: go again at once.
            if fired < self._batch:
                await asyncio.sleep(self._interval)
