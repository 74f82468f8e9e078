"""Reminders and overdue notices, for every workspace: the scheduler's pass. What fires
and what it says is the domain's (`domain.reminders`); that it fires once, whatever the
replicas, is the store's (`store/schedule.py`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from functools import partial

from ..domain.reminders import Firing
from ..store.port import TasksStore

# A scheduler pass: fire what is due by `now`, at most `limit`; what this process fired.
FireDue = Callable[[datetime, int], Awaitable[list[Firing]]]


async def fire_due(store: TasksStore, now: datetime, limit: int) -> list[Firing]:
    return await store.fire_due(now, limit)


def reminders(store: TasksStore) -> FireDue:
    """The scheduler's pass over `store` (every workspace)."""
    return partial(fire_due, store)
