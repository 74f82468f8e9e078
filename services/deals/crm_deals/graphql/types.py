"""GraphQL output types around the deal (`entities.py` has the deal itself and the other
services' entity stubs): enums, pipelines and stages, history entries. Scalars are
copied from the domain objects."""

from __future__ import annotations

from datetime import datetime
from enum import Enum

import strawberry
from strawberry.types import Info

from ..domain import deal as d
from ..domain import pipeline as p


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
        found = await info.context.pipelines.load(str(id))
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
    overridden: list[str] = strawberry.field(
        description="Exit criteria that did not hold and were passed anyway: an admin's "
        "override, or an import placing the deal where its source says it was. Empty when "
        "every criterion held."
    )

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
            overridden=list(c.overridden),
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


@strawberry.type
class CurrencyTotal:
    currency: str
    count: int
    amount: str
    weighted_amount: str
