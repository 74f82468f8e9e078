"""Reading a mapped row's values (crm_kit.imports' readers), errors naming `row.<field>`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from crm_kit import imports
from crm_kit.unset import UNSET

PREFIX = "row"
ADDRESS_FIELDS = ("street", "city", "region", "postal_code", "country")


def text(values: dict[str, Any], name: str) -> str | None:
    return imports.text(values, name, PREFIX)


def texts(values: dict[str, Any], name: str) -> list[str] | None:
    return imports.texts(values, name, PREFIX)


def moment(values: dict[str, Any], name: str) -> datetime | None:
    return imports.moment(values, name, PREFIX)


def integer(values: dict[str, Any], name: str) -> int | None:
    return imports.integer(values, name, PREFIX)


def given(values: dict[str, Any], name: str, value: Any) -> Any:
    """The field's value when the row maps it, else UNSET (an update keeps what is stored)."""
    return value if name in values else UNSET
