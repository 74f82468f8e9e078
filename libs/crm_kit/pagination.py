"""Opaque keyset cursors for Relay-style connections.

A cursor encodes the sort value and the id of the last row, so the next page is a range
query (`(sort, _id) > (value, id)`) instead of a skip: stable under inserts and cheap at
any depth.
"""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any

import orjson

from .errors import BadUserInput

MAX_PAGE = 200
DEFAULT_PAGE = 20


def encode_cursor(sort_value: Any, doc_id: str) -> str:
    if isinstance(sort_value, datetime):
        value: Any = {"$dt": sort_value.isoformat()}
    else:
        value = sort_value
    return base64.urlsafe_b64encode(orjson.dumps([value, doc_id])).decode().rstrip("=")


def decode_cursor(cursor: str, field: str = "after") -> tuple[Any, str]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        value, doc_id = orjson.loads(base64.urlsafe_b64decode(padded))
    except Exception:  # noqa: BLE001 - any malformed cursor is the client's input error
        raise BadUserInput("malformed cursor", field=field) from None
    if isinstance(value, dict) and "$dt" in value:
        value = datetime.fromisoformat(value["$dt"])
    return value, str(doc_id)


def page_size(first: int | None, field: str = "first") -> int:
    if first is None:
        return DEFAULT_PAGE
    if first < 0 or first > MAX_PAGE:
        raise BadUserInput(f"must be between 0 and {MAX_PAGE}", field=field)
    return first


def keyset_filter(sort_field: str, descending: bool, after: tuple[Any, str] | None) -> dict:
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
