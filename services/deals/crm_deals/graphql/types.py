"""GraphQL output types. Scalars are copied from the domain objects; references to other
services are entity stubs (`Company`, `Contact`) carrying only their key."""

from __future__ import annotations

from datetime import date, datetime
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from crm_kit.relay_types import PageInfo

from ..domain import deal as d
from ..domain import pipeline as p
from ..domain.money import format_amount

if TYPE_CHECKING:
    from .context import DealsContext
    from .entities import Company, Contact

from .win_model import WinExplanation, explain_deal


@strawberry.enum
class DealStatus(Enum):
    OPEN = "open"
    WON = "won"
    LOST = "lost"


@strawberry.enum
class ForecastCategory(Enum):
    PIPELINE = "pipeline"
    BEST_CASE = "best_case"
    COMMIT = "commit"
    CLOSED = "closed"


@strawberry.enum
class AssigneeRuleKind(Enum):
    OWNER = "owner"
    TEAM = "team"
    USER = "user"


@strawberry.enum
class TaskType(Enum):
    CALL = "call"
    EMAIL = "email"
    MEETING = "meeting"
    TODO = "todo"
    FOLLOW_UP = "follow_up"


@strawberry.type
class AssigneeRule:
    rule: AssigneeRuleKind
    team_id: str | None
    user_id: str | None


@strawberry.type(description="A task the tasks service creates when a deal enters the stage.")
class TaskTemplate:
    key: str
    title: str
    type: TaskType
    due_offset_days: int
    assignee: AssigneeRule
    description: str | None

    @classmethod
    def of(cls, t: p.TaskTemplate) -> TaskTemplate:
        return cls(
            key=t.key,
            title=t.title,
            type=TaskType(t.type),
            due_offset_days=t.due_offset_days,
            assignee=AssigneeRule(
                rule=AssigneeRuleKind(t.assignee.rule),
                team_id=t.assignee.team_id,
                user_id=t.assignee.user_id,
            ),
            description=t.description,
        )


@strawberry.type(description="What must be true before a deal may move forward out of a stage.")
class ExitCriteria:
    required_fields: list[str]
    playbook_keys: list[str]
    primary_contact_required: bool


@strawberry.type
class Stage:
    key: str
    name: str
    probability: int
    forecast_category: ForecastCategory
    rotting_days: int | None
    terminal: bool
    description: str | None
    exit_criteria: ExitCriteria
    playbook: list[TaskTemplate]

    @classmethod
    def of(cls, s: p.Stage) -> Stage:
        return cls(
            key=s.key,
            name=s.name,
            probability=s.probability,
            forecast_category=ForecastCategory(s.forecast_category),
            rotting_days=s.rotting_days,
            terminal=s.terminal,
            description=s.description,
            exit_criteria=ExitCriteria(
                required_fields=list(s.exit_criteria.required_fields),
                playbook_keys=list(s.exit_criteria.playbook_keys),
                primary_contact_required=s.exit_criteria.primary_contact_required,
            ),
            playbook=[TaskTemplate.of(t) for t in s.playbook],
        )


@strawberry.type(description="A superseded version of a pipeline.")
class PipelineVersion:
    version: int
    name: str
    stages: list[Stage]
    created_at: datetime | None
    created_by: str | None


@strawberry.federation.type(keys=["id"], name="Pipeline")
class Pipeline:
    id: strawberry.ID
    name: str
    version: int
    currency: str
    is_default: bool
    stages: list[Stage]
    created_at: datetime | None
    updated_at: datetime | None
    updated_by: str | None
    versions: list[PipelineVersion] = strawberry.field(
        description="Earlier versions, oldest first; deals may still be on one of them."
    )

    @classmethod
    def of(cls, pl: p.Pipeline) -> Pipeline:
        return cls(
            id=strawberry.ID(pl.id),
            name=pl.name,
            version=pl.version,
            currency=pl.currency,
            is_default=pl.is_default,
            stages=[Stage.of(s) for s in pl.stages],
            created_at=pl.created_at,
            updated_at=pl.updated_at,
            updated_by=pl.updated_by,
            versions=[
                PipelineVersion(
                    version=v.version,
                    name=v.name,
                    stages=[Stage.of(s) for s in v.stages],
                    created_at=v.created_at,
                    created_by=v.created_by,
                )
                for v in pl.previous
            ],
        )

    @classmethod
    async def resolve_reference(cls, info: Info, id: strawberry.ID) -> Pipeline | None:
        ctx: DealsContext = info.context
        found = await ctx.loaders.pipeline.load(str(id))
        return cls.of(found) if found else None


@strawberry.type(description="One entry of a deal's append-only stage history.")
class StageChange:
    id: strawberry.ID
    from_stage: str | None
    to_stage: str
    at: datetime
    by: str | None
    seconds_in_from_stage: int | None
    pipeline_version: int
    from_pipeline_version: int | None
    kind: str = strawberry.field(description="create, move, won, lost, reopen or import")

    @classmethod
    def of(cls, c: d.StageChange) -> StageChange:
        return cls(
            id=strawberry.ID(c.id),
            from_stage=c.from_stage,
            to_stage=c.to_stage,
            at=c.at,
            by=c.by,
            seconds_in_from_stage=c.seconds_in_from_stage,
            pipeline_version=c.pipeline_version,
            from_pipeline_version=c.from_pipeline_version,
            kind=c.kind,
        )


