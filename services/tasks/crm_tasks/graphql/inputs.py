"""GraphQL input types and their conversion to domain values."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry
from strawberry.scalars import JSON

from ..domain import model
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

    def to_domain(self) -> model.NewTask:
        return model.NewTask(
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
    return str(value) if value else None


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

    def changes(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name in (
            "title",
            "type",
            "priority",
            "description",
            "due_at",
            "remind_at",
            "assignee_id",
            "team_id",
            "deal_id",
            "contact_id",
            "company_id",
        ):
            value = getattr(self, name)
            if value is strawberry.UNSET:
                continue
            if name in ("title", "type", "priority") and value is None:
                continue
            if hasattr(value, "value"):
                value = value.value
            elif name.endswith("_id"):
                value = _opt(value)
            out[name] = value
        return out


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


@strawberry.input
class TaskOrderInput:
    field: TaskOrderField = TaskOrderField.DUE_AT
    direction: SortDirection = SortDirection.ASC


@strawberry.input
class CreateTeamInput:
    name: str
    member_ids: list[strawberry.ID]
    strategy: AssignmentStrategy = AssignmentStrategy.ROUND_ROBIN
    manager_id: strawberry.ID | None = None


@strawberry.input
class UpdateTeamInput:
    name: str | None = None
    member_ids: list[strawberry.ID] | None = None
    strategy: AssignmentStrategy | None = None
    manager_id: strawberry.ID | None = None


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

    def to_domain(self) -> model.TaskTemplate:
        assignee = self.assignee or AssigneeRuleInput()
        return model.TaskTemplate(
            title=self.title,
            type=self.type.value,
            priority=self.priority.value,
            description=self.description,
            due_offset_days=self.due_offset_days,
            due_offset_hours=self.due_offset_hours,
            assignee=model.AssigneeRule(
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

    def to_domain(self) -> model.Condition:
        return model.Condition(path=self.path, op=self.op.value, value=self.value)


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

    def to_domain(self) -> model.Action:
        return model.Action(
            type=self.type.value,
            task=self.task.to_domain() if self.task else None,
            user_id=_opt(self.user_id),
            team_id=_opt(self.team_id),
            title=self.title,
            body=self.body,
            escalate_mode=self.escalate_mode.value if self.escalate_mode else None,
        )


@strawberry.input
class CreateAutomationRuleInput:
    name: str
    trigger: RuleTrigger
    actions: list[RuleActionInput]
    conditions: list[RuleConditionInput] = strawberry.field(default_factory=list)
    enabled: bool = True


@strawberry.input
class UpdateAutomationRuleInput:
    name: str | None = None
    trigger: RuleTrigger | None = None
    conditions: list[RuleConditionInput] | None = None
    actions: list[RuleActionInput] | None = None
    enabled: bool | None = None

    def changes(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.name is not None:
            out["name"] = self.name
        if self.trigger is not None:
            out["trigger"] = self.trigger.value
        if self.conditions is not None:
            out["conditions"] = [c.to_domain() for c in self.conditions]
        if self.actions is not None:
            out["actions"] = [a.to_domain() for a in self.actions]
        if self.enabled is not None:
            out["enabled"] = self.enabled
        return out


@strawberry.input
class HandOverTasksInput:
    from_user_id: str
    to_user_id: str
