"""`crm_kit.records.document_copy`: what a change starts from shares nothing it could edit
with the document a read model holds (the change edits its lists; the held document is
also what the write's audit entry diffs against)."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal

from bson import Binary, Decimal128, ObjectId

from crm_kit.records import document_copy


@dataclass
class Box:
    items: list[int] = field(default_factory=list)


def stored() -> dict[str, object]:
    return {
        "_id": ObjectId(),
        "title": "Deal",
        "amount_minor": 125050,
        "share": 0.25,
        "open": True,
        "closed_at": None,
        "at": datetime(2026, 12, 7, tzinfo=UTC),
        "due": date(2026, 12, 31),
        "price": Decimal128("12.50"),
        "exact": Decimal("1.5"),
        "blob": Binary(b"\x00\x01"),
        "stage_history": [{"to": "qualification", "overridden": ["budget"]}],
        "custom_fields": {"region": {"name": "EMEA", "codes": [1, 2]}},
        "other": Box([1]),
    }


def test_a_copy_equals_a_deep_copy() -> None:
    doc = stored()
    assert document_copy(doc) == copy.deepcopy(doc)


def test_editing_the_copy_leaves_the_document_as_it_was() -> None:
    doc = stored()
    kept = copy.deepcopy(doc)
    made = document_copy(doc)

    made["stage_history"][0]["overridden"].append("timing")
    made["stage_history"].append({"to": "won"})
    made["custom_fields"]["region"]["codes"].append(3)
    made["custom_fields"]["region"]["name"] = "APAC"
    made["other"].items.append(2)  # a value of no known kind is deep-copied
    made["title"] = "Renamed"

    assert doc == kept
