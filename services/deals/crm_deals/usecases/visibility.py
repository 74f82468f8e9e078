"""Record sharing and field permissions on the deal reads (`crm_kit.sharing`): a deal the
caller may not see is left out of every list, count and board and is NOT_FOUND by id (a
reference or a live event names nothing), as if it did not exist. A deal is held by its
owner. A caller who may not read amounts may not narrow or order by them either: that
would tell the amounts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from ..domain.deal import Deal
from ..domain.queries import DealSelection
from .scope import Scope

AMOUNT = "deal.amount"


async def narrowed(scope: Scope, selection: DealSelection) -> DealSelection:
    """`selection`, narrowed to the deals the caller sees (pushed down to the store)."""
    access = await scope.access()
    if selection.amount_min is not None:
        access.require_field(AMOUNT, "filter.amountMin")
    if selection.amount_max is not None:
        access.require_field(AMOUNT, "filter.amountMax")
    seen = access.of("deal")
    return selection if seen.everything else replace(selection, visible_to=seen.holders)


async def visible_deals(scope: Scope, deals: Sequence[Deal]) -> list[Deal]:
    seen = (await scope.access()).of("deal")
    return [deal for deal in deals if seen.sees((deal.owner_id,))]


async def reads_amounts(scope: Scope) -> bool:
    return (await scope.access()).reads(AMOUNT)
