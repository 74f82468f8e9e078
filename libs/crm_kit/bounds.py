"""The documented maximums of client input, in one place for every service.

A bound keeps one request from storing megabytes, fanning out into thousands of events or
overflowing a date: each check raises `BadUserInput` naming the input path at fault, so
the client sees which value to shorten. The README's "Limits" section lists every bound.
"""

from __future__ import annotations

from collections.abc import Sized
from typing import Any

import orjson

from crm_tabular.targets import MAX_CUSTOM_KEY

from .errors import BadUserInput

MAX_NAME = 200  # names, titles, labels
MAX_TEXT = 10_000  # descriptions, notes, bodies
MAX_SHORT = 500  # next steps, sources, products, reasons
MAX_ID = 100  # ids the client sends (owners, companies, contacts, teams)
MAX_URL = 2_000
MAX_EMAILS = 20  # per contact
MAX_PHONES = 20  # per contact
MAX_TAGS = 50  # per record
MAX_CUSTOM_FIELDS = 100  # keys per record
MAX_CUSTOM_FIELDS_BYTES = 16_000  # a record's custom fields as JSON
MAX_LINKED = 50  # contacts and participants named on one interaction
MAX_CONTACTS_PER_DEAL = 50
MAX_TEAM_MEMBERS = 500
MAX_STAGES = 30  # open stages per pipeline
MAX_PLAYBOOK = 50  # task templates per stage
MAX_DAY_OFFSET = 3_650  # ten years: a due date further out is a mistake
MAX_ROTTING_DAYS = 3_650
MAX_CURSOR = 1_000  # characters of a pagination cursor


def text(value: str | None, limit: int, field: str) -> str | None:
    """`value` unchanged if at most `limit` characters (None passes)."""
    if value is not None and len(value) > limit:
        raise BadUserInput(f"must be at most {limit} characters", field=field)
    return value


def count(items: Sized | None, limit: int, field: str) -> None:
    """At most `limit` items (None passes)."""
    if items is not None and len(items) > limit:
        raise BadUserInput(f"must have at most {limit} items", field=field)


def custom_fields(value: dict[str, Any], field: str) -> None:
    """A record's custom fields: at most MAX_CUSTOM_FIELDS names of MAX_CUSTOM_KEY
    characters, MAX_CUSTOM_FIELDS_BYTES as JSON (which bounds every value and list)."""
    count(value, MAX_CUSTOM_FIELDS, field)
    for key in value:
        text(key, MAX_CUSTOM_KEY, f"{field}.{key[:MAX_CUSTOM_KEY]}")
    if len(orjson.dumps(value)) > MAX_CUSTOM_FIELDS_BYTES:
        raise BadUserInput(f"must be at most {MAX_CUSTOM_FIELDS_BYTES} bytes", field=field)


def in_range(value: int | None, low: int, high: int, field: str) -> int | None:
    """`value` unchanged if `low <= value <= high` (None passes)."""
    if value is not None and not low <= value <= high:
        raise BadUserInput(f"must be between {low} and {high}", field=field)
    return value
