"""Mutation resolvers: translate the input, call a use case (which checks the caller's
role), wrap the result."""

from __future__ import annotations

import strawberry

from ..usecases import automation, handover, teams
from ..usecases import tasks as task_cases
from ..usecases.inputs import RuleInput
from . import access
from .context import ContextInfo
from .enums import TaskStatus
from .inputs import (
    CreateAutomationRuleInput,
    CreateTaskInput,
    CreateTeamInput,
    HandOverTasksInput,
    UpdateAutomationRuleInput,
    UpdateTaskInput,
    UpdateTeamInput,
)
from .types import AutomationRule, Task, Team, rule_type, task_type, team_type


@strawberry.type(description="What handOverTasks moved (moved = 0 when nothing was left).")
class TaskHandover:
    moved: int
    task_ids: list[strawberry.ID]


@strawberry.type
class Mutation:
    @strawberry.mutation(description="Create a task (source MANUAL).")
    async def create_task(self, info: ContextInfo, input: CreateTaskInput) -> Task:
        scope = info.context.scope
        return task_type(await task_cases.create_task(scope, input.to_input()), scope.now())

    @strawberry.mutation(description="Change a task's fields (not its status).")
    async def update_task(
        self, info: ContextInfo, id: strawberry.ID, input: UpdateTaskInput
    ) -> Task:
        scope = info.context.scope
        task = await task_cases.update_task(scope, str(id), input.to_input())
        return task_type(task, scope.now())

    @strawberry.mutation(
        description="Move a task along OPEN -> IN_PROGRESS -> DONE, OPEN -> DONE, "
        "IN_PROGRESS -> OPEN, OPEN/IN_PROGRESS -> CANCELLED; anything else is "
        "PRECONDITION_FAILED."
    )
    async def set_task_status(
        self,
        info: ContextInfo,
        id: strawberry.ID,
        status: TaskStatus,
        outcome: str | None = None,
        reason: str | None = None,
    ) -> Task:
        scope = info.context.scope
        task = await task_cases.set_status(
            scope, str(id), status.value, outcome=outcome, reason=reason
        )
        return task_type(task, scope.now())

    @strawberry.mutation
    async def start_task(self, info: ContextInfo, id: strawberry.ID) -> Task:
        scope = info.context.scope
        return task_type(await task_cases.set_status(scope, str(id), "in_progress"), scope.now())

    @strawberry.mutation
    async def complete_task(
        self, info: ContextInfo, id: strawberry.ID, outcome: str | None = None
    ) -> Task:
        scope = info.context.scope
        return task_type(await task_cases.complete_task(scope, str(id), outcome), scope.now())

    @strawberry.mutation
    async def cancel_task(
        self, info: ContextInfo, id: strawberry.ID, reason: str | None = None
    ) -> Task:
        scope = info.context.scope
        return task_type(await task_cases.cancel_task(scope, str(id), reason), scope.now())

    @strawberry.mutation(
        description="Managers and admins only. Every OPEN/IN_PROGRESS task assigned to "
        "fromUserId (not to a team) goes to toUserId (task.updated with assigneeId); a "
        "repeat moves 0."
    )
    async def hand_over_tasks(self, info: ContextInfo, input: HandOverTasksInput) -> TaskHandover:
        moved = await handover.hand_over_tasks(
            info.context.scope, input.from_user_id, input.to_user_id
        )
        return TaskHandover(moved=len(moved), task_ids=[strawberry.ID(i) for i in moved])

    set_sharing: access.SharingSettings = strawberry.mutation(
        resolver=access.set_sharing,
        description="Admins only: how widely reps see records of one type (takes effect in "
        "every service within moments: they follow the settings' events).",
    )
    set_field_access: access.SharingSettings = strawberry.mutation(
        resolver=access.set_field_access,
        description="Admins only: the roles that may read a sensitive field (admins always "
        "do). Others read it as null, with a FORBIDDEN error when they ask for it.",
    )

    set_audit_retention: access.SharingSettings = strawberry.mutation(
        resolver=access.set_audit_retention,
        description="Admins only: days every service keeps the workspace's audit log, 1 to "
        "3650 (null: the platform's AUDIT_RETENTION_DAYS). Older entries go at the next "
        "retention sweep.",
    )

    @strawberry.mutation(description="Needs role manager or admin.")
    async def create_team(self, info: ContextInfo, input: CreateTeamInput) -> Team:
        return team_type(await teams.create_team(info.context.scope, input.to_input()))

    @strawberry.mutation(description="Needs role manager or admin.")
    async def update_team(
        self, info: ContextInfo, id: strawberry.ID, input: UpdateTeamInput
    ) -> Team:
        return team_type(await teams.update_team(info.context.scope, str(id), input.to_input()))

    @strawberry.mutation(description="Needs role manager or admin.")
    async def create_automation_rule(
        self, info: ContextInfo, input: CreateAutomationRuleInput
    ) -> AutomationRule:
        return rule_type(await automation.create_rule(info.context.scope, input.to_input()))

    @strawberry.mutation(description="Needs role manager or admin.")
    async def update_automation_rule(
        self, info: ContextInfo, id: strawberry.ID, input: UpdateAutomationRuleInput
    ) -> AutomationRule:
        rule = await automation.update_rule(info.context.scope, str(id), input.to_input())
        return rule_type(rule)

    @strawberry.mutation(description="Needs role manager or admin.")
    async def enable_automation_rule(self, info: ContextInfo, id: strawberry.ID) -> AutomationRule:
        rule = await automation.update_rule(info.context.scope, str(id), RuleInput(enabled=True))
        return rule_type(rule)

    @strawberry.mutation(description="Needs role manager or admin.")
    async def disable_automation_rule(self, info: ContextInfo, id: strawberry.ID) -> AutomationRule:
        rule = await automation.update_rule(info.context.scope, str(id), RuleInput(enabled=False))
        return rule_type(rule)

    @strawberry.mutation(description="Needs role manager or admin. Returns the deleted id.")
    async def delete_automation_rule(self, info: ContextInfo, id: strawberry.ID) -> strawberry.ID:
        await automation.delete_rule(info.context.scope, str(id))
        return id
