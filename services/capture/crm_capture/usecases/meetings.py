"""Capturing meetings from calendars (an upload, or an invitation's calendar part): one
record per workspace and UID, one interaction per occurrence; a newer version of the
invitation changes or cancels occurrences instead of adding others (`domain/meeting.py`).
Attendees are matched like an email's parties; a meeting among colleagues only, an
attendee's reply, or a meeting of a rep whose capture is paused is not captured."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from crm_kit.errors import BadUserInput

from ..domain.addresses import participant
from ..domain.calendar import CalendarEvent, read_calendar
from ..domain.meeting import CapturedMeeting, meeting_record_id
from ..domain.quoting import base_subject
from ..domain.settings import CaptureSettings
from ..domain.suggestion import SuggestionSource
from .matching import match, sort_parties
from .scope import Scope
from .settings import settings_of

MAX_ICS_CHARS = 2_000_000


@dataclass
class MeetingOutcome:
    uid: str
    status: str  # captured | updated | cancelled | unchanged | ignored
    reason: str | None = None
    meeting: CapturedMeeting | None = None


def _window(event: CalendarEvent, scope: Scope) -> tuple[datetime, datetime] | None:
    if not event.recurring:
        return None
    anchor = event.stamp or scope.now()
    past = timedelta(days=scope.config.meeting_past_days)
    future = timedelta(days=scope.config.meeting_future_days)
    return anchor - past, anchor + future


async def capture_calendar(
    scope: Scope,
    ics: str,
    channel: str,
    *,
    internal: Sequence[str] = (),
    mailbox_user: str | None = None,
    settings: CaptureSettings | None = None,
) -> list[MeetingOutcome]:
    if len(ics) > MAX_ICS_CHARS:
        raise BadUserInput(f"a calendar may have at most {MAX_ICS_CHARS} characters", field="ics")
    events = read_calendar(
        ics,
        past=timedelta(days=scope.config.meeting_past_days),
        future=timedelta(days=scope.config.meeting_future_days),
        now=scope.now(),
    )
    settings = settings or await settings_of(scope)
    return [
        await _capture_event(scope, event, channel, settings, internal, mailbox_user)
        for event in events
    ]


async def _capture_event(
    scope: Scope,
    event: CalendarEvent,
    channel: str,
    settings: CaptureSettings,
    internal: Sequence[str],
    mailbox_user: str | None,
) -> MeetingOutcome:
    if event.method == "REPLY":
        return MeetingOutcome(event.uid, "ignored", "an attendee's reply")
    parties = sort_parties(settings, event.participants, internal)
    organizer = event.organizer.email if event.organizer else None
    rep_emails = [p.email for p in parties.reps]
    ordered = ([organizer] if organizer in rep_emails else []) + rep_emails
    rep_user = mailbox_user or next(
        (user for user in (settings.rep_of(e) for e in ordered) if user), None
    )
    if rep_user is None and scope.acts_for_user:
        rep_user = scope.subject
    if settings.paused(rep_user):
        return MeetingOutcome(event.uid, "ignored", "capture paused")
    if not parties.external:
        reason = "excluded parties only" if parties.excluded else "colleagues only"
        return MeetingOutcome(event.uid, "ignored", reason)
    record_id = meeting_record_id(scope.workspace_id, event.uid)
    found = await match(
        scope,
        parties.external,
        SuggestionSource.MEETING,
        subject=base_subject(event.summary),
        meeting_id=record_id,
    )
    window = _window(event, scope)
    at = scope.now()
    kept = [*parties.reps, *parties.external]

    def describe(meeting: CapturedMeeting) -> None:
        meeting.organizer = organizer if organizer in {p.email for p in kept} else None
        meeting.participants = [p.label for p in kept][:50]
        meeting.external = [p.email for p in parties.external][:50]
        meeting.rep_user_id = meeting.rep_user_id or rep_user

    applied = False

    async def update(meeting: CapturedMeeting) -> bool:
        nonlocal applied
        applied = meeting.apply(event, found, window=window, at=at)
        if applied:
            describe(meeting)
        return applied

    existing = await scope.store.get_meeting(record_id)
    if existing is None:
        fresh = CapturedMeeting(
            id=record_id,
            workspace_id=scope.workspace_id,
            uid=event.uid,
            sequence=-1,
            stamp=None,
            channel=channel,
            captured_at=at,
            updated_at=at,
        )
        await update(fresh)
        if await scope.store.add_meeting(fresh):
            status = "cancelled" if fresh.cancelled else "captured"
            return MeetingOutcome(event.uid, status, meeting=fresh)
    changed = await scope.store.change_meeting(record_id, update)
    if not applied or changed is None:
        return MeetingOutcome(event.uid, "unchanged", "an older or repeated version", changed)
    return MeetingOutcome(event.uid, "cancelled" if changed.cancelled else "updated", None, changed)


async def rematch(scope: Scope, meeting_id: str) -> CapturedMeeting | None:
    """Match a meeting's attendees again (a suggestion was accepted)."""
    meeting = await scope.store.get_meeting(meeting_id)
    if meeting is None:
        return None
    people = [p for p in (participant(e) for e in meeting.external) if p is not None]
    fresh = await match(
        scope,
        people,
        SuggestionSource.MEETING,
        subject=base_subject(meeting.summary),
        meeting_id=meeting.id,
    )

    async def attach(current: CapturedMeeting) -> bool:
        return current.rematched(fresh)

    return await scope.store.change_meeting(meeting_id, attach)
