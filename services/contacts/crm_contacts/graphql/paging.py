"""Cursor arguments to list queries and back: the sort value of each row goes into its
cursor, and a cursor from another ordering is refused rather than misread."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from crm_kit.errors import BadUserInput
from crm_kit.ids import is_id
from crm_kit.pagination import Cursor, decode_cursor, encode_cursor, page_size

DATE_FIELDS = {"created_at", "updated_at", "occurred_at"}


def cursor_of(record: Any, field: str) -> str:
    """`field` is an attribute of the record (the sort keys are: `last_name_key`...)."""
    return encode_cursor(getattr(record, field), record.id)


def parse_after(after: str | None, field: str) -> Cursor | None:
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
