"""GraphQL input types and their conversion to the use cases' typed inputs."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry
from strawberry.scalars import JSON

from crm_kit.unset import UNSET, Unset

from ..domain import rule as rules
from ..domain.queries import TaskFilter, TaskOrder
from ..usecases.inputs import RuleInput, TaskChanges, TaskInput, TeamInput
from .enums import (
    ActionType,
    AssigneeRuleKind,
    AssignmentStrategy,
    ConditionOp,
    EscalateMode,
    Priority,
    RuleTrigger,
    SortDirection,
    TaskOrderField,
    TaskSourceKind,
    TaskStatus,
    TaskType,
)


@strawberry.input
class CreateTaskInput:
    title: str
    type: TaskType = TaskType.TODO
    priority: Priority = Priority.NORMAL
    description: str | None = None
    due_at: datetime | None = None
    remind_at: datetime | None = None
    assignee_id: strawberry.ID | None = strawberry.field(
        default=None, description="A user; omit both this and teamId to assign yourself."
    )
    team_id: strawberry.ID | None = strawberry.field(
        default=None, description="A team; without assigneeId its strategy picks a member."
    )
    deal_id: strawberry.ID | None = None
    contact_id: strawberry.ID | None = None
    company_id: strawberry.ID | None = None

    def to_input(self) -> TaskInput:
        return TaskInput(
            title=self.title,
            type=self.type.value,
            priority=self.priority.value,
            description=self.description,
            due_at=self.due_at,
            remind_at=self.remind_at,
            assignee_id=_opt(self.assignee_id),
            team_id=_opt(self.team_id),
            deal_id=_opt(self.deal_id),
            contact_id=_opt(self.contact_id),
            company_id=_opt(self.company_id),
        )


def _opt(value: Any) -> str | None:
    """An optional id as given, without the spaces a pasted value brings; blank means not
    given (as a deal's owner and a contact's owner read it), never a user named " "."""
    text = str(value).strip() if value is not None else ""
    return text or None


def _given(value: Any) -> Any:
    """Strawberry's "not given" as the use cases' (`crm_kit.unset.UNSET`)."""
    return UNSET if value is strawberry.UNSET else value


def _required(value: Any) -> Any:
    """A required field: not given or null keeps it."""
    return UNSET if value is strawberry.UNSET or value is None else value


@strawberry.input(description="Only the fields given change; null clears an optional field.")
class UpdateTaskInput:
    title: str | None = strawberry.UNSET
    type: TaskType | None = strawberry.UNSET
    priority: Priority | None = strawberry.UNSET
    description: str | None = strawberry.UNSET
    due_at: datetime | None = strawberry.UNSET
    remind_at: datetime | None = strawberry.UNSET
    assignee_id: strawberry.ID | None = strawberry.UNSET
    team_id: strawberry.ID | None = strawberry.UNSET
    deal_id: strawberry.ID | None = strawberry.UNSET
    contact_id: strawberry.ID | None = strawberry.UNSET
    company_id: strawberry.ID | None = strawberry.UNSET

    def to_input(self) -> TaskChanges:
        def ref(value: Any) -> str | Unset | None:
            return _opt(value) if value is not strawberry.UNSET else UNSET

        return TaskChanges(
            title=_required(self.title),
            type=_enum(_required(self.type)),
            priority=_enum(_required(self.priority)),
            description=_given(self.description),
            due_at=_given(self.due_at),
            remind_at=_given(self.remind_at),
            assignee_id=ref(self.assignee_id),
            team_id=ref(self.team_id),
            deal_id=ref(self.deal_id),
            contact_id=ref(self.contact_id),
            company_id=ref(self.company_id),
        )


def _enum(value: Any) -> Any:
    """A GraphQL enum's stored value (what was not given stays so)."""
    return value if isinstance(value, Unset) else value.value


@strawberry.input
class TaskFilterInput:
    assignee_id: strawberry.ID | None = None
    team_id: strawberry.ID | None = None
    status: TaskStatus | None = None
    status_in: list[TaskStatus] | None = None
    due_before: datetime | None = None
    due_after: datetime | None = None
    overdue: bool | None = None
    deal_id: strawberry.ID | None = None
    contact_id: strawberry.ID | None = None
    source: TaskSourceKind | None = None

    def to_filter(self) -> TaskFilter:
        statuses: list[str] | None = None
        if self.status_in is not None:
            statuses = [s.value for s in self.status_in]
        if self.status is not None:
            wanted = self.status.value
            statuses = [wanted] if statuses is None else [s for s in statuses if s == wanted]
        return TaskFilter(
            assignee_id=str(self.assignee_id) if self.assignee_id else None,
            team_id=str(self.team_id) if self.team_id else None,
            statuses=statuses,
            due_before=self.due_before,
            due_after=self.due_after,
            overdue=self.overdue,
            deal_ids=[str(self.deal_id)] if self.deal_id else None,
            contact_ids=[str(self.contact_id)] if self.contact_id else None,
            source_kind=self.source.value if self.source else None,
        )


