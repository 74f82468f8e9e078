"""The shared input bounds and the cursor checks: the edge value passes, one more is refused
with the field named."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import orjson
import pytest

from crm_kit import bounds
from crm_kit.errors import BadUserInput
from crm_kit.pagination import decode_cursor, encode_cursor


def test_text_accepts_the_limit_and_refuses_one_more() -> None:
    assert bounds.text("x" * 10, 10, "input.name") == "x" * 10
    with pytest.raises(BadUserInput) as refused:
        bounds.text("x" * 11, 10, "input.name")
    assert refused.value.field == "input.name"


def test_count_and_range_name_the_field() -> None:
    bounds.count([1, 2], 2, "input.tags")
    with pytest.raises(BadUserInput) as refused:
        bounds.count([1, 2, 3], 2, "input.tags")
    assert refused.value.field == "input.tags"
    assert bounds.in_range(0, 0, 5, "x") == 0 and bounds.in_range(5, 0, 5, "x") == 5
    with pytest.raises(BadUserInput) as out:
        bounds.in_range(6, 0, 5, "input.days")
    assert out.value.field == "input.days"


def _crafted(payload: object) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(payload)).decode().rstrip("=")


@pytest.mark.parametrize(
    "payload",
    [
        [{"$dt": "not a date"}, "id1"],  # was a ValueError from fromisoformat
        [{"$gt": ""}, "id1"],  # an operator where a sort value belongs
        [[1, 2], "id1"],
        ["Smith", {"$ne": None}],
        ["Smith", 7],
        ["a", "b", "c"],
        "just a string",
    ],
)
def test_crafted_cursors_are_input_errors(payload: object) -> None:
    with pytest.raises(BadUserInput) as refused:
        decode_cursor(_crafted(payload), field="after")
    assert refused.value.field == "after"


def test_oversize_cursor_is_refused_before_decoding() -> None:
    with pytest.raises(BadUserInput):
        decode_cursor("A" * (bounds.MAX_CURSOR + 1))


def test_minted_cursors_still_decode() -> None:
    when = datetime(2026, 1, 2, 3, 4, tzinfo=UTC)
    assert decode_cursor(encode_cursor(when, "a")) == (when, "a")
    assert decode_cursor(encode_cursor(None, "a")) == (None, "a")
    assert decode_cursor(encode_cursor(125050, "a")) == (125050, "a")
