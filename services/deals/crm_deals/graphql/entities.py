"""Other services' entities, as stubs: only the key, plus the fields this service adds."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from ..usecases.queries import DealFilter, deal_query, list_deals
from .forecasting import ForecastRollup, rollup
from .types import DealConnection, DealStatus, connection


async def _deals(info: Info, f: DealFilter, first: int | None, after: str | None) -> DealConnection:
    ctx = info.context
    page = await list_deals(ctx.deals.store, deal_query(f, ctx.now), first=first, after=after)
    return connection(page.items, page.cursors, page.has_next, page.has_previous, page.total)


@strawberry.federation.type(keys=["id"], name="Contact")
class Contact:
    id: strawberry.ID

    @classmethod
    def resolve_reference(cls, id: strawberry.ID) -> Contact:
        return cls(id=id)

    @strawberry.field(description="Deals this contact is on (primary or other), newest first.")
    async def deals(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        status: DealStatus | None = None,
    ) -> DealConnection:
        f = DealFilter(contact_id=str(self.id), status=status.value if status else None)
        return await _deals(info, f, first, after)


@strawberry.federation.type(keys=["id"], name="Company")
class Company:
    id: strawberry.ID

    @classmethod
    def resolve_reference(cls, id: strawberry.ID) -> Company:
        return cls(id=id)

    @strawberry.field(description="Deals with this company, newest first.")
    async def deals(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        status: DealStatus | None = None,
    ) -> DealConnection:
        f = DealFilter(company_id=str(self.id), status=status.value if status else None)
        return await _deals(info, f, first, after)


@strawberry.federation.type(keys=["id"], name="Team")
class Team:
    """A team of the tasks service; its members come with the representation
    (`@requires(fields: "memberIds")`: the gateway fetches them from the tasks subgraph), so
    this service never keeps or asks for team membership itself."""

    id: strawberry.ID
    member_ids: list[strawberry.ID] = strawberry.federation.field(external=True)

    @classmethod
    def resolve_reference(
        cls,
        id: strawberry.ID,
        memberIds: list[strawberry.ID] | None = None,  # noqa: N803
    ) -> Team:
        return cls(id=id, member_ids=list(memberIds or []))

    @strawberry.federation.field(
        requires=["memberIds"],
        description="The team's forecast roll-up for a period (YYYY-MM or YYYY-Qn): its "
        "members' figures, calls and quotas, the team quota and the manager's adjusted "
        "(TEAM) call.",
    )
    async def forecast_rollup(
        self,
        info: Info,
        period: str,
        pipeline_id: strawberry.ID | None = None,
        currency: str | None = None,
    ) -> ForecastRollup:
        members = [str(m) for m in self.member_ids]
        return await rollup(info, period, members, str(self.id), pipeline_id, currency)
