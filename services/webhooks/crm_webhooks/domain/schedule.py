"""When to try a delivery again: after the receiver failed, the schedule's delay for that
attempt; after a failure of our own (the database or NATS unreachable, a crash's leftovers),
soon, then less and less often. Both with jitter, so that the retries of many deliveries
failing together spread out."""

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


# After a failure of our own: 0.25 s, doubling with each further delivery of the message,
# at most 10 s. Such a failure is over when the database or NATS is back (a restart takes
# seconds), and then every delivery it held should go out within about its last pause; the
# doubling keeps a long outage (or a bug that fails every try) to one try per delivery every
# 10 s. A failure after the receiver answered (recording the outcome) repeats the attempt,
# which the receiver de-duplicates by its `webhook-id`.
ERROR_RETRY_FIRST = 0.25
ERROR_RETRY_MAX = 10.0


def error_retry_delay(deliveries: int) -> float:
    """Seconds before trying again after a failure of our own on the message's
    `deliveries`-th delivery (1: its first)."""
    base = min(ERROR_RETRY_MAX, ERROR_RETRY_FIRST * 2 ** max(0, min(deliveries - 1, 16)))
    return base * (1 + random.uniform(-JITTER, JITTER))
