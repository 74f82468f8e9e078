"""An imported deal's slim document (`slim_deal_doc`: no null fields, no empty unaudited
lists) reads back as the full one does: the same deal, the same read index entry, the
same audit entry of its creation; and holds no null but a custom field's own value."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from crm_deals.config import AUDIT, DEALS
from crm_deals.domain.deal import OwnerChange, StageChange
from crm_deals.domain.default_pipeline import default_pipeline
from crm_deals.store.documents import deal_from_doc, deal_to_doc, slim_deal_doc
from crm_deals.store.index_entry import entry_of
from crm_deals.usecases.deal_rows import ImportReport, Options, RowMapper
from crm_deals.usecases.imports import _mapper_values
from crm_kit import audit

NOW = datetime(2024, 6, 1, tzinfo=UTC)
ROWS = [
    {"external_id": "A", "stage": "prospecting", "amount": "10", "owner": "Ann Lee"},
    {"external_id": "B", "stage": "won", "engaged_at": "2024-01-02", "close_date": "2024-02-03",
     "amount": "99.50", "product": "GTX"},
    {"external_id": "C", "stage": "lost", "close_date": "2024-03-04"},
    {"external_id": "D", "stage": "qualification", "company": "Acme", "title": "T"},
]  # fmt: skip


def _imported() -> list[Any]:
    mapper = RowMapper(
        Options({}, {}, {}, currency="USD", dry_run=False), default_pipeline("ws", NOW), "ws", NOW
    )
    deals = [
        mapper.map_row(_mapper_values(row), n, ImportReport(), {"Acme": "c-acme"})
        for n, row in enumerate(ROWS)
    ]
    assert all(deal is not None for deal in deals)
    return deals


def _nulls(value: Any, path: str = "") -> list[str]:
    """Where a null is stored (custom fields' values are the user's data, kept as given)."""
    if path == ".custom_fields":
        return []
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _nulls(v, f"{path}.{k}")]
    if isinstance(value, list):
        return [p for n, v in enumerate(value) for p in _nulls(v, f"{path}[{n}]")]
    return [path] if value is None else []


@pytest.mark.parametrize("index", range(len(ROWS)))
def test_a_slim_document_reads_as_the_full_one(index: int) -> None:
    deal = _imported()[index]
    full, slim = deal_to_doc(deal), slim_deal_doc(deal, deal.workspace_id)
    assert _nulls(slim) == [] and _nulls(full) != []
    assert len(slim) < len(full)
    assert slim["contact_ids"] == [] and "owner_changes" not in slim  # audited lists stay
    assert deal_from_doc(slim) == deal_from_doc(full) == deal
    assert entry_of(slim) == entry_of(full)
    policy = AUDIT.of(DEALS)
    assert policy is not None
    assert audit.changes(None, slim, policy) == audit.changes(None, full, policy)


def test_histories_and_lists_that_are_not_empty_are_kept() -> None:
    deal = _imported()[1]
    deal.owner_changes.append(OwnerChange(None, "bob", NOW, "ann", None, None))
    deal.stage_history.append(
        StageChange("s9", "won", "lost", NOW, None, None, "ws:default", 1, kind="move")
    )
    slim = slim_deal_doc(deal, "ws")
    assert len(slim["owner_changes"]) == 1 and slim["stage_history"][-1]["id"] == "s9"
    assert "by" not in slim["stage_history"][-1]
    assert deal_from_doc(slim) == deal
