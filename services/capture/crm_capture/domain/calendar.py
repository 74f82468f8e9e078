"""Calendars (iCalendar, RFC 5545; invitations per iTIP, RFC 5546) as meetings: one event
per UID with its occurrences in UTC, recurring series expanded within a window around the
invitation, cancelled occurrences named.

An invitation's `SEQUENCE` says which version of a meeting is newer; `METHOD:CANCEL` (or
`STATUS:CANCELLED`) cancels the whole meeting, or one occurrence when it names a
`RECURRENCE-ID`. `METHOD:REPLY` (an attendee's answer) changes no meeting.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import icalendar
import recurring_ical_events

from crm_kit.errors import BadUserInput

from .addresses import Participant, participant, unique

# A series is expanded to at most this many occurrences.
MAX_OCCURRENCES = 100
# A calendar holds at most this many meetings (an upload of a whole calendar export).
MAX_EVENTS = 500
SINGLE = ""  # the occurrence key of a meeting that does not repeat


@dataclass(frozen=True)
class Occurrence:
    key: str  # the original start (RECURRENCE-ID) in UTC ISO form; SINGLE when not a series
    starts_at: datetime  # UTC
    ends_at: datetime  # UTC
    all_day: bool = False
    summary: str | None = None
    description: str | None = None
    location: str | None = None
    cancelled: bool = False

    @property
    def duration_seconds(self) -> int:
        return max(0, int((self.ends_at - self.starts_at).total_seconds()))


@dataclass
class CalendarEvent:
    """One meeting (one UID) as this calendar describes it."""

    uid: str
    sequence: int
    stamp: datetime | None
    method: str  # REQUEST, PUBLISH, CANCEL, REPLY, ... ("PUBLISH" when absent)
    cancelled: bool  # the whole meeting
    recurring: bool
    organizer: Participant | None
    attendees: list[Participant]
    summary: str | None
    description: str | None
    location: str | None
    occurrences: list[Occurrence] = field(default_factory=list)
    # Occurrences this calendar cancels by name (CANCEL with a RECURRENCE-ID).
    cancelled_keys: list[str] = field(default_factory=list)

    @property
    def participants(self) -> list[Participant]:
        return unique([*([self.organizer] if self.organizer else []), *self.attendees])


def as_utc(value: date | datetime, default_zone: Any = UTC) -> tuple[datetime, bool]:
    """A DATE-TIME in UTC (floating ones taken in `default_zone`); a DATE as midnight UTC
    of that day, flagged all-day."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=default_zone)
        return value.astimezone(UTC), False
    return datetime(value.year, value.month, value.day, tzinfo=UTC), True


def _text(component: Any, name: str) -> str | None:
    value = component.get(name)
    if value is None:
        return None
    text = " ".join(str(value).split())
    return text or None


def _person(value: Any) -> Participant | None:
    raw = str(value)
    email = raw.split(":", 1)[1] if raw.lower().startswith("mailto:") else raw
    name = getattr(value, "params", {}).get("CN")
    return participant(email, str(name) if name else None)


def _people(values: Any) -> list[Participant]:
    listed = values if isinstance(values, list) else [values] if values is not None else []
    return unique(p for p in (_person(v) for v in listed) if p is not None)


def _occurrence_key(component: Any) -> str:
    if component.get("RECURRENCE-ID") is None:
        return SINGLE
    start, _ = as_utc(component.decoded("RECURRENCE-ID"))
    return start.isoformat().replace("+00:00", "Z")


def _occurrence(component: Any, key: str) -> Occurrence:
    start, all_day = as_utc(component.decoded("DTSTART"))
    if component.get("DTEND") is not None:
        end, _ = as_utc(component.decoded("DTEND"))
    elif component.get("DURATION") is not None:
        end = start + component.decoded("DURATION")
    else:
        end = start + (timedelta(days=1) if all_day else timedelta(0))
    return Occurrence(
        key=key,
        starts_at=start,
        ends_at=max(end, start),
        all_day=all_day,
        summary=_text(component, "SUMMARY"),
        description=_text(component, "DESCRIPTION"),
        location=_text(component, "LOCATION"),
        cancelled=str(component.get("STATUS", "")).upper() == "CANCELLED",
    )


