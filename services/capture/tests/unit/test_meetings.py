"""Meetings from calendars: one interaction per occurrence in UTC, a newer SEQUENCE
changes or cancels instead of adding, an older one changes nothing, a reply or a meeting
among colleagues is not captured, unknown attendees wait as suggestions."""

from __future__ import annotations

from datetime import timedelta

import pytest

from crm_capture.domain.calendar import read_calendar
from crm_capture.usecases import meetings, settings
from crm_capture.usecases.inputs import SettingsInput
from crm_kit.clock import iso
from crm_kit.errors import BadUserInput

from .conftest import World

MEETING_CAPTURED = "crm.capture.meeting.captured.v1"
MEETING_CANCELLED = "crm.capture.meeting.cancelled.v1"


def ics(body: str, method: str = "REQUEST") -> str:
    return f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nMETHOD:{method}\r\n{body}END:VCALENDAR\r\n"


def vevent(uid: str, sequence: int, lines: str, attendee: str = "ann@acme.example") -> str:
    return (
        f"BEGIN:VEVENT\r\nUID:{uid}\r\nSEQUENCE:{sequence}\r\nDTSTAMP:20260301T100000Z\r\n"
        f"ORGANIZER:mailto:rita@ourco.example\r\nATTENDEE:mailto:{attendee}\r\n"
        f"SUMMARY:Weekly\r\n{lines}END:VEVENT\r\n"
    )


WEEKLY = "DTSTART:20260302T150000Z\r\nDTEND:20260302T153000Z\r\nRRULE:FREQ=WEEKLY;COUNT=3\r\n"


@pytest.fixture
async def ann(world: World) -> str:
    await settings.update_settings(world.scope(), SettingsInput(internal_domains=["ourco.example"]))
    world.directory.add_company("acme.example", "Acme")
    return world.directory.add_contact("ann@acme.example", "acme.example").id


async def capture(world: World, text: str) -> list[meetings.MeetingOutcome]:
    return await meetings.capture_calendar(world.scope(subject="rita", roles="rep"), text, "upload")


async def test_a_series_becomes_one_interaction_per_occurrence(world: World, ann: str) -> None:
    [outcome] = await capture(world, ics(vevent("m1", 0, WEEKLY)))
    assert outcome.status == "captured" and outcome.meeting is not None
    assert [iso(o.starts_at) for o in outcome.meeting.live_occurrences] == [
        "2026-03-02T15:00:00Z", "2026-03-09T15:00:00Z", "2026-03-16T15:00:00Z",
    ]  # fmt: skip
    events = world.events(MEETING_CAPTURED)
    assert len(events) == 3 and len({e.data["interactionId"] for e in events}) == 3
    assert all(e.data["contactIds"] == [ann] and e.data["loggedBy"] == "rita" for e in events)
    assert {e.data["durationSeconds"] for e in events} == {1800}


async def test_a_newer_sequence_moves_and_drops_occurrences(world: World, ann: str) -> None:
    await capture(world, ics(vevent("m1", 0, WEEKLY)))
    moved = vevent("m1", 1, WEEKLY.replace("COUNT=3", "COUNT=2").replace("T15", "T16"))
    [outcome] = await capture(world, ics(moved))
    assert outcome.status == "updated" and outcome.meeting is not None
    live = outcome.meeting.live_occurrences
    assert [iso(o.starts_at) for o in live] == ["2026-03-02T16:00:00Z", "2026-03-09T16:00:00Z"]
    # Moving the whole series moves its occurrences' identities (RECURRENCE-ID is the
    # original start): the three old ones leave the timeline, the two new ones join it.
    cancelled = sorted(e.data["occurredAt"] for e in world.events(MEETING_CANCELLED))
    assert cancelled == ["2026-03-02T15:00:00Z", "2026-03-09T15:00:00Z", "2026-03-16T15:00:00Z"]
    captured = [e.data["occurredAt"] for e in world.events(MEETING_CAPTURED)]
    assert captured[3:] == ["2026-03-02T16:00:00Z", "2026-03-09T16:00:00Z"]


async def test_a_newer_sequence_moving_one_occurrence_revises_it(world: World, ann: str) -> None:
    [first] = await capture(world, ics(vevent("m1", 0, WEEKLY)))
    moved = vevent(
        "m1", 1, "RECURRENCE-ID:20260309T150000Z\r\nDTSTART:20260309T170000Z\r\n"
        "DTEND:20260309T173000Z\r\n"
    )  # fmt: skip
    [outcome] = await capture(world, ics(vevent("m1", 1, WEEKLY) + moved))
    assert outcome.status == "updated" and outcome.meeting is not None
    revised = [e.data for e in world.events(MEETING_CAPTURED) if e.data["revision"] == 2]
    assert len(revised) == 1 and revised[0]["occurredAt"] == "2026-03-09T17:00:00Z"
    assert first.meeting is not None
    same_interaction = first.meeting.interaction_id("2026-03-09T15:00:00Z")
    assert revised[0]["interactionId"] == same_interaction  # the same interaction, moved
    assert world.events(MEETING_CANCELLED) == []


