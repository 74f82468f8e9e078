"""Base model for event payloads: camelCase on the wire, tolerant of added fields; and the
one timestamp type every contract uses."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar

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


Model = TypeVar("Model", bound=BaseModel)
_set_attribute = object.__setattr__


def constructed(
    cls: type[Model], values: dict[str, Any], fields_set: Iterable[str] | None = None
) -> Model:
    """What `cls.model_construct(**values)` makes (not validated), for `values` holding
    every field of `cls` by its name, in declared order, and nothing else; `fields_set`:
    the fields counted as given (default: all). Without `model_construct`'s generic loop
    over the fields, ~10 µs a model: an import batch makes a few per row, thousands a
    batch. For models without private attributes or post-init (tested against
    `model_construct` for each model it makes)."""
    made = cls.__new__(cls)
    _set_attribute(made, "__dict__", values)
    _set_attribute(
        made, "__pydantic_fields_set__", set(values if fields_set is None else fields_set)
    )
    _set_attribute(
        made, "__pydantic_extra__", {} if cls.model_config.get("extra") == "allow" else None
    )
    _set_attribute(made, "__pydantic_private__", None)
    return made


class Payload(BaseModel):
    """Additive changes within a version must not break older consumers, so extra keys pass."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="allow")

    def wire(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, mode="json")
