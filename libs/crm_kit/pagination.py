"""Opaque keyset cursors for Relay-style connections.

A cursor encodes the sort value and the id of the last row, so the next page is a range
query (`(sort, _id) > (value, id)`) instead of a skip: stable under inserts and cheap at
any depth.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

import orjson

from .bounds import MAX_CURSOR
from .errors import BadUserInput
from .filters import And, Eq, Filter, Or, Range

MAX_PAGE = 200
DEFAULT_PAGE = 20
_CURSOR_SCALARS = (str, int, float, bool, datetime, type(None))


def encode_cursor(sort_value: Any, doc_id: str) -> str:
    if isinstance(sort_value, datetime):
        value: Any = {"$dt": sort_value.isoformat()}
    else:
        value = sort_value
    return base64.urlsafe_b64encode(orjson.dumps([value, doc_id])).decode().rstrip("=")


def decode_cursor(cursor: str, field: str = "after") -> tuple[Any, str]:
    """The (sort value, id) a cursor encodes. Anything not minted by `encode_cursor` is the
    client's error: a scalar sort value (never an object, which a store could read as an
    operator), a string id, a valid date."""
    if len(cursor) > MAX_CURSOR:
        raise BadUserInput(f"malformed cursor (longer than {MAX_CURSOR})", field=field)
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        value, doc_id = orjson.loads(base64.urlsafe_b64decode(padded))
        if isinstance(value, dict) and set(value) == {"$dt"} and isinstance(value["$dt"], str):
            value = datetime.fromisoformat(value["$dt"])
    except Exception:  # noqa: BLE001 - any malformed cursor is the client's input error
        raise BadUserInput("malformed cursor", field=field) from None
    if not isinstance(value, _CURSOR_SCALARS) or not isinstance(doc_id, str):
        raise BadUserInput("malformed cursor", field=field)
    return value, doc_id


def page_size(first: int | None, field: str = "first") -> int:
    if first is None:
        return DEFAULT_PAGE
    if first < 0 or first > MAX_PAGE:
        raise BadUserInput(f"must be between 0 and {MAX_PAGE}", field=field)
    return first


def keyset_filter(
    sort_field: str, descending: bool, after: tuple[Any, str] | None
) -> dict[str, Any]:
    """Mongo filter selecting rows strictly after the cursor in (sort_field, _id) order."""
    if after is None:
        return {}
    value, doc_id = after
    op = "$lt" if descending else "$gt"
    if sort_field == "_id":
        return {"_id": {op: doc_id}}
    return {"$or": [{sort_field: {op: value}}, {sort_field: value, "_id": {op: doc_id}}]}


def keyset_sort(sort_field: str, descending: bool) -> list[tuple[str, int]]:
    direction = -1 if descending else 1
    if sort_field == "_id":
        return [("_id", direction)]
    return [(sort_field, direction), ("_id", direction)]


T = TypeVar("T")
Cursor = tuple[Any, str]


@dataclass
class Page(Generic[T]):
    """One page of a keyset-paged list: the rows, the total the filter selects, and
    whether more rows follow."""

    items: list[T]
    total: int
    has_next: bool


@dataclass(frozen=True)
class Order:
    """A sort order, ties broken by `_id` in the same direction (so keyset cursors are
    exact)."""

    field: str = "_id"
    descending: bool = False

    def mongo_sort(self) -> list[tuple[str, int]]:
        return keyset_sort(self.field, self.descending)

    def after(self, cursor: Cursor | None) -> Filter | None:
        """The rows strictly after `cursor` in this order (None: from the start)."""
        if cursor is None:
            return None
        value, doc_id = cursor
        if self.field == "_id":
            return _beyond("_id", doc_id, self.descending)
        return Or(
            _beyond(self.field, value, self.descending),
            And(Eq(self.field, value), _beyond("_id", doc_id, self.descending)),
        )


def _beyond(field: str, value: Any, descending: bool) -> Filter:
    return Range(field, lt=value) if descending else Range(field, gt=value)


BY_ID = Order()
