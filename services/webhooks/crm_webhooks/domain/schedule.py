"""When to try a failed delivery again: the schedule's delay for that attempt, with jitter
so that the retries of many deliveries failing together spread out."""

from __future__ import annotations

import random
from collections.abc import Sequence

JITTER = 0.2


def retry_delay(schedule: Sequence[float], failed_attempts: int) -> float | None:
    """Seconds before the next attempt after `failed_attempts` failures (None: give up)."""
    if failed_attempts < 1 or failed_attempts > len(schedule):
        return None
    base = schedule[failed_attempts - 1]
    return max(0.0, base * (1 + random.uniform(-JITTER, JITTER)))