async def test_an_older_or_repeated_version_changes_nothing(world: World, ann: str) -> None:
    await capture(world, ics(vevent("m1", 2, WEEKLY)))
    sent = len(world.db.outbox)
    [older] = await capture(world, ics(vevent("m1", 1, WEEKLY.replace("T15", "T09"))))
    [same] = await capture(world, ics(vevent("m1", 2, WEEKLY)))
    assert older.status == same.status == "unchanged"
    assert len(world.db.outbox) == sent


async def test_cancelling_one_occurrence_and_then_the_meeting(world: World, ann: str) -> None:
    await capture(world, ics(vevent("m1", 0, WEEKLY)))
    one = vevent("m1", 1, "RECURRENCE-ID:20260309T150000Z\r\nDTSTART:20260309T150000Z\r\n")
    await capture(world, ics(one, method="CANCEL"))
    assert [e.data["occurredAt"] for e in world.events(MEETING_CANCELLED)] == [
        "2026-03-09T15:00:00Z"
    ]
    [whole] = await capture(world, ics(vevent("m1", 2, WEEKLY), method="CANCEL"))
    assert whole.status == "cancelled" and whole.meeting is not None
    assert whole.meeting.live_occurrences == []
    assert len(world.events(MEETING_CANCELLED)) == 3


async def test_time_zones_all_day_and_floating_times(world: World, ann: str) -> None:
    timezone = (
        "BEGIN:VTIMEZONE\r\nTZID:Asia/Tokyo\r\nBEGIN:STANDARD\r\nDTSTART:19700101T000000\r\n"
        "TZOFFSETFROM:+0900\r\nTZOFFSETTO:+0900\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\n"
    )
    tokyo = vevent("tokyo", 0, "DTSTART;TZID=Asia/Tokyo:20260310T090000\r\nDURATION:PT45M\r\n")
    all_day = vevent("day", 0, "DTSTART;VALUE=DATE:20260311\r\nDTEND;VALUE=DATE:20260312\r\n")
    outcomes = await capture(world, ics(timezone + tokyo + all_day))
    by_uid = {o.uid: o.meeting for o in outcomes}
    [first] = by_uid["tokyo"].live_occurrences  # type: ignore[union-attr]
    assert iso(first.starts_at) == "2026-03-10T00:00:00Z"
    assert first.ends_at - first.starts_at == timedelta(minutes=45)
    [day] = by_uid["day"].live_occurrences  # type: ignore[union-attr]
    assert iso(
        day.starts_at
    ) == "2026-03-11T00:00:00Z" and day.ends_at - day.starts_at == timedelta(days=1)


async def test_replies_colleagues_only_and_unknown_attendees(world: World, ann: str) -> None:
    reply = vevent("m1", 0, "DTSTART:20260302T150000Z\r\n")
    [answered] = await capture(world, ics(reply, method="REPLY"))
    assert answered.status == "ignored"
    internal = vevent("m2", 0, "DTSTART:20260302T150000Z\r\n", attendee="sam@ourco.example")
    [colleagues] = await capture(world, ics(internal))
    assert colleagues.status == "ignored" and colleagues.reason == "colleagues only"
    stranger = vevent("m3", 0, "DTSTART:20260302T150000Z\r\n", attendee="new@prospect.example")
    [waiting] = await capture(world, ics(stranger))
    assert waiting.status == "captured" and waiting.meeting is not None
    assert waiting.meeting.contact_ids == [] and world.events(MEETING_CAPTURED) == []
    suggestion = world.events("crm.capture.suggestion.created.v1")[0].data
    assert suggestion["email"] == "new@prospect.example" and suggestion["source"] == "meeting"


async def test_not_a_calendar_is_refused_with_the_field(world: World) -> None:
    with pytest.raises(BadUserInput) as raised:
        await capture(world, "this is not a calendar")
    assert raised.value.field == "ics"


def test_a_long_series_is_expanded_within_the_window_only() -> None:
    from datetime import UTC, datetime

    daily = vevent("d", 0, "DTSTART:20260301T090000Z\r\nRRULE:FREQ=DAILY\r\n")
    [event] = read_calendar(
        ics(daily), past=timedelta(days=7), future=timedelta(days=30), now=datetime.now(UTC)
    )
    assert event.recurring and 30 <= len(event.occurrences) <= 31  # from DTSTAMP, 30 days on
