"""An interaction's deal is asked of the deals service (the fake here) before anything is
written: a deal that does not exist or that the user does not see is BAD_USER_INPUT naming
`input.dealId`; deals down is SERVICE_UNAVAILABLE, retryable; the service acting on its
own is not asked."""

from __future__ import annotations

import pytest

from crm_contacts.domain.interaction import InteractionKind
from crm_contacts.store.deals import KnownDeals
from crm_contacts.usecases.contacts import create_contact
from crm_contacts.usecases.inputs import ContactInput, InteractionInput
from crm_contacts.usecases.interactions import log_interaction
from crm_contacts.usecases.scope import Scope
from crm_kit.context import RequestContext
from crm_kit.errors import BadUserInput, ServiceUnavailable

from .conftest import FakeStore


def _scope(store: FakeStore, deals: KnownDeals, subject: str = "rita") -> Scope:
    caller = RequestContext("w1", subject, frozenset({"rep"}))
    return Scope(store.for_workspace("w1"), caller, phone_region="US", deals=deals)


async def _contact(scope: Scope) -> str:
    return (await create_contact(scope, ContactInput(first_name="Ann"))).id


def _note(contact_id: str, deal_id: str) -> InteractionInput:
    return InteractionInput(kind=InteractionKind.NOTE, contact_id=contact_id, deal_id=deal_id)


async def _timeline(store: FakeStore) -> int:
    return len(store.events_of_type("crm.contacts.interaction.logged.v1"))


async def test_a_deal_the_user_cannot_name_is_refused_and_nothing_written(
    store: FakeStore,
) -> None:
    deals = KnownDeals(ids={"d-mine"})
    scope = _scope(store, deals)
    contact_id = await _contact(scope)
    with pytest.raises(BadUserInput) as refused:
        await log_interaction(scope, _note(contact_id, "d-hidden-or-gone"))
    assert refused.value.field == "input.dealId"
    assert deals.asked == ["d-hidden-or-gone"]
    assert await _timeline(store) == 0
    logged = await log_interaction(scope, _note(contact_id, "d-mine"))
    assert logged.deal_id == "d-mine"
    assert await _timeline(store) == 1


async def test_deals_down_refuses_the_write_as_retryable(store: FakeStore) -> None:
    scope = _scope(store, KnownDeals(down=True))
    contact_id = await _contact(scope)
    with pytest.raises(ServiceUnavailable) as refused:
        await log_interaction(scope, _note(contact_id, "d-1"))
    assert refused.value.extensions == {"retryable": True}
    assert await _timeline(store) == 0


async def test_no_deal_named_or_the_service_itself_is_not_asked(store: FakeStore) -> None:
    deals = KnownDeals(ids=set())
    contact_id = await _contact(_scope(store, deals))
    no_deal = InteractionInput(kind=InteractionKind.NOTE, contact_id=contact_id)
    await log_interaction(_scope(store, deals), no_deal)
    await log_interaction(_scope(store, deals, "service:capture"), _note(contact_id, "d-9"))
    assert deals.asked == []
