"""Checks of input values shared by the use cases (each names the field at fault)."""

from __future__ import annotations

from typing import Any

from crm_kit import custom_fields as custom_field_rule
from crm_kit.errors import BadUserInput

from ..domain import rules


def custom_fields(value: Any, field: str) -> dict[str, Any]:
    """The platform's one rule for custom fields (`crm_kit.custom_fields`)."""
    return custom_field_rule.checked(value, field)


def website(value: str | None, field: str) -> str | None:
    text = rules.clean_text(value, field, limit=500)
    if text is None:
        return None
    if "//" not in text:
        text = f"https://{text}"
    rules.normalise_domain(text, field)  # must have a valid host
    return text


def size(value: int | None, field: str) -> int | None:
    if value is not None and value < 0:
        raise BadUserInput("must not be negative", field=field)
    return value


def owner(value: str | None, field: str) -> str | None:
    return rules.clean_text(value, field, limit=100)
