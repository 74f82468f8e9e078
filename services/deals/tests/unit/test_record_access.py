"""Record-level write access on deals (crm_kit.access), as a matrix: role x operation.

Admins change every deal; managers every deal of the workspace; a rep only the deals they
own (and may pass one on); a viewer none. `modelProbability` is the system's (and admins').
A refusal is FORBIDDEN naming the field, and the deal, its revision and the outbox stay
as they were."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from crm_deals.usecases import deals
from crm_deals.usecases.inputs import DealChanges, DealInput
from crm_deals.usecases.scope import Scope
from crm_kit.errors import Forbidden
from crm_kit.testing import Clock

from .conftest import FakeDeals

OWNER = "rita"
# role in the matrix -> (subject, roles)
CALLERS = {
    "admin": ("ada", "admin"),
    "manager": ("max", "manager"),
    "rep-owner": (OWNER, "rep"),
    "rep-other": ("otto", "rep"),
    "viewer": ("vic", "viewer"),
}

Operation = Callable[[Scope, str], Awaitable[object]]
OPERATIONS: dict[str, tuple[Operation, str]] = {
    # operation -> (the call, the field a refusal names)
    "update": (lambda s, d: deals.update_deal(s, d, DealChanges(amount="999.00")), "id"),
    "move": (lambda s, d: deals.move_deal(s, d, "prospecting"), "id"),
    "close": (lambda s, d: deals.close_lost(s, d, "budget gone"), "id"),
    "reassign": (lambda s, d: deals.update_deal(s, d, DealChanges(owner_id="zoe")), "id"),
    "delete": (lambda s, d: deals.delete_deal(s, d), "id"),
    "system-field": (
        lambda s, d: deals.update_deal(s, d, DealChanges(model_probability=90)),
        "input.modelProbability",
    ),
}

ALLOWED = {
    "admin": set(OPERATIONS),
    "manager": set(OPERATIONS) - {"system-field"},
    "rep-owner": set(OPERATIONS) - {"system-field"},
    "rep-other": set(),
    "viewer": set(),
}


@pytest.fixture
def fake() -> FakeDeals:
    return FakeDeals(Clock())


async def _rita_deal(fake: FakeDeals) -> str:
    created = await deals.create_deal(
        fake.scope(roles="admin"),
        DealInput(title="Rita's deal", amount="100.00", stage_key="qualification", owner_id=OWNER),
    )
    return created.id


@pytest.mark.parametrize("operation", list(OPERATIONS))
@pytest.mark.parametrize("role", list(CALLERS))
async def test_who_may_change_a_deal(fake: FakeDeals, role: str, operation: str) -> None:
    deal_id = await _rita_deal(fake)
    subject, roles = CALLERS[role]
    call, field = OPERATIONS[operation]
    before = await deals.get_deal(fake.scope(), deal_id)
    written = len(fake.events())
    if operation in ALLOWED[role]:
        await call(fake.scope(subject=subject, roles=roles), deal_id)
        assert len(fake.events()) > written
        return
    with pytest.raises(Forbidden) as refused:
        await call(fake.scope(subject=subject, roles=roles), deal_id)
    # A viewer is refused for the role, before any record is read (no field).
    assert refused.value.field == (None if role == "viewer" else field)
    after = await deals.get_deal(fake.scope(), deal_id)
    assert (after.rev, after.amount_minor, after.owner_id, after.stage_key) == (
        before.rev,
        before.amount_minor,
        before.owner_id,
        before.stage_key,
    )
    assert after.probability_model == before.probability_model and not after.deleted
    assert len(fake.events()) == written


async def test_a_rep_cannot_take_over_then_act(fake: FakeDeals) -> None:
    """Taking a deal over is the one change that would make every later one allowed."""
    deal_id = await _rita_deal(fake)
    otto = fake.scope(subject="otto", roles="rep")
    with pytest.raises(Forbidden):
        await deals.update_deal(otto, deal_id, DealChanges(owner_id="otto"))
    assert (await deals.get_deal(fake.scope(), deal_id)).owner_id == OWNER


async def test_after_passing_a_deal_on_its_former_owner_may_not_change_it(
    fake: FakeDeals,
) -> None:
    deal_id = await _rita_deal(fake)
    rita = fake.scope(subject=OWNER, roles="rep")
    await deals.update_deal(rita, deal_id, DealChanges(owner_id="zoe"))
    with pytest.raises(Forbidden):
        await deals.update_deal(rita, deal_id, DealChanges(title="mine again?"))
    zoe = fake.scope(subject="zoe", roles="rep")
    assert (await deals.update_deal(zoe, deal_id, DealChanges(title="Zoe's"))).title == "Zoe's"


async def test_the_system_writes_model_probability(fake: FakeDeals) -> None:
    """The win model's job acts as the system user (`Scope.as_`): it may set the field."""
    deal_id = await _rita_deal(fake)
    system = fake.scope(subject="rita", roles="rep").as_("service:deals")
    changed = await deals.update_deal(system, deal_id, DealChanges(model_probability=55))
    assert changed.probability_model == 55