@strawberry.type(
    description="One change of a deal's owner (updateDeal or handOverDeals), oldest first."
)
class OwnerChange:
    from_owner_id: str | None
    to_owner_id: str | None
    at: datetime
    by: str | None
    handover_id: str | None = strawberry.field(
        description="Set when handOverDeals made the change."
    )
    note: str | None

    @classmethod
    def of(cls, c: d.OwnerChange) -> OwnerChange:
        return cls(
            from_owner_id=c.from_owner_id,
            to_owner_id=c.to_owner_id,
            at=c.at,
            by=c.by,
            handover_id=c.handover_id,
            note=c.note,
        )


@strawberry.type(description="What handOverDeals moved (moved = 0 when nothing was left).")
class DealHandover:
    from_owner_id: str
    to_owner_id: str
    moved: int
    deal_ids: list[strawberry.ID]
    handed_over_at: datetime
    handover_id: str | None = strawberry.field(
        description="Null when nothing moved (no summary event was sent)."
    )


def _date(text: str | None) -> date | None:
    return date.fromisoformat(text) if text else None


@strawberry.federation.type(keys=["id"], name="Deal")
class Deal:
    id: strawberry.ID
    title: str
    amount: str = strawberry.field(description='Exact decimal string, e.g. "1250.50".')
    currency: str = strawberry.field(description="ISO 4217 code.")
    weighted_amount: str = strawberry.field(
        description="amount x effective probability, rounded half to even in minor units."
    )
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
    _deal: strawberry.Private[d.Deal]

    @classmethod
    def of(cls, deal: d.Deal) -> Deal:
        return cls(
            id=strawberry.ID(deal.id),
            title=deal.title,
            amount=format_amount(deal.amount_minor, deal.currency),
            currency=deal.currency,
            weighted_amount=format_amount(deal.weighted_minor, deal.currency),
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
            custom_fields=deal.custom_fields,
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
        ctx: DealsContext = info.context
        found = await ctx.loaders.deal.load(str(id))
        return cls.of(found) if found else None

    @strawberry.field(description="Idle past its stage's rotting threshold.")
    def stale(self, info: Info) -> bool:
        stale_at = self._stale_at()
        return stale_at is not None and stale_at <= info.context.now

    @strawberry.field
    def stale_at(self) -> datetime | None:
        return self._stale_at()

    def _stale_at(self) -> datetime | None:
        return self._deal.stale_at

    @strawberry.field
    def company(self) -> Annotated[Company, strawberry.lazy(".entities")] | None:
        from .entities import Company

        return Company(id=strawberry.ID(self._deal.company_id)) if self._deal.company_id else None

    @strawberry.field
    def primary_contact(self) -> Annotated[Contact, strawberry.lazy(".entities")] | None:
        from .entities import Contact

        cid = self._deal.primary_contact_id
        return Contact(id=strawberry.ID(cid)) if cid else None

    @strawberry.field(description="Every contact on the deal, the primary one first.")
    def contacts(self) -> list[Annotated[Contact, strawberry.lazy(".entities")]]:
        from .entities import Contact

        return [Contact(id=strawberry.ID(i)) for i in self._deal.contact_ids]

    @strawberry.field
    async def pipeline(self, info: Info) -> Pipeline | None:
        found = await info.context.loaders.pipeline.load(self._deal.pipeline_id)
        return Pipeline.of(found) if found else None

    @strawberry.field(description="The stage as defined in the deal's pipeline version.")
    async def stage(self, info: Info) -> Stage:
        deal = self._deal
        found = await info.context.loaders.pipeline.load(deal.pipeline_id)
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
    def stage_history(self) -> list[StageChange]:
        return [StageChange.of(c) for c in self._deal.stage_history]

    @strawberry.field(description="Every change of owner, oldest first.")
    def owner_changes(self) -> list[OwnerChange]:
        return [OwnerChange.of(c) for c in self._deal.owner_changes]


@strawberry.type
class DealEdge:
    node: Deal
    cursor: str


@strawberry.type
class DealConnection:
    edges: list[DealEdge]
    page_info: PageInfo
    total_count: int


def connection(
    items: list[d.Deal], cursors: list[str], has_next: bool, has_previous: bool, total: int
) -> DealConnection:
    return DealConnection(
        edges=[
            DealEdge(node=Deal.of(item), cursor=c) for item, c in zip(items, cursors, strict=True)
        ],
        page_info=PageInfo(
            has_next_page=has_next,
            has_previous_page=has_previous,
            start_cursor=cursors[0] if cursors else None,
            end_cursor=cursors[-1] if cursors else None,
        ),
        total_count=total,
    )


@strawberry.type
class CurrencyTotal:
    currency: str
    count: int
    amount: str
    weighted_amount: str


Json = dict[str, Any]
