"""Cursor arguments to store queries and back: the sort value of each row goes into its
cursor, and a cursor from another ordering is refused rather than misread."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from crm_kit.errors import BadUserInput
from crm_kit.ids import is_id
from crm_kit.pagination import decode_cursor, encode_cursor, page_size

DATE_FIELDS = {"created_at", "updated_at", "occurred_at"}


def sort_value(record: Any, field: str) -> Any:
    if field == "last_name_key":
        return record.last_name.lower()
    if field == "name_key":
        return " ".join(record.name.split()).casefold()
    return getattr(record, field)


def cursor_of(record: Any, field: str) -> str:
    return encode_cursor(sort_value(record, field), record.id)


def parse_after(after: str | None, field: str) -> tuple[Any, str] | None:
    if after is None:
        return None
    value, doc_id = decode_cursor(after, "after")
    wrong_type = (
        not isinstance(value, datetime) if field in DATE_FIELDS else not isinstance(value, str)
    )
    if wrong_type or not is_id(doc_id):
        raise BadUserInput("cursor does not belong to this list or ordering", field="after")
    return value, doc_id


def parse_first(first: int | None) -> int:
    return page_size(first, "first")