@strawberry.input
class TaskOrderInput:
    field: TaskOrderField = TaskOrderField.DUE_AT
    direction: SortDirection = SortDirection.ASC

    def to_order(self) -> TaskOrder:
        return TaskOrder(self.field.value, self.direction == SortDirection.DESC)


@strawberry.input
class CreateTeamInput:
    name: str
    member_ids: list[strawberry.ID]
    strategy: AssignmentStrategy = AssignmentStrategy.ROUND_ROBIN
    manager_id: strawberry.ID | None = None

    def to_input(self) -> TeamInput:
        return TeamInput(
            name=self.name,
            member_ids=[str(m) for m in self.member_ids],
            strategy=self.strategy.value,
            manager_id=_opt(self.manager_id),
        )


@strawberry.input
class UpdateTeamInput:
    name: str | None = None
    member_ids: list[strawberry.ID] | None = None
    strategy: AssignmentStrategy | None = None
    manager_id: strawberry.ID | None = None

    def to_input(self) -> TeamInput:
        # null keeps a field (a manager is removed with an empty id)
        return TeamInput(
            name=_required(self.name),
            member_ids=[str(m) for m in self.member_ids] if self.member_ids is not None else UNSET,
            strategy=self.strategy.value if self.strategy is not None else UNSET,
            manager_id=str(self.manager_id) if self.manager_id is not None else UNSET,
        )


@strawberry.input(name="RuleAssigneeInput")
class AssigneeRuleInput:
    rule: AssigneeRuleKind = AssigneeRuleKind.OWNER
    team_id: strawberry.ID | None = None
    user_id: strawberry.ID | None = None


@strawberry.input(
    name="RuleTaskTemplateInput",
    description="A task an action creates. Title and description may hold "
    "{{path}} placeholders filled from the event data.",
)
class TaskTemplateInput:
    title: str
    type: TaskType = TaskType.TODO
    priority: Priority = Priority.NORMAL
    description: str | None = None
    due_offset_days: int = 0
    due_offset_hours: int = 0
    assignee: AssigneeRuleInput | None = None

    def to_domain(self) -> rules.TaskTemplate:
        assignee = self.assignee or AssigneeRuleInput()
        return rules.TaskTemplate(
            title=self.title,
            type=self.type.value,
            priority=self.priority.value,
            description=self.description,
            due_offset_days=self.due_offset_days,
            due_offset_hours=self.due_offset_hours,
            assignee=rules.AssigneeRule(
                rule=assignee.rule.value,
                team_id=_opt(assignee.team_id),
                user_id=_opt(assignee.user_id),
            ),
        )


@strawberry.input(description="`path` into the event data (e.g. deal.amountMinor, toStage).")
class RuleConditionInput:
    path: str
    op: ConditionOp
    value: JSON | None = None

    def to_domain(self) -> rules.Condition:
        return rules.Condition(path=self.path, op=self.op.value, value=self.value)


@strawberry.input
class RuleActionInput:
    type: ActionType
    task: TaskTemplateInput | None = strawberry.field(default=None, description="CREATE_TASK")
    user_id: strawberry.ID | None = strawberry.field(default=None, description="NOTIFY a user")
    team_id: strawberry.ID | None = strawberry.field(
        default=None, description="NOTIFY a team; ESCALATE to this team's manager"
    )
    title: str | None = None
    body: str | None = None
    escalate_mode: EscalateMode | None = None
    stage_key: str | None = strawberry.field(
        default=None,
        description="MOVE_DEAL: the stage the event's deal moves to (exit criteria enforced)",
    )

    def to_domain(self) -> rules.Action:
        return rules.Action(
            type=self.type.value,
            task=self.task.to_domain() if self.task else None,
            user_id=_opt(self.user_id),
            team_id=_opt(self.team_id),
            title=self.title,
            body=self.body,
            escalate_mode=self.escalate_mode.value if self.escalate_mode else None,
            stage_key=self.stage_key,
        )


@strawberry.input
class CreateAutomationRuleInput:
    name: str
    trigger: RuleTrigger
    actions: list[RuleActionInput]
    conditions: list[RuleConditionInput] = strawberry.field(default_factory=list)
    enabled: bool = True

    def to_input(self) -> RuleInput:
        return RuleInput(
            name=self.name,
            trigger=self.trigger.value,
            conditions=[c.to_domain() for c in self.conditions],
            actions=[a.to_domain() for a in self.actions],
            enabled=self.enabled,
        )


@strawberry.input
class UpdateAutomationRuleInput:
    name: str | None = None
    trigger: RuleTrigger | None = None
    conditions: list[RuleConditionInput] | None = None
    actions: list[RuleActionInput] | None = None
    enabled: bool | None = None

    def to_input(self) -> RuleInput:
        # null keeps a field
        return RuleInput(
            name=_required(self.name),
            trigger=self.trigger.value if self.trigger is not None else UNSET,
            conditions=[c.to_domain() for c in self.conditions]
            if self.conditions is not None
            else UNSET,
            actions=[a.to_domain() for a in self.actions] if self.actions is not None else UNSET,
            enabled=_required(self.enabled),
        )


@strawberry.input
class HandOverTasksInput:
    from_user_id: str
    to_user_id: str
