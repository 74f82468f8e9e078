"""A deal's company and contacts must exist in the workspace (asked of the contacts
service: here its fake), refused with BAD_USER_INPUT naming the field and nothing written;
contacts down is SERVICE_UNAVAILABLE, retryable. And the deal's audit trail: an entry per
change, an admin's exit-criteria override recorded as such."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from crm_deals.usecases import deals
from crm_deals.usecases.inputs import DealChanges, DealInput
from crm_kit.audit import AUDIT, bind_channel
from crm_kit.context import RequestContext, bind_request
from crm_kit.errors import BadUserInput, ServiceUnavailable
from crm_kit.testing import Clock

from .conftest import FakeDeals


@pytest.fixture
def fake() -> FakeDeals:
    fake = FakeDeals(Clock())
    fake.references.contact_ids = {"p1", "c2"}
    fake.references.company_ids = {"co1"}
    return fake


def _refused(field: str) -> Any:
    return pytest.raises(BadUserInput, check=lambda error: error.field == field)


def _deals(fake: FakeDeals) -> list[Any]:
    return list(fake.collections["deals"].values())


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"company_id": "nope"}, "input.companyId"),
        ({"primary_contact_id": "nope"}, "input.primaryContactId"),
        ({"primary_contact_id": "p1", "contact_ids": ["c2", "nope"]}, "input.contactIds.1"),
    ],
)
async def test_a_deal_naming_what_does_not_exist_is_refused_and_nothing_written(
    fake: FakeDeals, values: dict[str, Any], field: str
) -> None:
    with _refused(field):
        await deals.create_deal(fake.scope(), DealInput(title="T", amount="1", **values))
    # (The workspace's default pipeline, made on first use, is not the deal's.)
    assert _deals(fake) == []
    assert not [e for e in fake.db.outbox if e.type.startswith("crm.deals.deal.")]
    assert not [e for e in fake.collections[AUDIT].values() if e["record_type"] == "deal"]


async def test_contacts_down_is_retryable_and_writes_nothing(fake: FakeDeals) -> None:
    fake.references.down = True
    with pytest.raises(ServiceUnavailable) as refused:
        await deals.create_deal(fake.scope(), DealInput(title="T", amount="1", company_id="co1"))
    assert refused.value.extensions.get("retryable") is True
    assert _deals(fake) == []
    # A deal that names nothing elsewhere needs no answer.
    await deals.create_deal(fake.scope(), DealInput(title="T", amount="1"))
    assert len(_deals(fake)) == 1


async def test_an_update_asks_only_for_the_ids_it_adds(fake: FakeDeals) -> None:
    deal = await deals.create_deal(
        fake.scope(), DealInput(title="T", amount="1", company_id="co1", primary_contact_id="p1")
    )
    fake.references.asked.clear()
    await deals.update_deal(fake.scope(), deal.id, DealChanges(contact_ids=["c2"]))
    assert fake.references.asked == [(("c2",), ())]
    with _refused("input.companyId"):
        await deals.update_deal(fake.scope(), deal.id, DealChanges(company_id="gone"))
    stored = fake.collections["deals"][deal.id]
    assert stored["company_id"] == "co1"


async def test_the_service_acting_on_its_own_is_not_asked(fake: FakeDeals) -> None:
    fake.references.down = True
    scope = fake.scope(subject="service:deals")
    await deals.create_deal(scope, DealInput(title="T", amount="1", company_id="anything"))
    assert fake.references.asked == []


def _trail(fake: FakeDeals, record_id: str) -> list[dict[str, Any]]:
    found = [e for e in fake.collections[AUDIT].values() if e["record_id"] == record_id]
    return sorted(found, key=lambda e: (e["at"], e["_id"]))


async def test_each_change_of_a_deal_is_in_its_trail_an_override_as_such(
    fake: FakeDeals,
) -> None:
    # Who: the request the entry point bound (the GraphQL gate binds the gateway's caller).
    bind_request(RequestContext("w1", "ada", frozenset({"admin"})))
    bind_channel("graphql", "gateway")
    # Past the first stage's exit criterion (a company) by an admin's override.
    deal = await deals.create_deal(
        fake.scope(subject="ada", roles="admin"),
        DealInput(title="T", amount="100.00", stage_key="qualification"),
        override=True,
    )
    await deals.update_deal(
        fake.scope(subject="ada", roles="admin"), deal.id, DealChanges(amount="250.00")
    )
    created, updated = _trail(fake, deal.id)
    assert (created["action"], created["actor"], created["record_type"]) == (
        "create",
        "ada",
        "deal",
    )
    assert orjson.loads(created["detail"])["override"]
    changed = {c["field"]: (c["before"], c["after"]) for c in updated["changes"]}
    assert changed == {"amount_minor": ("10000", "25000")}
    assert "detail" not in updated
    assert {(e["path"], e["party"]) for e in (created, updated)} == {("graphql", "gateway")}
