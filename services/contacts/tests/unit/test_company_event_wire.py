"""`company.created` made as its wire form (`publish.company_snapshot_wire`, `wire_event`)
is what the payload models made: the same data, envelope and bytes, for companies with
and without their optional fields, deleted or not, stamped in UTC, in another zone or
naive."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from crm_contacts.config import SOURCE
from crm_contacts.domain.company import Address, Company
from crm_contacts.events import publish
from crm_contracts import contacts as contract
from crm_contracts.envelope import CloudEvent, new_event
from crm_kit.outbox import _stored

BASE = Company(id="c1", workspace_id="w1", name="Acme", updated_at=datetime(2024, 1, 2, tzinfo=UTC))
VARIANTS: list[dict[str, Any]] = [
    {},
    {"domain": "acme.com", "industry": "Retail", "size": 250, "website": "https://acme.com",
     "owner_id": "ann-lee", "tags": ["key", "emea"], "address": Address(country="DE")},
    {"size": 0, "name": "Ünïcode \"quoted\" \\ name"},
    {"deleted_at": datetime(2024, 2, 1, tzinfo=UTC)},
    {"updated_at": datetime(2024, 1, 2, 9, 30, 0, 500, tzinfo=timezone(timedelta(hours=-5)))},
    {"updated_at": datetime(2024, 1, 2, 9, 30)},
]  # fmt: skip


def _model_made(company: Company) -> CloudEvent:
    """`company_created` as it was: the payload models validated, then dumped."""
    payload = contract.CompanyCreated(company=publish.company_snapshot(company))
    return new_event(
        event_type=contract.COMPANY_CREATED,
        source=SOURCE,
        workspace=company.workspace_id,
        subject=company.id,
        data=payload.wire(),
    )


@pytest.mark.parametrize("variant", VARIANTS)
def test_company_created_is_the_payload_models_event(variant: dict[str, Any]) -> None:
    company = dataclasses.replace(BASE, **variant)
    assert publish.company_snapshot_wire(company) == publish.company_snapshot(company).wire()
    made = publish.company_created(company)
    expected = _model_made(company).model_copy(update={"id": made.id, "time": made.time})
    assert made.data == expected.data
    assert made.to_json() == expected.to_json()
    assert _stored(made) == _stored(expected)
    read = contract.CompanyCreated.model_validate(CloudEvent.from_json(made.to_json()).data)
    assert read.company == publish.company_snapshot(company)
