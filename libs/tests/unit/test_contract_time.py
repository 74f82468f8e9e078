"""Contract timestamps are aware UTC datetimes in Python and unchanged bytes on the wire."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import orjson

from crm_contracts import contacts, tasks
from crm_contracts.envelope import CloudEvent, new_event
from crm_kit.clock import iso, parse_iso, to_millis, utcnow

# As every producer has written events since v1 (fractional seconds only when non-zero).
WIRE = (
    b'{"specversion":"1.0","id":"e1","source":"crm/contacts",'
    b'"type":"crm.contacts.interaction.logged.v1","time":"2026-03-02T14:05:00.123000Z",'
    b'"subject":"d1","datacontenttype":"application/json","workspace":"w1",'
    b'"data":{"id":"d1","kind":"call","occurredAt":"2026-03-02T14:05:00Z","contactIds":[]}}'
)


def test_an_event_read_and_written_again_is_the_same_bytes() -> None:
    event = CloudEvent.from_json(WIRE)
    assert event.time == datetime(2026, 3, 2, 14, 5, 0, 123000, tzinfo=UTC)
    assert event.to_json() == WIRE
    payload = contacts.InteractionLogged.model_validate(event.data)
    assert payload.occurred_at == datetime(2026, 3, 2, 14, 5, tzinfo=UTC)
    assert payload.wire()["occurredAt"] == "2026-03-02T14:05:00Z"


def test_timestamps_are_aware_utc_whatever_was_sent() -> None:
    naive = tasks.TaskSnapshot.model_validate(
        {"id": "t", "title": "x", "type": "call", "status": "open", "priority": "normal",
         "dueAt": "2026-03-02T14:05:00", "remindAt": "2026-03-02T16:05:00+02:00",
         "source": {"kind": "manual"}}
    )  # fmt: skip
    assert naive.due_at == datetime(2026, 3, 2, 14, 5, tzinfo=UTC)
    assert naive.remind_at is not None and naive.remind_at.utcoffset() == timedelta(0)
    assert naive.wire()["remindAt"] == "2026-03-02T14:05:00Z"


def test_new_events_carry_their_time_in_the_wire_form() -> None:
    paris = timezone(timedelta(hours=1))
    event = new_event(
        event_type=contacts.CONTACT_DELETED,
        source="crm/contacts",
        workspace="w1",
        data={"id": "c1"},
        time=datetime(2026, 1, 1, 10, 0, tzinfo=paris),
    )
    assert orjson.loads(event.to_json())["time"] == "2026-01-01T09:00:00Z"


def test_the_kit_clock_agrees_with_the_wire() -> None:
    now = utcnow()
    assert now.tzinfo is UTC and now.microsecond % 1000 == 0
    assert parse_iso(iso(now)) == now
    assert to_millis(datetime(2026, 1, 1, 0, 0, 0, 123456)) == datetime(
        2026, 1, 1, 0, 0, 0, 123000, tzinfo=UTC
    )
