"""The one custom-field rule every record type and the imports apply."""

from __future__ import annotations

import math
from typing import Any

import pytest

from crm_kit import bounds
from crm_kit.custom_fields import checked
from crm_kit.errors import BadUserInput
from crm_kit.imports import custom_fields, field_name, issue_of


@pytest.mark.parametrize(
    "value",
    [
        {"tier": "gold", "seats": 12, "score": 4.5, "active": True, "note": None},
        {"regions": ["EMEA", "APAC"], "sizes": [1, 2.5, False]},
        {"Deal size (USD)": 1200, "owner-team": "north", "_x": 1},
        {},
    ],
)
def test_accepts_what_an_export_writes(value: dict[str, Any]) -> None:
    assert checked(value, "input.customFields") == value


def test_none_is_no_custom_fields() -> None:
    assert checked(None, "input.customFields") == {}


@pytest.mark.parametrize(
    ("value", "field"),
    [
        ([1, 2], "input.customFields"),
        ({"a.b": 1}, "input.customFields.a.b"),
        ({"$where": 1}, "input.customFields.$where"),
        ({"tab\there": 1}, "input.customFields.tab\there"),
        ({"  ": 1}, "input.customFields"),
        ({"address": {"city": "Lyon"}}, "input.customFields.address"),
        ({"matrix": [[1, 2]]}, "input.customFields.matrix"),
        ({"big": 2**60}, "input.customFields.big"),
        ({"ratio": math.inf}, "input.customFields.ratio"),
        ({"ratio": math.nan}, "input.customFields.ratio"),
    ],
)
def test_refuses_naming_the_entry(value: Any, field: str) -> None:
    with pytest.raises(BadUserInput) as raised:
        checked(value, "input.customFields")
    assert raised.value.field == field


def test_bounds_still_apply() -> None:
    many = {f"k{i}": i for i in range(bounds.MAX_CUSTOM_FIELDS + 1)}
    with pytest.raises(BadUserInput):
        checked(many, "input.customFields")


def test_an_import_row_error_names_the_custom_column_as_spelled() -> None:
    row = {"title": "x", "custom.Deal Size": 10, "custom.Region.Sub": "north"}
    with pytest.raises(BadUserInput) as raised:
        custom_fields(row)
    assert issue_of(raised.value).field == "custom.Region.Sub"


def test_field_names_of_plain_fields_are_unchanged() -> None:
    assert field_name("row.ownerId") == "owner_id"
    assert field_name("row.customFields.Tier") == "custom.Tier"
    assert field_name("row.customFields") == "custom"
