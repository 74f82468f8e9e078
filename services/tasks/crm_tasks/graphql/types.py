"""GraphQL object types and their mapping from the domain."""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable
from datetime import datetime
from typing import Any

import strawberry
from strawberry.scalars import JSON
from strawberry.types.nodes import FragmentSpread, InlineFragment, SelectedField

from crm_kit.audit_graphql import record_trail_field
from crm_kit.graphql_rows import row_value
from crm_kit.relay_types import Edge, PageInfo

from ..domain import rule as rules
from ..domain import task as tasks
from ..domain import team as teams
from ..usecases import audit
from ..usecases.analytics import Analytics, GroupStats
from .context import ContextInfo
from .enums import (
    ActionType,
    AssigneeRuleKind,
    AssignmentStrategy,
    ConditionOp,
    EscalateMode,
    Priority,
    RuleRunOutcome,
    RuleTrigger,
    TaskSourceKind,
    TaskStatus,
    TaskType,
)

# A status as the GraphQL document names it, to the loaders' key.
TASK_STATUSES = {status.name: status.value for status in TaskStatus}


def _ref(value: str | None) -> strawberry.ID | None:
    return strawberry.ID(value) if value is not None else None


@strawberry.type(description="Where a task came from.")
class SourceDetail:
    kind: TaskSourceKind
    template_key: str | None = strawberry.field(description="Playbook template key.")
    rule_id: strawberry.ID | None = strawberry.field(description="Automation rule id.")
    stage_change_id: str | None = strawberry.field(
        description="The deal stage change whose playbook created the task."
    )


@strawberry.federation.type(keys=["id"], description="A piece of work for a person or team.")
class Task:
    id: strawberry.ID
    title: str
    description: str | None
    type: TaskType
    priority: Priority
    status: TaskStatus
    due_at: datetime | None
    remind_at: datetime | None
    assignee_id: strawberry.ID | None
    team_id: strawberry.ID | None
    deal_id: strawberry.ID | None
    contact_id: strawberry.ID | None
    company_id: strawberry.ID | None
    source: TaskSourceKind
    source_detail: SourceDetail
    created_at: datetime
    created_by: str | None
    updated_at: datetime | None
    completed_at: datetime | None
    completed_by: str | None
    outcome: str | None
    on_time: bool | None = strawberry.field(
        description="For a done task: completed no later than dueAt."
    )
    overdue: bool = strawberry.field(description="Not done and past dueAt.")
    audit_trail = record_trail_field(audit.readable, "task")

    @strawberry.field
    async def team(self, info: ContextInfo) -> Team | None:
        if self.team_id is None:
            return None
        found = await info.context.loaders.team.load(str(self.team_id))
        return team_type(found) if found else None

    @strawberry.field
    def deal(self) -> Deal | None:
        return Deal(id=self.deal_id) if self.deal_id else None

    @strawberry.field
    def contact(self) -> Contact | None:
        return Contact(id=self.contact_id) if self.contact_id else None

    @classmethod
    async def resolve_reference(cls, info: ContextInfo, id: strawberry.ID) -> Task | None:
        found = await info.context.loaders.task.load(str(id))
        return task_type(found, info.context.scope.now()) if found else None


def task_type(task: tasks.Task, now: datetime) -> Task:
    return Task(
        id=strawberry.ID(task.id),
        title=task.title,
        description=task.description,
        type=TaskType(task.type),
        priority=Priority(task.priority),
        status=TaskStatus(task.status),
        due_at=task.due_at,
        remind_at=task.remind_at,
        assignee_id=_ref(task.assignee_id),
        team_id=_ref(task.team_id),
        deal_id=_ref(task.deal_id),
        contact_id=_ref(task.contact_id),
        company_id=_ref(task.company_id),
        source=TaskSourceKind(task.source.kind),
        source_detail=SourceDetail(
            kind=TaskSourceKind(task.source.kind),
            template_key=task.source.template_key,
            rule_id=_ref(task.source.rule_id),
            stage_change_id=task.source.stage_change_id,
        ),
        created_at=task.created_at,
        created_by=task.created_by,
        updated_at=task.updated_at,
        completed_at=task.completed_at,
        completed_by=task.completed_by,
        outcome=task.outcome,
        on_time=task.on_time,
        overdue=task.is_overdue(now),
    )


async def _related_tasks(
    info: ContextInfo, by: str, owner_id: str, status: TaskStatus | None
) -> list[Task]:
    loaders = info.context.loaders
    loader = loaders.deal_tasks if by == "deal" else loaders.contact_tasks
    found = await loader.load((owner_id, status.value if status else None))
    now = info.context.scope.now()
    return [task_type(task, now) for task in found]


