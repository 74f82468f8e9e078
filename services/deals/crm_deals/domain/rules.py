"""Validation and normalisation of deal input (GraphQL, the importer). Each check raises
`BadUserInput` naming the client's field (`input.<camelCase name>`)."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from crm_kit.errors import BadUserInput

from .money import parse_amount, validate_currency

MAX_TITLE = 200
_CUSTOM_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_ -]{0,63}$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def title(value: Any, field: str = "input.title") -> str:
    text = (value or "").strip() if isinstance(value, str) else ""
    if not text:
        raise BadUserInput("title must not be empty", field=field)
    if len(text) > MAX_TITLE:
        raise BadUserInput(f"title is longer than {MAX_TITLE} characters", field=field)
    return text


def optional_text(value: Any, field: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise BadUserInput("must be a string", field=field)
    return value.strip() or None


def iso_date(value: Any, field: str) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str) and _DATE.match(value):
        try:
            return date.fromisoformat(value).isoformat()
        except ValueError:
            pass
    raise BadUserInput("must be a date YYYY-MM-DD", field=field)


def probability(value: Any, field: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 100:
        raise BadUserInput("probability must be an integer 0-100", field=field)
    return value


def money(amount: Any, currency: Any) -> tuple[int, str]:
    code = validate_currency(currency if isinstance(currency, str) else "", "input.currency")
    if isinstance(amount, int | float) and not isinstance(amount, bool):
        raise BadUserInput(
            "amount must be a decimal string like '1250.50' (never a float)", field="input.amount"
        )
    return parse_amount(amount if isinstance(amount, str) else "", code), code


def contact_ids(primary: str | None, others: Any, field: str = "input.contactIds") -> list[str]:
    if others is None:
        others = []
    if not isinstance(others, list) or not all(isinstance(i, str) and i for i in others):
        raise BadUserInput("must be a list of contact ids", field=field)
    ordered = [primary] if primary else []
    ordered.extend(i for i in others if i not in ordered)
    return ordered


def custom_fields(value: Any, field: str = "input.customFields") -> dict[str, Any]:
    """Keys become MongoDB field names, so `.` and a leading `$` are refused; values are
    scalars or flat lists (FerretDB stores no nested arrays)."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BadUserInput("must be a JSON object", field=field)
    for key, item in value.items():
        if not _CUSTOM_KEY.match(key):
            raise BadUserInput(f"invalid custom field name {key!r}", field=f"{field}.{key}")
        scalars = item if isinstance(item, list) else [item]
        if not all(isinstance(s, str | int | bool) or s is None for s in scalars):
            raise BadUserInput(
                "custom field values are strings, integers, booleans or flat lists of them",
                field=f"{field}.{key}",
            )
        if any(isinstance(s, int) and not isinstance(s, bool) and abs(s) > 2**53 for s in scalars):
            raise BadUserInput("integer out of range", field=f"{field}.{key}")
    return dict(value)
