"""`deal.created` made as its wire form (`publish.snapshot_wire`, `wire_event`) is what the
payload models made: the same data, the same envelope, the same bytes in the outbox, for
deals of every kind (open, won, lost; with and without owner, company, contacts, expected
close, probability override or model estimate; currencies of 0, 2 and 3 decimals;
negative amounts)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

import pytest

from crm_contracts import deals as contract
from crm_contracts.envelope import CloudEvent, new_event
from crm_deals.config import SOURCE
from crm_deals.domain.deal import Deal
from crm_deals.events import publish
from crm_kit.outbox import _stored

BASE = Deal(
    id="d1",
    workspace_id="w1",
    title="GTX Pro for Acme",
    amount_minor=125050,
    currency="USD",
    pipeline_id="p1",
    pipeline_version=3,
    stage_key="qualification",
    stage_probability=20,
    forecast_category="pipeline",
    created_at=datetime(2024, 1, 2, tzinfo=UTC),
)
VARIANTS: list[dict[str, Any]] = [
    {},
    {"status": "won", "stage_key": "won", "stage_probability": 100},
    {"status": "lost", "stage_key": "lost", "amount_minor": 0},
    {"owner_id": "ann-lee", "company_id": "c1", "primary_contact_id": "p1",
     "contact_ids": ["p1", "p2"], "expected_close_date": "2030-05-01"},
    {"probability_override": 55},
    {"probability_model": 37, "currency": "JPY", "amount_minor": 1250},
    {"currency": "BHD", "amount_minor": -1234567, "title": "Ünïcode \"quoted\" \\ title"},
    {"custom_fields": {"region": "EMEA"}, "external_id": "E1", "import_job": "j1"},
]  # fmt: skip


def _model_made(deal: Deal) -> CloudEvent:
    """`deal_created` as it was: the payload models validated, then dumped."""
    payload = contract.DealCreated(deal=publish.snapshot(deal))
    return new_event(
        event_type=contract.DEAL_CREATED,
        source=SOURCE,
        workspace=deal.workspace_id,
        subject=deal.id,
        data=payload.wire(),
    )


@pytest.mark.parametrize("variant", VARIANTS)
def test_deal_created_is_the_payload_models_event(variant: dict[str, Any]) -> None:
    deal = dataclasses.replace(BASE, **variant)
    assert publish.snapshot_wire(deal) == publish.snapshot(deal).wire()
    made = publish.deal_created(deal)
    expected = _model_made(deal).model_copy(update={"id": made.id, "time": made.time})
    assert made.data == expected.data
    assert made.to_json() == expected.to_json()
    assert _stored(made) == _stored(expected)
    read = contract.DealCreated.model_validate(CloudEvent.from_json(made.to_json()).data)
    assert read.deal == publish.snapshot(deal)


def test_the_snapshot_is_a_copy_of_the_deals_lists() -> None:
    deal = dataclasses.replace(BASE, contact_ids=["p1"])
    data = publish.snapshot_wire(deal)
    deal.contact_ids.append("p2")
    assert data["contactIds"] == ["p1"]
