"""The federation entities this subgraph resolves: the deal, and other services' entities
as stubs (only the key, plus the fields this service adds to them: a contact's and a
company's deals, a team's forecast roll-up)."""

from __future__ import annotations

from datetime import date, datetime

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from crm_kit.audit_graphql import record_trail_field
from crm_kit.graphql_rows import row_value
from crm_kit.relay_types import Connection, Edge, PageInfo

from ..domain import deal as d
from ..domain import pipeline as p
from ..domain.queries import DealSelection
from ..usecases import audit, queries
from .field_access import MaybeAmount, amount_of
from .forecasting import ForecastRollup, rollup
from .types import DealStatus, ForecastCategory, OwnerChange, Pipeline, Stage, StageChange
from .win_model import WinExplanation, explain_deal

# Where a read deal keeps its GraphQL deal (`Deal.of`).
_VIEW = "_graphql_deal"


def _date(text: str | None) -> date | None:
    return date.fromisoformat(text) if text else None


@strawberry.federation.type(keys=["id"], name="Deal")
class Deal:
    id: strawberry.ID
    title: str
    currency: str = strawberry.field(description="ISO 4217 code.")
    expected_close_date: date | None
    close_date: date | None = strawberry.field(
        description="The won/lost date once closed, else the expected close date."
    )
    close_month: str | None = strawberry.field(description="YYYY-MM of closeDate.")
    owner_id: str | None
    company_deleted: bool
    deleted_contact_ids: list[strawberry.ID]
    pipeline_version: int
    status: DealStatus
    probability: int = strawberry.field(
        description="Effective: outcome if closed, else override, else model, else stage."
    )
    stage_probability: int
    probability_override: int | None
    model_probability: int | None
    forecast_category: ForecastCategory
    next_step: str | None
    next_step_date: date | None
    source: str | None
    product: str | None
    lost_reason: str | None
    closed_at: datetime | None
    custom_fields: JSON
    stage_entered_at: datetime | None
    last_activity_at: datetime | None
    completed_playbook_keys: list[str]
    external_id: str | None
    created_at: datetime | None
    created_by: str | None
    updated_at: datetime | None
    audit_trail = record_trail_field(audit.readable, "deal")
    _deal: strawberry.Private[d.Deal]

    @classmethod
    def of(cls, deal: d.Deal) -> Deal:
        """The GraphQL deal of a domain deal; made once for a deal that never changes (a
        read deal of a held document, `store.read_deals`: a board's cards are the same
        objects from one board to the next while their deals do not change). Nothing of
        it depends on the caller: the amounts' access is checked by their resolvers."""
        if getattr(type(deal), "keeps_views", False):
            made = deal.__dict__.get(_VIEW)
            if made is None:
                made = deal.__dict__[_VIEW] = cls._made(deal)
            return made  # type: ignore[no-any-return]
        return cls._made(deal)

    @classmethod
    def _made(cls, deal: d.Deal) -> Deal:
        return cls(
            id=strawberry.ID(deal.id),
            title=deal.title,
            currency=deal.currency,
            expected_close_date=_date(deal.expected_close_date),
            close_date=_date(deal.close_date),
            close_month=deal.close_month,
            owner_id=deal.owner_id,
            company_deleted=deal.company_deleted,
            deleted_contact_ids=[strawberry.ID(i) for i in deal.deleted_contact_ids],
            pipeline_version=deal.pipeline_version,
            status=DealStatus(deal.status),
            probability=deal.probability,
            stage_probability=deal.stage_probability,
            probability_override=deal.probability_override,
            model_probability=deal.probability_model,
            forecast_category=ForecastCategory(deal.forecast_category),
            next_step=deal.next_step,
            next_step_date=_date(deal.next_step_date),
            source=deal.source,
            product=deal.product,
            lost_reason=deal.lost_reason,
            closed_at=deal.closed_at,
            custom_fields=JSON(deal.custom_fields),
            stage_entered_at=deal.stage_entered_at,
            last_activity_at=deal.last_activity_at,
            completed_playbook_keys=list(deal.completed_playbook_keys),
            external_id=deal.external_id,
            created_at=deal.created_at,
            created_by=deal.created_by,
            updated_at=deal.updated_at,
            _deal=deal,
        )

    @classmethod
    async def resolve_reference(cls, info: Info, id: strawberry.ID) -> Deal | None:
        found = await info.context.deals.load(str(id))
        return cls.of(found) if found else None

    @classmethod
    async def resolve_references(cls, info: Info, ids: list[strawberry.ID]) -> list[Deal | None]:
        """A fetch's references at once (`crm_kit.graphql_schema`): one loader call."""
        found = await info.context.deals.load_many([str(i) for i in ids])
        return [cls.of(deal) if deal else None for deal in found]

    # Sync resolvers that may answer an awaitable (`amount_of`): the schema's type is given.
    # `row_value`: values of the deal alone (and the request's access and clock), so a
    # board's or a list's cards complete in one pass (`crm_kit.graphql_rows`); a role that
    # may not read amounts gets graphql-core's path and its FORBIDDEN errors.
    @strawberry.field(
        description='Exact decimal string, e.g. "1250.50". Null, with a FORBIDDEN error, '
        "for a role the workspace does not let read amounts.",
        graphql_type=str | None,
    )
    @row_value
    def amount(self, info: Info) -> MaybeAmount:
        return amount_of(info, "amount", self._deal.amount_minor, self._deal.currency)

    @strawberry.field(
        description="amount x effective probability, rounded half to even in minor units "
        "(hidden with the amount).",
        graphql_type=str | None,
    )
    @row_value
    def weighted_amount(self, info: Info) -> MaybeAmount:
        return amount_of(info, "weightedAmount", self._deal.weighted_minor, self._deal.currency)

    @strawberry.field(description="Idle past its stage's rotting threshold.")
    @row_value
    def stale(self, info: Info) -> bool:
        stale_at = self._deal.stale_at
        return stale_at is not None and stale_at <= info.context.now

    @strawberry.field
    @row_value
    def stale_at(self) -> datetime | None:
        return self._deal.stale_at

    @strawberry.field
    @row_value
    def company(self) -> Company | None:
        return Company(id=strawberry.ID(self._deal.company_id)) if self._deal.company_id else None

    @strawberry.field
    @row_value
    def primary_contact(self) -> Contact | None:
        cid = self._deal.primary_contact_id
        return Contact(id=strawberry.ID(cid)) if cid else None

    @strawberry.field(description="Every contact on the deal, the primary one first.")
    @row_value
    def contacts(self) -> list[Contact]:
        return [Contact(id=strawberry.ID(i)) for i in self._deal.contact_ids]

    @strawberry.field
    async def pipeline(self, info: Info) -> Pipeline | None:
        found = await info.context.pipelines.load(self._deal.pipeline_id)
        return Pipeline.of(found) if found else None

    @strawberry.field(description="The stage as defined in the deal's pipeline version.")
    async def stage(self, info: Info) -> Stage:
        deal = self._deal
        found = await info.context.pipelines.load(deal.pipeline_id)
        stage = found.stage_at(deal.pipeline_version, deal.stage_key) if found else None
        if stage is None:
            return Stage.of(
                p.Stage(
                    deal.stage_key, deal.stage_key, deal.stage_probability, deal.forecast_category
                )
            )
        return Stage.of(stage)

    @strawberry.field(
        description="The win model's probability for this open deal now, where it came from "
        "and its largest signed factors; null when closed or before any training."
    )
    async def win_explanation(self, info: Info) -> WinExplanation | None:
        return await explain_deal(info, self._deal)

    @strawberry.field(description="Append-only, oldest first.")
    @row_value
    def stage_history(self) -> list[StageChange]:
        return [StageChange.of(c) for c in self._deal.stage_history]

    @strawberry.field(description="Every change of owner, oldest first.")
    @row_value
    def owner_changes(self) -> list[OwnerChange]:
        return [OwnerChange.of(c) for c in self._deal.owner_changes]


DealConnection = Connection[Deal]


def deal_connection(page: queries.DealPage) -> Connection[Deal]:
    edges = [
        Edge(node=Deal.of(item), cursor=cursor)
        for item, cursor in zip(page.items, page.cursors, strict=True)
    ]
    return Connection(
        edges=edges,
        page_info=PageInfo(
            has_next_page=page.has_next,
            has_previous_page=page.has_previous,
            start_cursor=page.cursors[0] if page.cursors else None,
            end_cursor=page.cursors[-1] if page.cursors else None,
        ),
        total_count=page.total,
    )


async def _deals(
    info: Info, selection: DealSelection, first: int | None, after: str | None
) -> Connection[Deal]:
    page = await queries.list_deals(info.context.scope, selection, first=first, after=after)
    return deal_connection(page)


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
    ) -> Connection[Deal]:
        selection = DealSelection(contact_id=str(self.id), status=status.value if status else None)
        return await _deals(info, selection, first, after)


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
    ) -> Connection[Deal]:
        selection = DealSelection(company_id=str(self.id), status=status.value if status else None)
        return await _deals(info, selection, first, after)


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
