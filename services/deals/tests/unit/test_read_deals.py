"""A read deal (`store.read_deals`: the board's cards and the lists' rows) converts its
histories from the stored document only when one is asked for, and is otherwise the deal
`deal_from_doc` makes of the same document: equal either way round, the same histories,
the same document written back, and its histories ordinary lists once asked for."""

from __future__ import annotations

import copy
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from crm_deals.domain.deal import Activity, Deal, FieldChange, OwnerChange, StageChange
from crm_deals.domain.default_pipeline import default_pipeline
from crm_deals.store.documents import HISTORIES, deal_from_doc, deal_to_doc
from crm_deals.store.read_deals import ReadDeal, read_deal_from_doc
from crm_deals.usecases.deal_rows import ImportReport, Options, RowMapper
from crm_deals.usecases.imports import _mapper_values

NOW = datetime(2024, 6, 1, tzinfo=UTC)
LATER = datetime(2024, 6, 9, tzinfo=UTC)


def _stored() -> dict[str, Any]:
    """A won deal's document with every history non-empty."""
    mapper = RowMapper(
        Options({}, {}, {}, currency="USD", dry_run=False), default_pipeline("ws", NOW), "ws", NOW
    )
    row = {"external_id": "B", "stage": "won", "engaged_at": "2024-01-02",
           "close_date": "2024-02-03", "amount": "9"}  # fmt: skip
    deal = mapper.map_row(_mapper_values(row), 0, ImportReport(), {})
    assert deal is not None and len(deal.stage_history) >= 2
    deal.owner_changes.append(OwnerChange(None, "bob", NOW, "ann", None, "note"))
    deal.field_changes.append(FieldChange(NOW, "amount_minor", 100))
    deal.activity_log.append(Activity(NOW, "call"))
    return deal_to_doc(deal)


def test_no_history_is_converted_until_asked_for() -> None:
    doc = _stored()
    deal = read_deal_from_doc(doc)
    assert isinstance(deal, ReadDeal)
    assert not set(HISTORIES) & set(vars(deal))
    assert deal.title == doc["title"] and deal.rev == doc["rev"]
    assert deal.stage_history == deal_from_doc(doc).stage_history
    assert "stage_history" in vars(deal) and "owner_changes" not in vars(deal)
    assert deal.stage_history is deal.stage_history  # converted once, then kept


def test_a_read_deal_is_the_deal_of_the_same_document() -> None:
    doc = _stored()
    plain = deal_from_doc(doc)
    assert read_deal_from_doc(doc) == plain and plain == read_deal_from_doc(doc)
    assert read_deal_from_doc(doc) == read_deal_from_doc(doc)
    read = read_deal_from_doc(doc)
    for name in HISTORIES:
        assert getattr(read, name) == getattr(plain, name) != []
    assert deal_to_doc(read_deal_from_doc(doc)) == deal_to_doc(plain)
    assert replace(read_deal_from_doc(doc)) == plain
    assert copy.copy(read_deal_from_doc(doc)) == plain


def test_a_read_deal_differs_where_its_fields_differ() -> None:
    doc = _stored()
    moved = copy.deepcopy(doc)
    moved["stage_history"][-1]["to_stage"] = "lost"
    assert read_deal_from_doc(moved) != deal_from_doc(doc)
    assert deal_from_doc(doc) != read_deal_from_doc(moved)
    renamed = {**doc, "title": "other"}
    assert read_deal_from_doc(renamed) != read_deal_from_doc(doc)
    assert read_deal_from_doc(doc) != "a deal"


def test_a_history_set_or_changed_is_kept_as_given() -> None:
    doc = _stored()
    deal = read_deal_from_doc(doc)
    deal.stage_history.append(
        StageChange("s9", "won", "lost", LATER, None, None, "ws:default", 1, kind="move")
    )
    deal.owner_changes = []
    assert deal.stage_history[-1].id == "s9" and deal.owner_changes == []
    written = deal_to_doc(deal)
    assert written["stage_history"][-1]["id"] == "s9" and written["owner_changes"] == []
    assert len(doc["stage_history"]) == len(written["stage_history"]) - 1  # source untouched
    assert isinstance(deal, Deal)


def test_a_held_documents_deal_is_made_once_while_that_document_is_held() -> None:
    """The read index replaces a changed deal's document (never changes it in place): the
    same document gives the same read deal and GraphQL deal, a new one new ones."""
    from crm_deals.graphql.entities import Deal as GraphQLDeal
    from crm_deals.store.read_deals import held_read_deal

    doc = _stored()
    first = held_read_deal(doc)
    assert held_read_deal(doc) is first
    assert GraphQLDeal.of(first) is GraphQLDeal.of(first)
    assert first == deal_from_doc(doc)
    # The deal changed: the index holds a new document.
    changed = {**doc, "title": "Renamed"}
    second = held_read_deal(changed)
    assert second is not first and second.title == "Renamed"
    assert GraphQLDeal.of(second).title == "Renamed"
    assert GraphQLDeal.of(first).title == doc["title"]
    # An equal document that is another object is another entry (identity, not value).
    assert held_read_deal(copy.copy(doc)) is not first
    # A deal a write made (plain `Deal`) gets a GraphQL deal of its own each time.
    plain = deal_from_doc(doc)
    assert GraphQLDeal.of(plain) is not GraphQLDeal.of(plain)


def test_the_held_deals_are_bounded(monkeypatch: Any) -> None:
    import crm_deals.store.read_deals as read_deals

    monkeypatch.setattr(read_deals, "HELD_DEALS_KEPT", 3)
    monkeypatch.setattr(read_deals, "_HELD", {})
    docs = [{**_stored(), "_id": f"d{n}"} for n in range(5)]
    made = [read_deals.held_read_deal(doc) for doc in docs]
    assert len(read_deals._HELD) == 3
    assert read_deals.held_read_deal(docs[4]) is made[4]  # the newest kept
    assert read_deals.held_read_deal(docs[0]) is not made[0]  # the oldest went first
