"""The in-memory database's copy of a stored value (`crm_kit.memory_db.stored_copy`):
equal to `copy.deepcopy`'s, sharing nothing mutable with the stored document, so a record
read from the fake and changed by a caller never changes what is stored."""

from __future__ import annotations

import copy
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from bson import ObjectId

from crm_kit.memory_db import MemoryDatabase, stored_copy
from crm_kit.records import RecordType


def _mutables(value: Any) -> list[int]:
    """The ids of every dict, list and set inside `value` (itself included)."""
    found: list[int] = []
    if isinstance(value, dict | list | set):
        found.append(id(value))
    if isinstance(value, dict):
        for item in value.values():
            found += _mutables(item)
    elif isinstance(value, list | tuple | set):
        for item in value:
            found += _mutables(item)
    return found


VALUES: list[Any] = [
    "text",
    7,
    2.5,
    True,
    None,
    b"raw",
    Decimal("12.30"),
    date(2026, 12, 8),
    datetime(2026, 12, 8, 1, 2, 3, tzinfo=UTC),
    ObjectId("65f0c0ffee0000000000abcd"),
    ["a", {"b": [1, 2, {"c": None}]}],
    {"nested": {"list": [{"x": 1}, [2, 3]], "when": datetime(2026, 1, 1, tzinfo=UTC)}},
    ("a", ["inside a tuple"]),
    {"set": {1, 2}},
]


@pytest.mark.parametrize(
    "value", VALUES, ids=[type(v).__name__ + str(i) for i, v in enumerate(VALUES)]
)
def test_a_copy_equals_deepcopys_and_shares_nothing_mutable(value: Any) -> None:
    copied = stored_copy(value)
    assert copied == copy.deepcopy(value)
    assert type(copied) is type(value)
    assert not set(_mutables(copied)) & set(_mutables(value))


async def test_a_record_read_and_changed_leaves_the_stored_document_as_it_was() -> None:
    db = MemoryDatabase()
    kind: RecordType[dict[str, Any]] = RecordType("things", to_doc=dict, from_doc=dict)
    stored = {"_id": "t1", "workspace_id": "w", "tags": ["a"], "meta": {"seen": [1]}}
    db.collections["things"]["t1"] = copy.deepcopy(stored)
    records = db.records(kind, "w")
    first = (await records.get(["t1"]))[0]
    first["tags"].append("b")
    first["meta"]["seen"].append(2)
    assert (await records.get(["t1"]))[0] == stored
    assert [doc async for doc in records.scan()] == [stored]