def _related_now(
    info: ContextInfo, by: str, owner_id: str, status: TaskStatus | None
) -> list[Task] | Awaitable[list[Task]]:
    """The tasks at once when this request has read them already (a fetch's references
    prefetched together), else what to await: a field of each of a board's 140 cards,
    answered without a coroutine, a task and a loader call each (and with its literal
    status, in the cards' one-pass completion: `crm_kit.graphql_rows.row_value`)."""
    loaders = info.context.loaders
    found = loaders.related.get((by, (owner_id, status.value if status else None)))
    if found is None:
        return _related_tasks(info, by, owner_id, status)
    now = info.context.scope.now()
    return [task_type(task, now) for task in found]


def _selected_statuses(info: ContextInfo, type_name: str) -> set[str | None]:
    """The `status` arguments of the `tasks` fields selected on `type_name` under this
    `_entities` field (the gateway's inline fragments and any named ones), as given."""
    statuses: set[str | None] = set()

    def walk(selections: list[Any], on_type: bool) -> None:
        for selection in selections:
            if isinstance(selection, InlineFragment | FragmentSpread):
                walk(selection.selections, selection.type_condition == type_name)
            elif isinstance(selection, SelectedField) and on_type and selection.name == "tasks":
                status = selection.arguments.get("status")
                statuses.add(status if isinstance(status, str) else None)

    for field in info.selected_fields:
        walk(field.selections, False)
    return statuses


async def _references(info: ContextInfo, by: str, ids: list[strawberry.ID]) -> None:
    """Read the related tasks of a fetch's references in one batch per status selected,
    before their fields ask (which then answer at once: `_related_now`). A status that is
    not one is left to the field, which refuses it; a failed read too, which then fails
    per field, at each one's path, as it did without the prefetch."""
    loaders = info.context.loaders
    loader = loaders.deal_tasks if by == "deal" else loaders.contact_tasks
    statuses = [
        None if s is None else TASK_STATUSES[s]
        for s in _selected_statuses(info, "Deal" if by == "deal" else "Contact")
        if s is None or s in TASK_STATUSES
    ]
    if statuses:
        with contextlib.suppress(Exception):
            await loader.load_many([(str(i), s) for s in statuses for i in ids])


@strawberry.federation.type(keys=["id"], description="A deal (owned by the deals service).")
class Deal:
    id: strawberry.ID

    @strawberry.field(
        description="The deal's tasks, by due date; all statuses if none given.",
        graphql_type=list[Task],
    )
    @row_value
    def tasks(
        self, info: ContextInfo, status: TaskStatus | None = None
    ) -> list[Task] | Awaitable[list[Task]]:
        return _related_now(info, "deal", str(self.id), status)

    @classmethod
    def resolve_reference(cls, id: strawberry.ID) -> Deal:
        return cls(id=id)

    @classmethod
    async def resolve_references(cls, info: ContextInfo, ids: list[strawberry.ID]) -> list[Deal]:
        """A fetch's references at once (`crm_kit.graphql_schema`), their tasks read."""
        await _references(info, "deal", ids)
        return [cls(id=i) for i in ids]


@strawberry.federation.type(keys=["id"], description="A contact (owned by the contacts service).")
class Contact:
    id: strawberry.ID

    @strawberry.field(
        description="The contact's tasks, by due date; all statuses if none given.",
        graphql_type=list[Task],
    )
    @row_value
    def tasks(
        self, info: ContextInfo, status: TaskStatus | None = None
    ) -> list[Task] | Awaitable[list[Task]]:
        return _related_now(info, "contact", str(self.id), status)

    @classmethod
    def resolve_reference(cls, id: strawberry.ID) -> Contact:
        return cls(id=id)

    @classmethod
    async def resolve_references(cls, info: ContextInfo, ids: list[strawberry.ID]) -> list[Contact]:
        """A fetch's references at once (`crm_kit.graphql_schema`), their tasks read."""
        await _references(info, "contact", ids)
        return [cls(id=i) for i in ids]


@strawberry.federation.type(keys=["id"], description="People who share work.")
class Team:
    id: strawberry.ID
    name: str
    member_ids: list[strawberry.ID]
    manager_id: strawberry.ID | None
    strategy: AssignmentStrategy
    created_at: datetime | None

    @classmethod
    async def resolve_reference(cls, info: ContextInfo, id: strawberry.ID) -> Team | None:
        found = await info.context.loaders.team.load(str(id))
        return team_type(found) if found else None


def team_type(team: teams.Team) -> Team:
    return Team(
        id=strawberry.ID(team.id),
        name=team.name,
        member_ids=[strawberry.ID(m) for m in team.member_ids],
        manager_id=_ref(team.manager_id),
        strategy=AssignmentStrategy(team.strategy),
        created_at=team.created_at,
    )


# ---- automation rules ------------------------------------------------------------------


@strawberry.type(name="RuleAssignee")
class AssigneeRule:
    rule: AssigneeRuleKind
    team_id: strawberry.ID | None
    user_id: strawberry.ID | None


@strawberry.type(name="RuleTaskTemplate", description="A task a CREATE_TASK action makes.")
class TaskTemplate:
    title: str
    type: TaskType
    priority: Priority
    description: str | None
    due_offset_days: int
    due_offset_hours: int
    assignee: AssigneeRule


