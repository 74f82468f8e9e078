"""Validation and normalisation of deal input (GraphQL, the importer). Each check raises
`BadUserInput` naming the client's field (`input.<camelCase name>`)."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from crm_kit import bounds
from crm_kit import custom_fields as custom_field_rule
from crm_kit.errors import BadUserInput

from .money import parse_amount, validate_currency

MAX_TITLE = bounds.MAX_NAME
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def title(value: Any, field: str = "input.title") -> str:
    text = (value or "").strip() if isinstance(value, str) else ""
    if not text:
        raise BadUserInput("title must not be empty", field=field)
    if len(text) > MAX_TITLE:
        raise BadUserInput(f"title is longer than {MAX_TITLE} characters", field=field)
    return text


def optional_text(value: Any, field: str, limit: int = bounds.MAX_SHORT) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise BadUserInput("must be a string", field=field)
    return bounds.text(value.strip(), limit, field) or None


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
    bounds.count(others, bounds.MAX_CONTACTS_PER_DEAL, field)
    for index, contact_id in enumerate(others):
        bounds.text(contact_id, bounds.MAX_ID, f"{field}.{index}")
    ordered = [primary] if primary else []
    ordered.extend(i for i in others if i not in ordered)
    return ordered


def custom_fields(value: Any, field: str = "input.customFields") -> dict[str, Any]:
    """The platform's one rule for custom fields (`crm_kit.custom_fields`)."""
    return custom_field_rule.checked(value, field)
