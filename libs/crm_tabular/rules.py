"""Consistency rules: data that contradicts itself is a row warning or error, by rule.

- `future_date` (every target; error): a moment that has happened (created, engaged,
  occurred, a won or lost deal's close) lies after now + `future_tolerance` (1 day, for
  time zones);
- `closed_before_engaged` (deals; error): closed before its first contact;
- `closed_without_close_date` (deals; error): won or lost without a close date;
- `closed_without_engage_date` (deals; warning): won or lost without an engage date (its
  sales cycle is unknown);
- `created_after_close` (deals; warning): a created date after the close date.

Each severity is a field of `Rules`, so a caller can make a warning an error or back.

The created date comes from the data: its column when mapped; for deals without one, the
earliest of the engage and close dates (never the time of the import, which would make a
deal closed years ago look created today, with a cycle of zero).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from .apply import MappedRow
from .dates import date_as_datetime
from .errors import Severity
from .targets import TargetSpec

CLOSED_STAGES = frozenset({"won", "lost", "closed won", "closed lost"})


@dataclass(frozen=True)
class Rules:
    now: datetime  # aware
    future_tolerance: timedelta = timedelta(days=1)
    future_date: Severity = Severity.ERROR
    closed_before_engaged: Severity = Severity.ERROR
    closed_without_close_date: Severity = Severity.ERROR
    closed_without_engage_date: Severity = Severity.WARNING
    created_after_close: Severity = Severity.WARNING
    closed_stages: frozenset[str] = field(default=CLOSED_STAGES)


def moment(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, date):
        return date_as_datetime(value)
    return None


def check_row(target: TargetSpec, row: MappedRow, rules: Rules) -> None:
    """Add the rules' issues to `row` (one already mapped without errors) and, for deals,
    fill `created_at` from the data."""
    if target.name == "deals":
        _check_deal(row, rules)
    latest = rules.now + rules.future_tolerance
    for name in target.past:
        when = moment(row.values.get(name))
        if when is not None and when > latest:
            _issue(row, rules.future_date, "future_date",
                   f"is in the future (after {latest:%Y-%m-%d %H:%M} UTC)",
                   field=name, value=str(row.values[name]))  # fmt: skip


def is_closed(values: dict[str, Any], rules: Rules) -> bool:
    stage = values.get("stage")
    return isinstance(stage, str) and " ".join(stage.split()).casefold() in rules.closed_stages


def _check_deal(row: MappedRow, rules: Rules) -> None:
    values = row.values
    engaged = moment(values.get("engaged_at"))
    closed = moment(values.get("close_date"))
    if is_closed(values, rules):
        if closed is None:
            _issue(row, rules.closed_without_close_date, "closed_without_close_date",
                   f"the deal is {values['stage']} but has no close date",
                   field="close_date")  # fmt: skip
        elif closed > rules.now + rules.future_tolerance:
            _issue(row, rules.future_date, "future_date",
                   f"the deal is {values['stage']} but closes in the future",
                   field="close_date", value=str(values["close_date"]))  # fmt: skip
        if engaged is None:
            _issue(row, rules.closed_without_engage_date, "closed_without_engage_date",
                   f"the deal is {values['stage']} with no engage date: its sales cycle is "
                   "unknown", field="engaged_at")  # fmt: skip
        elif closed is not None and closed < engaged:
            _issue(row, rules.closed_before_engaged, "closed_before_engaged",
                   f"the deal closed on {closed:%Y-%m-%d}, before it was engaged on "
                   f"{engaged:%Y-%m-%d}", field="close_date",
                   value=str(values["close_date"]))  # fmt: skip
    created = moment(values.get("created_at"))
    if created is None:
        known = [when for when in (engaged, closed) if when is not None]
        if known:
            values["created_at"] = min(known)
    elif closed is not None and created > closed + rules.future_tolerance:
        _issue(row, rules.created_after_close, "created_after_close",
               f"created on {created:%Y-%m-%d}, after it closed on {closed:%Y-%m-%d}",
               field="created_at", value=str(values["created_at"]))  # fmt: skip


def _issue(row: MappedRow, severity: Severity, code: str, reason: str, **where: Any) -> None:
    if severity is Severity.ERROR:
        row.error(code, reason, **where)
    else:
        row.warn(code, reason, **where)
