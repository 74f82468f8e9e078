"""GraphQL inputs and their conversion to the use cases' typed inputs (Strawberry's
UNSET becomes the kit's: "not given")."""

from __future__ import annotations

from dataclasses import fields
from datetime import date
from enum import Enum
from typing import Any

import strawberry
from strawberry.scalars import JSON

from ..domain import pipeline as p
from ..usecases import inputs
from .types import AssigneeRuleKind, DealStatus, ForecastCategory, TaskType


def _ids(values: list[strawberry.ID] | None) -> list[str] | None:
    return None if values is None else [str(v) for v in values]


def _id(value: strawberry.ID | None) -> str | None:
    return None if value is None else str(value)


@strawberry.input
class CreateDealInput:
    title: str
    amount: str = strawberry.field(description='Decimal string in `currency`, e.g. "1250.50".')
    currency: str = "USD"
    pipeline_id: strawberry.ID | None = strawberry.field(
        default=None, description="Defaults to the workspace's default pipeline."
    )
    stage_key: str | None = strawberry.field(
        default=None, description="An open stage; defaults to the pipeline's first stage."
    )
    company_id: strawberry.ID | None = None
    primary_contact_id: strawberry.ID | None = None
    contact_ids: list[strawberry.ID] | None = None
    owner_id: str | None = strawberry.field(default=None, description="Defaults to the caller.")
    expected_close_date: date | None = None
    next_step: str | None = None
    next_step_date: date | None = None
    source: str | None = None
    product: str | None = None
    probability_override: int | None = None
    custom_fields: JSON | None = None
    override: bool = strawberry.field(
        default=False,
        description="Admins only: create at `stageKey` although exit criteria of the stages "
        "before it do not hold; the criteria passed are recorded on the stage history entry "
        "(`overridden`) and in the stage change event (`overriddenCriteria`).",
    )

    def to_domain(self) -> inputs.DealInput:
        return inputs.DealInput(
            title=self.title,
            amount=self.amount,
            currency=self.currency,
            pipeline_id=_id(self.pipeline_id),
            stage_key=self.stage_key,
            company_id=_id(self.company_id),
            primary_contact_id=_id(self.primary_contact_id),
            contact_ids=_ids(self.contact_ids),
            owner_id=self.owner_id,
            expected_close_date=self.expected_close_date,
            next_step=self.next_step,
            next_step_date=self.next_step_date,
            source=self.source,
            product=self.product,
            probability_override=self.probability_override,
            custom_fields=self.custom_fields,
        )


@strawberry.input(description="Only the fields given change; null clears an optional field.")
class UpdateDealInput:
    title: str | None = strawberry.UNSET
    amount: str | None = strawberry.UNSET
    currency: str | None = strawberry.UNSET
    company_id: strawberry.ID | None = strawberry.UNSET
    primary_contact_id: strawberry.ID | None = strawberry.UNSET
    contact_ids: list[strawberry.ID] | None = strawberry.UNSET
    owner_id: str | None = strawberry.UNSET
    expected_close_date: date | None = strawberry.UNSET
    next_step: str | None = strawberry.UNSET
    next_step_date: date | None = strawberry.UNSET
    source: str | None = strawberry.UNSET
    product: str | None = strawberry.UNSET
    probability_override: int | None = strawberry.UNSET
    model_probability: int | None = strawberry.UNSET
    custom_fields: JSON | None = strawberry.UNSET

    def to_domain(self) -> inputs.DealChanges:
        given: dict[str, Any] = {}
        for spec in fields(inputs.DealChanges):
            value = getattr(self, spec.name)
            if value is strawberry.UNSET:
                continue
            if isinstance(value, list):
                value = [str(item) for item in value]
            elif isinstance(value, Enum):
                value = value.value
            given[spec.name] = value
        return inputs.DealChanges(**given)


@strawberry.input
class HandOverDealsInput:
    from_owner_id: str
    to_owner_id: str
    pipeline_id: strawberry.ID | None = strawberry.field(
        default=None, description="Only this pipeline's deals; every pipeline when omitted."
    )
    note: str | None = strawberry.field(
        default=None, description="Kept in each deal's ownerChanges and in the event."
    )


