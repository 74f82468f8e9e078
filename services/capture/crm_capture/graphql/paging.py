"""Cursors of the capture lists (all newest first by a timestamp, ties by id)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from crm_kit.errors import BadUserInput
from crm_kit.ids import is_id
from crm_kit.pagination import Cursor, decode_cursor, encode_cursor, page_size


def cursor_of(record: Any, field: str) -> str:
    return encode_cursor(getattr(record, field), record.id)


def parse_after(after: str | None) -> Cursor | None:
    if after is None:
        return None
    value, doc_id = decode_cursor(after, "after")
    if not isinstance(value, datetime) or not is_id(doc_id):
        raise BadUserInput("cursor does not belong to this list", field="after")
    return value, doc_id


def parse_first(first: int | None) -> int:
    return page_size(first, "first")