@strawberry.type
class RuleCondition:
    path: str
    op: ConditionOp
    value: JSON | None


@strawberry.type
class RuleAction:
    type: ActionType
    task: TaskTemplate | None
    user_id: strawberry.ID | None
    team_id: strawberry.ID | None
    title: str | None
    body: str | None
    escalate_mode: EscalateMode | None
    stage_key: str | None = strawberry.field(description="MOVE_DEAL: the stage to move to.")


@strawberry.type
class AutomationRule:
    id: strawberry.ID
    name: str
    trigger: RuleTrigger
    conditions: list[RuleCondition]
    actions: list[RuleAction]
    enabled: bool
    created_at: datetime | None
    updated_at: datetime | None


def _template_type(template: rules.TaskTemplate) -> TaskTemplate:
    return TaskTemplate(
        title=template.title,
        type=TaskType(template.type),
        priority=Priority(template.priority),
        description=template.description,
        due_offset_days=template.due_offset_days,
        due_offset_hours=template.due_offset_hours,
        assignee=AssigneeRule(
            rule=AssigneeRuleKind(template.assignee.rule),
            team_id=_ref(template.assignee.team_id),
            user_id=_ref(template.assignee.user_id),
        ),
    )


def rule_type(rule: rules.Rule) -> AutomationRule:
    return AutomationRule(
        id=strawberry.ID(rule.id),
        name=rule.name,
        trigger=RuleTrigger(rule.trigger),
        conditions=[
            RuleCondition(path=c.path, op=ConditionOp(c.op), value=c.value) for c in rule.conditions
        ],
        actions=[
            RuleAction(
                type=ActionType(a.type),
                task=_template_type(a.task) if a.task else None,
                user_id=_ref(a.user_id),
                team_id=_ref(a.team_id),
                title=a.title,
                body=a.body,
                escalate_mode=EscalateMode(a.escalate_mode) if a.escalate_mode else None,
                stage_key=a.stage_key,
            )
            for a in rule.actions
        ],
        enabled=rule.enabled,
        created_at=rule.created_at,
        updated_at=rule.updated_at,
    )


@strawberry.type(description="One run of a rule for one event.")
class RuleRun:
    id: strawberry.ID
    rule_id: strawberry.ID
    event_id: str
    event_type: str
    outcome: RuleRunOutcome
    error: str | None
    task_ids: list[strawberry.ID]
    notification_ids: list[strawberry.ID]
    at: datetime


def run_type(run: rules.RuleRun) -> RuleRun:
    return RuleRun(
        id=strawberry.ID(run.id),
        rule_id=strawberry.ID(run.rule_id),
        event_id=run.event_id,
        event_type=run.event_type,
        outcome=RuleRunOutcome(run.outcome),
        error=run.error,
        task_ids=[strawberry.ID(t) for t in run.task_ids],
        notification_ids=[strawberry.ID(n) for n in run.notification_ids],
        at=run.at,
    )


# Runs of a rule: the kit's edges, without a total (counting a rule's runs would read them
# all on the embedded database, and no client needs it).
@strawberry.type
class RuleRunConnection:
    edges: list[Edge[RuleRun]]
    page_info: PageInfo


# ---- analytics ---------------------------------------------------------------------------


@strawberry.type
class TaskStats:
    key: str | None = strawberry.field(description="Assignee id, team id or task type.")
    created: int
    completed: int
    completion_rate: float
    overdue: int = strawberry.field(description="Still open past dueAt, or completed after it.")
    median_seconds_to_complete: float | None


@strawberry.type
class PlaybookEffectiveness:
    deals_on_time: int = strawberry.field(
        description="Closed deals whose playbook tasks were all done on time."
    )
    deals_on_time_won: int
    win_rate_on_time: float | None
    deals_late: int = strawberry.field(
        description="Closed deals with a playbook task late, cancelled or not done."
    )
    deals_late_won: int
    win_rate_late: float | None


@strawberry.type
class TaskAnalytics:
    groups: list[TaskStats]
    total: TaskStats
    playbooks: PlaybookEffectiveness


def _stats(group: GroupStats) -> TaskStats:
    return TaskStats(
        key=group.key,
        created=group.created,
        completed=group.completed,
        completion_rate=group.completion_rate,
        overdue=group.overdue,
        median_seconds_to_complete=group.median_seconds_to_complete,
    )


def analytics_type(result: Analytics) -> TaskAnalytics:
    p = result.playbooks
    return TaskAnalytics(
        groups=[_stats(g) for g in result.groups],
        total=_stats(result.total),
        playbooks=PlaybookEffectiveness(
            deals_on_time=p.deals_on_time,
            deals_on_time_won=p.deals_on_time_won,
            win_rate_on_time=p.win_rate_on_time,
            deals_late=p.deals_late,
            deals_late_won=p.deals_late_won,
            win_rate_late=p.win_rate_late,
        ),
    )