@strawberry.enum
class DealOrderField(Enum):
    CREATED_AT = "CREATED_AT"
    UPDATED_AT = "UPDATED_AT"
    AMOUNT = "AMOUNT"
    CLOSE_DATE = "CLOSE_DATE"
    TITLE = "TITLE"


@strawberry.enum
class SortDirection(Enum):
    ASC = "ASC"
    DESC = "DESC"


@strawberry.input
class DealOrder:
    field: DealOrderField = DealOrderField.CREATED_AT
    direction: SortDirection = SortDirection.DESC


@strawberry.input
class DealFilter:
    pipeline_id: strawberry.ID | None = None
    stage_key: str | None = None
    stage_keys: list[str] | None = None
    owner_id: str | None = None
    company_id: strawberry.ID | None = None
    contact_id: strawberry.ID | None = None
    status: DealStatus | None = None
    stale: bool | None = None
    currency: str | None = strawberry.field(
        default=None, description="Only deals in this currency; the amount range is in it (USD)."
    )
    amount_min: str | None = None
    amount_max: str | None = None
    close_date_from: date | None = None
    close_date_to: date | None = None
    text: str | None = strawberry.field(
        default=None, description="In the title, case-insensitive (at most 100 characters)."
    )

    def to_domain(self) -> inputs.DealFilter:
        stages = list(self.stage_keys or [])
        if self.stage_key:
            stages.append(self.stage_key)
        return inputs.DealFilter(
            pipeline_id=str(self.pipeline_id) if self.pipeline_id else None,
            stage_keys=stages or None,
            owner_id=self.owner_id,
            company_id=str(self.company_id) if self.company_id else None,
            contact_id=str(self.contact_id) if self.contact_id else None,
            status=self.status.value if self.status else None,
            stale=self.stale,
            currency=self.currency,
            amount_min=self.amount_min,
            amount_max=self.amount_max,
            close_date_from=self.close_date_from,
            close_date_to=self.close_date_to,
            text=self.text,
        )


@strawberry.input
class AssigneeRuleInput:
    rule: AssigneeRuleKind = AssigneeRuleKind.OWNER
    team_id: str | None = None
    user_id: str | None = None


@strawberry.input
class TaskTemplateInput:
    key: str
    title: str
    type: TaskType = TaskType.TODO
    due_offset_days: int = 0
    assignee: AssigneeRuleInput | None = None
    description: str | None = None


@strawberry.input
class ExitCriteriaInput:
    required_fields: list[str] = strawberry.field(default_factory=list)
    playbook_keys: list[str] = strawberry.field(default_factory=list)
    primary_contact_required: bool = False


@strawberry.input(description="An open stage; the terminal stages won and lost are added.")
class StageInput:
    key: str
    name: str
    probability: int
    forecast_category: ForecastCategory = ForecastCategory.PIPELINE
    rotting_days: int | None = None
    description: str | None = None
    exit_criteria: ExitCriteriaInput | None = None
    playbook: list[TaskTemplateInput] = strawberry.field(default_factory=list)

    def to_domain(self) -> p.Stage:
        criteria = self.exit_criteria or ExitCriteriaInput()
        return p.Stage(
            key=self.key,
            name=self.name,
            probability=self.probability,
            forecast_category=self.forecast_category.value,
            rotting_days=self.rotting_days,
            description=self.description,
            exit_criteria=p.ExitCriteria(
                required_fields=tuple(criteria.required_fields),
                playbook_keys=tuple(criteria.playbook_keys),
                primary_contact_required=criteria.primary_contact_required,
            ),
            playbook=tuple(
                p.TaskTemplate(
                    key=t.key,
                    title=t.title,
                    type=t.type.value,
                    due_offset_days=t.due_offset_days,
                    assignee=p.AssigneeRule(
                        rule=(t.assignee or AssigneeRuleInput()).rule.value,
                        team_id=(t.assignee or AssigneeRuleInput()).team_id,
                        user_id=(t.assignee or AssigneeRuleInput()).user_id,
                    ),
                    description=t.description,
                )
                for t in self.playbook
            ),
        )


@strawberry.input
class CreatePipelineInput:
    name: str
    currency: str = "USD"
    stages: list[StageInput]


@strawberry.input(description="Any change creates a new version of the pipeline.")
class UpdatePipelineInput:
    name: str | None = None
    stages: list[StageInput] | None = None
