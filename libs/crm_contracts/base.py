"""Base model for event payloads: camelCase on the wire, tolerant of added fields; and the
one timestamp type every contract uses."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, PlainSerializer
from pydantic.alias_generators import to_camel


def wire_time(moment: datetime) -> str:
    """The wire form of a timestamp: ISO 8601 in UTC with a `Z`
    (`2026-03-02T14:05:00Z`, `2026-03-02T14:05:00.123000Z`). Every producer has written
    exactly this since v1, so changing it would change every event's bytes."""
    return as_utc(moment).isoformat().replace("+00:00", "Z")


def as_utc(moment: datetime) -> datetime:
    """Aware and in UTC. A naive value is taken to be UTC already: the platform writes no
    other, and a tolerant reader keeps an older or foreign producer's event usable."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


# A point in time in a contract: an aware UTC datetime in Python, `wire_time` on the wire.
UtcDateTime = Annotated[
    datetime,
    AfterValidator(as_utc),
    PlainSerializer(wire_time, return_type=str, when_used="json"),
]


class Payload(BaseModel):
    """Additive changes within a version must not break older consumers, so extra keys pass."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="allow")

    def wire(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, mode="json")