def _expand(
    calendar: Any, components: list[Any], past: timedelta, future: timedelta, anchor: datetime
) -> list[Occurrence]:
    """The occurrences of one recurring meeting between `anchor - past` and
    `anchor + future` (overrides applied, EXDATEs left out)."""
    series = icalendar.Calendar()
    for timezone in calendar.walk("VTIMEZONE"):
        series.add_component(timezone)
    for component in components:
        series.add_component(component)
    found = []
    for component in recurring_ical_events.of(series).between(anchor - past, anchor + future):
        found.append(_occurrence(component, _occurrence_key(component)))
        if len(found) >= MAX_OCCURRENCES:
            break
    return found


def read_calendar(
    text: str | bytes,
    *,
    past: timedelta,
    future: timedelta,
    now: datetime,
    field: str = "ics",
) -> list[CalendarEvent]:
    """Every meeting of a calendar. Raises BadUserInput when it is not one."""
    try:
        calendar = icalendar.Calendar.from_ical(text)
    except (ValueError, IndexError, KeyError) as error:
        raise BadUserInput(f"not an iCalendar document: {error}", field=field) from None
    if calendar.name != "VCALENDAR":
        raise BadUserInput("not an iCalendar document (no VCALENDAR)", field=field)
    method = str(calendar.get("METHOD", "PUBLISH")).upper()
    by_uid: dict[str, list[Any]] = defaultdict(list)
    for component in calendar.walk("VEVENT"):
        uid = _text(component, "UID")
        if uid and component.get("DTSTART") is not None:
            by_uid[uid].append(component)
    if len(by_uid) > MAX_EVENTS:
        raise BadUserInput(f"at most {MAX_EVENTS} meetings per calendar", field=field)
    try:
        return [
            _event(calendar, method, uid, parts, past, future, now) for uid, parts in by_uid.items()
        ]
    except (ValueError, TypeError, KeyError) as error:
        raise BadUserInput(f"unreadable meeting: {error}", field=field) from None


def _event(
    calendar: Any,
    method: str,
    uid: str,
    components: list[Any],
    past: timedelta,
    future: timedelta,
    now: datetime,
) -> CalendarEvent:
    masters = [c for c in components if c.get("RECURRENCE-ID") is None]
    overrides = [c for c in components if c.get("RECURRENCE-ID") is not None]
    main = masters[0] if masters else overrides[0]
    stamp = as_utc(main.decoded("DTSTAMP"))[0] if main.get("DTSTAMP") is not None else None
    recurring = any(c.get("RRULE") is not None or c.get("RDATE") is not None for c in masters)
    cancelled_whole = bool(masters) and (
        method == "CANCEL" or str(main.get("STATUS", "")).upper() == "CANCELLED"
    )
    event = CalendarEvent(
        uid=uid,
        sequence=max(int(c.get("SEQUENCE", 0)) for c in components),
        stamp=stamp,
        method=method,
        cancelled=cancelled_whole,
        recurring=recurring,
        organizer=_person(main.get("ORGANIZER")) if main.get("ORGANIZER") else None,
        attendees=_people(main.get("ATTENDEE")),
        summary=_text(main, "SUMMARY"),
        description=_text(main, "DESCRIPTION"),
        location=_text(main, "LOCATION"),
    )
    if not masters:
        # Only occurrences of a series (a change or a cancellation of one of them).
        for override in overrides:
            key = _occurrence_key(override)
            if method == "CANCEL":
                event.cancelled_keys.append(key)
            else:
                event.occurrences.append(_occurrence(override, key))
        return event
    if recurring:
        anchor = stamp or now
        occurrences = _expand(calendar, components, past, future, anchor)
        event.occurrences = [o for o in occurrences if not o.cancelled]
        event.cancelled_keys = [o.key for o in occurrences if o.cancelled]
    else:
        event.occurrences = [_occurrence(main, SINGLE)]
    return event
