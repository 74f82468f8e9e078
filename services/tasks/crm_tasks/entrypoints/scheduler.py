"""Reminders and overdue notices: every replica runs this loop.

A due item is fired once whatever the replicas (`store/schedule.py`: a unique firing
record carrying the events in its outbox, then the task's flag); the write path wakes the
relay for it at once. With the default 1 s tick the event leaves well within the 5 s
bound. How late each item fired is the `crm_scheduler_lag_seconds` metric (kind `reminder`
or `overdue`), counted by the replica that fired it.
"""

from __future__ import annotations

import asyncio
import logging

from crm_kit import metrics
from crm_kit.clock import Clock, utcnow

from ..config import SERVICE
from ..usecases.reminders import FireDue

log = logging.getLogger(__name__)


class Scheduler:
    def __init__(
        self,
        fire_due: FireDue,
        *,
        interval: float = 0.5,
        batch: int = 200,
        clock: Clock = utcnow,
        service: str = SERVICE,
    ) -> None:
        self._fire_due = fire_due
        # The metric's `service` label (a test gives its scheduler a name of its own: the
        # metric registry is one per process, shared with any other scheduler running).
        self._service = service
        self._interval = interval
        self._batch = batch
        self._clock = clock
        self.fired = 0

    async def tick(self) -> int:
        """One pass; returns how many items this replica fired."""
        firings = await self._fire_due(self._clock(), self._batch)
        for firing in firings:
            metrics.observe_scheduler_lag(self._service, firing.job, firing.lag_seconds)
        self.fired += len(firings)
        return len(firings)

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
