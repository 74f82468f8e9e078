"""`UNSET`: a value the caller did not give, as distinct from `None` (give "clear it").
Use case inputs default their optional fields to it, so an update changes only what a
client sent; the GraphQL layer maps Strawberry's own UNSET to it."""

from __future__ import annotations

from enum import Enum
from typing import Final, TypeVar

T = TypeVar("T")


class Unset(Enum):
    UNSET = "UNSET"

    def __repr__(self) -> str:
        return "UNSET"


UNSET: Final = Unset.UNSET


def or_default(value: T | Unset, default: T) -> T:
    """`value`, or `default` when it was not given."""
    return default if isinstance(value, Unset) else value
