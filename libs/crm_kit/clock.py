"""Time, one way for the whole platform: aware datetimes in UTC at millisecond precision.

MongoDB stores milliseconds, so a value written with microseconds would read back unequal;
every timestamp a service makes comes from `utcnow()` or passes `to_millis()`. A use case
takes a `Clock` (any `() -> datetime`) so tests can set the time (`crm_kit.testing.Clock`).
On the wire (events, request/reply) a timestamp is `iso()`: the contracts' `wire_time`.

Inside a keyed operation (`crm_kit.operation`) `utcnow()` is the operation's start: every
run of a request repeated after a crash computes with the first run's "now".
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from crm_contracts.base import as_utc, wire_time

from .operation import current_operation

__all__ = ["Clock", "as_utc", "iso", "parse_iso", "to_millis", "utcnow", "wall_clock"]

Clock = Callable[[], datetime]


def to_millis(moment: datetime) -> datetime:
    """Aware, in UTC, truncated to the millisecond (a naive value is taken as UTC)."""
    moment = as_utc(moment)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def utcnow() -> datetime:
    """Now, as MongoDB will store it (a keyed operation's start within one)."""
    operation = current_operation()
    if operation is not None:
        return operation.started_at
    return wall_clock()


def wall_clock() -> datetime:
    """Now, as MongoDB will store it, even within a keyed operation (leases, heartbeats)."""
    return to_millis(datetime.now(UTC))


def iso(moment: datetime) -> str:
    """The wire form: ISO 8601 in UTC with a `Z` (see `crm_contracts.base.wire_time`)."""
    return wire_time(moment)


def parse_iso(text: str) -> datetime:
    """An ISO 8601 timestamp (`Z` or an offset; naive means UTC) as an aware UTC datetime.
    Raises ValueError for anything else."""
    return as_utc(datetime.fromisoformat(text.replace("Z", "+00:00")))
