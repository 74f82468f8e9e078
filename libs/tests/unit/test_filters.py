"""The typed filter model: what it compiles to for MongoDB, and the same selection in
memory (the database agrees: tests/integration/test_records.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from crm_kit.filters import ALL, And, Contains, Eq, In, Ne, Or, Range, literal_regex
from crm_kit.pagination import Order

DOC: dict[str, Any] = {
    "_id": "b",
    "name": "ada lovelace",
    "tags": ["vip", "eu"],
    "score": 5,
    "at": datetime(2026, 1, 2, tzinfo=UTC),
    "gone": None,
}


def test_compiles_to_one_flat_mongo_filter_while_fields_differ() -> None:
    where = And(
        Eq("workspace_id", "w1"),
        Eq("deleted_at", None),
        Contains(("search_text", "company_name"), "a.b"),
        Range("created_at", gte=1, lt=None),
        In("tags", ["x"]),
    )
    assert where.to_mongo() == {
        "workspace_id": "w1",
        "deleted_at": None,
        "$or": [{"search_text": {"$regex": "a\\.b"}}, {"company_name": {"$regex": "a\\.b"}}],
        "created_at": {"$gte": 1},
        "tags": {"$in": ["x"]},
    }
    # Two parts on one key: `$and`, never a silently overwritten condition.
    both = And(Range("n", gte=1), Range("n", lt=5))
    assert both.to_mongo() == {"$and": [{"n": {"$gte": 1}}, {"n": {"$lt": 5}}]}
    assert ALL.to_mongo() == {} and Range("n").to_mongo() == {}


@pytest.mark.parametrize(
    ("where", "selected"),
    [
        (Eq("tags", "vip"), True),  # an array field contains the value
        (Eq("tags", "us"), False),
        (Eq("gone", None), True),
        (Eq("missing", None), True),  # null matches a missing field
        (Ne("missing", None), False),
        (Ne("tags", "us"), True),
        (In("tags", ["us", "eu"]), True),
        (In("score", [1, 2]), False),
        (Range("score", gte=5, lt=6), True),
        (Range("score", gt=5), False),
        (Range("gone", gte=0), False),  # null is in no range
        (Range("name", gte=3), False),  # nor is another type
        (Range("at", lt=datetime(2026, 1, 3, tzinfo=UTC)), True),
        (Contains("name", "love"), True),
        (Contains("name", "LOVE"), False),  # literal: the caller normalises case
        (Contains(("gone", "name"), "ada"), True),
        (Contains("name", "LOVE", ignore_case=True), True),
        (Contains("name", "a.l", ignore_case=True), False),  # still literal text
        (Contains("tags", "EU", ignore_case=True), True),
        (Or(Eq("score", 1), Eq("name", "ada lovelace")), True),
        (And(Eq("score", 5), Eq("tags", "us")), False),
        (ALL, True),
    ],
)
def test_selects_in_memory_as_mongo_would(where: Any, selected: bool) -> None:
    assert where.matches(DOC.get) is selected


def test_keyset_order_selects_rows_after_a_cursor() -> None:
    rows = [{"_id": i, "n": n} for i, n in [("a", 1), ("b", 2), ("c", 2), ("d", 3)]]
    descending = Order("n", descending=True).after((2, "c"))
    assert descending is not None
    assert [r["_id"] for r in rows if descending.matches(r.get)] == ["a", "b"]
    ascending = Order("n").after((2, "b"))
    assert ascending is not None
    assert [r["_id"] for r in rows if ascending.matches(r.get)] == ["c", "d"]
    assert Order("n").after(None) is None


def test_ignoring_case_compiles_to_the_regex_option() -> None:
    assert Contains("title", "A.b", ignore_case=True).to_mongo() == {
        "title": {"$regex": "A\\.b", "$options": "i"}
    }


def test_literal_regex_escapes_only_metacharacters() -> None:
    assert literal_regex("a.b+c@d-e") == "a\\.b\\+c@d-e"
