"""`constructed` makes what `model_construct` makes; `wire_event` (an envelope for data
already in its wire form, made without validation) holds and encodes exactly what
`new_event` would: the same JSON bytes, the same dump, the same copy with a new id, read
back the same; an extra attribute falls back to pydantic."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from pydantic import BaseModel

from crm_contracts.base import constructed
from crm_contracts.envelope import CloudEvent, WireEvent, new_event, wire_event
from crm_contracts.import_batches import ImportRowResult, RowIssueOut

AT = datetime(2026, 3, 2, 14, 5, 0, 123000, tzinfo=UTC)
DATA: list[dict[str, Any]] = [
    {},
    {"deal": {"id": "d1", "ownerId": None, "contactIds": [], "amountMinor": 125050}},
    {"deal": {"title": "Ünïcode — ok", "tags": ["a", "b"], "nested": {"x": [1, None, True]}}},
    {"company": {"updatedAt": "2026-03-02T14:05:00Z", "size": None, "deleted": False}},
]


def _pair(data: dict[str, Any], **extra: Any) -> tuple[CloudEvent, CloudEvent]:
    given: dict[str, Any] = {
        "event_type": "crm.deals.deal.created.v1",
        "source": "crm/deals",
        "workspace": "w1",
        "data": data,
        "event_id": "e1",
        "time": AT,
        **extra,
    }
    return new_event(**given), wire_event(**given)


@pytest.mark.parametrize("data", DATA)
@pytest.mark.parametrize("subject", ["d1", None])
def test_the_same_envelope_and_bytes_as_new_event(
    data: dict[str, Any], subject: str | None
) -> None:
    made, wired = _pair(data, subject=subject)
    assert isinstance(wired, WireEvent)
    assert wired.to_json() == made.to_json()
    assert wired.model_dump() == made.model_dump()
    assert wired.model_dump(mode="json", exclude_none=True) == made.model_dump(
        mode="json", exclude_none=True
    )
    assert wired.model_fields_set == made.model_fields_set
    assert CloudEvent.from_json(wired.to_json()) == made
    assert (b'"subject"' in wired.to_json()) is (subject is not None)


@pytest.mark.parametrize(
    "moment",
    [
        datetime(2026, 3, 2, 16, 5, tzinfo=timezone(timedelta(hours=2))),
        datetime(2026, 3, 2, 14, 5, 0, 1, tzinfo=UTC),
        datetime(2026, 3, 2, 14, 5),  # naive: taken as UTC, as the contract reads it
    ],
)
def test_times_are_held_and_written_in_utc_as_new_event_writes_them(moment: datetime) -> None:
    made, wired = _pair({"a": 1}, subject="d1", time=moment)
    assert wired.time == made.time and wired.time.tzinfo == UTC
    assert wired.to_json() == made.to_json()


def test_without_an_id_or_time_each_event_gets_its_own_now() -> None:
    first = wire_event(event_type="t", source="s", workspace="w", data={})
    second = wire_event(event_type="t", source="s", workspace="w", data={})
    assert first.id != second.id and len(first.id) == 32
    assert first.time.tzinfo is UTC and first.time <= second.time


def test_a_copy_with_a_new_id_keeps_the_fast_encoding_and_the_bytes() -> None:
    # The writer derives event ids within a keyed operation this way (`_prepare`).
    made, wired = _pair(DATA[1], subject="d1")
    made2 = made.model_copy(update={"id": "e2"})
    wired2 = wired.model_copy(update={"id": "e2"})
    assert isinstance(wired2, WireEvent)
    assert wired2.to_json() == made2.to_json()
    assert wired.id == "e1"  # the original is unchanged


def test_an_extra_attribute_is_encoded_by_pydantic_as_for_any_event() -> None:
    made, wired = _pair({"a": 1}, subject="d1")
    made2 = made.model_copy(update={"partition": "p1", "none": None})
    wired2 = wired.model_copy(update={"partition": "p1", "none": None})
    assert wired2.model_extra == {"partition": "p1", "none": None}
    assert wired2.to_json() == made2.to_json()
    assert b'"partition":"p1"' in wired2.to_json() and b'"none"' not in wired2.to_json()


@pytest.mark.parametrize(
    ("cls", "values", "given"),
    [
        (RowIssueOut, {"code": "c", "field": "f", "message": "m", "severity": "warning"}, None),
        (ImportRowResult, {"row": 2, "outcome": "failed", "id": None, "issues": []}, None),
        (
            WireEvent,
            {"specversion": "1.0", "id": "e1", "source": "s", "type": "t", "time": AT,
             "subject": None, "datacontenttype": "application/json", "workspace": "w",
             "data": {}},
            ("id", "source", "type", "time", "subject", "workspace", "data"),
        ),
    ],
)  # fmt: skip
def test_constructed_is_what_model_construct_makes(
    cls: type[BaseModel], values: dict[str, Any], given: tuple[str, ...] | None
) -> None:
    made = constructed(cls, dict(values), given)
    expected = cls.model_construct(
        **{k: v for k, v in values.items() if given is None or k in given}
    )
    assert type(made) is cls
    assert made.__dict__ == expected.__dict__ and list(made.__dict__) == list(expected.__dict__)
    assert made.model_fields_set == expected.model_fields_set
    assert made.__pydantic_extra__ == expected.__pydantic_extra__
    assert made.__pydantic_private__ == expected.__pydantic_private__
    assert made == expected
    assert made.model_dump(mode="json") == expected.model_dump(mode="json")
