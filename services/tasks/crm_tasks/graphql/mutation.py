"""Mutation resolvers: role checks, then a use case."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from crm_kit.errors import Forbidden

from ..usecases import automation, handover, teams
from ..usecases import tasks as task_cases
from .context import require_manager, require_writer
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
    async def create_task(self, info: Info, input: CreateTaskInput) -> Task:
        ctx = require_writer(info)
        task = await task_cases.create_task(ctx.scope, input.to_domain())
        return task_type(task, ctx.scope.now())

    @strawberry.mutation(description="Change a task's fields (not its status).")
    async def update_task(self, info: Info, id: strawberry.ID, input: UpdateTaskInput) -> Task:
        ctx = require_writer(info)
        task = await task_cases.update_task(ctx.scope, str(id), input.changes())
        return task_type(task, ctx.scope.now())

    @strawberry.mutation(
        description="Move a task along OPEN -> IN_PROGRESS -> DONE, OPEN -> DONE, "
        "IN_PROGRESS -> OPEN, OPEN/IN_PROGRESS -> CANCELLED; anything else is "
        "PRECONDITION_FAILED."
    )
    async def set_task_status(
        self,
        info: Info,
        id: strawberry.ID,
        status: TaskStatus,
        outcome: str | None = None,
        reason: str | None = None,
    ) -> Task:
        ctx = require_writer(info)
        task = await task_cases.set_status(
            ctx.scope, str(id), status.value, outcome=outcome, reason=reason
        )
        return task_type(task, ctx.scope.now())

    @strawberry.mutation
    async def start_task(self, info: Info, id: strawberry.ID) -> Task:
        ctx = require_writer(info)
        task = await task_cases.set_status(ctx.scope, str(id), "in_progress")
        return task_type(task, ctx.scope.now())

    @strawberry.mutation
    async def complete_task(
        self, info: Info, id: strawberry.ID, outcome: str | None = None
    ) -> Task:
        ctx = require_writer(info)
        task = await task_cases.complete_task(ctx.scope, str(id), outcome)
        return task_type(task, ctx.scope.now())

    @strawberry.mutation
    async def cancel_task(self, info: Info, id: strawberry.ID, reason: str | None = None) -> Task:
        ctx = require_writer(info)
        task = await task_cases.cancel_task(ctx.scope, str(id), reason)
        return task_type(task, ctx.scope.now())

    @strawberry.mutation(
        description="Managers and admins only. Every OPEN/IN_PROGRESS task assigned to "
        "fromUserId (not to a team) goes to toUserId (task.updated with assigneeId); a "
        "repeat moves 0."
    )
    async def hand_over_tasks(self, info: Info, input: HandOverTasksInput) -> TaskHandover:
        ctx = require_writer(info)
        if not ctx.request.has_role("manager", "admin"):
            raise Forbidden("only a manager or admin may hand tasks over")
        moved = await handover.hand_over_tasks(ctx.scope, input.from_user_id, input.to_user_id)
        return TaskHandover(moved=len(moved), task_ids=[strawberry.ID(i) for i in moved])

    @strawberry.mutation(description="Needs role manager or admin.")
    async def create_team(self, info: Info, input: CreateTeamInput) -> Team:
        ctx = require_manager(info)
        team = await teams.create_team(
            ctx.scope,
            name=input.name,
            member_ids=[str(m) for m in input.member_ids],
            strategy=input.strategy.value,
            manager_id=str(input.manager_id) if input.manager_id else None,
        )
        return team_type(team)

    @strawberry.mutation(description="Needs role manager or admin.")
    async def update_team(self, info: Info, id: strawberry.ID, input: UpdateTeamInput) -> Team:
        ctx = require_manager(info)
        team = await teams.update_team(
            ctx.scope,
            str(id),
            name=input.name,
            member_ids=[str(m) for m in input.member_ids] if input.member_ids is not None else None,
            strategy=input.strategy.value if input.strategy else None,
            manager_id=str(input.manager_id) if input.manager_id is not None else None,
        )
        return team_type(team)

    @strawberry.mutation(description="Needs role manager or admin.")
    async def create_automation_rule(
        self, info: Info, input: CreateAutomationRuleInput
    ) -> AutomationRule:
        ctx = require_manager(info)
        rule = await automation.create_rule(
            ctx.scope,
            name=input.name,
            trigger=input.trigger.value,
            conditions=[c.to_domain() for c in input.conditions],
            actions=[a.to_domain() for a in input.actions],
            enabled=input.enabled,
        )
        return rule_type(rule)

    @strawberry.mutation(description="Needs role manager or admin.")
    async def update_automation_rule(
        self, info: Info, id: strawberry.ID, input: UpdateAutomationRuleInput
    ) -> AutomationRule:
        ctx = require_manager(info)
        rule = await automation.update_rule(ctx.scope, str(id), input.changes())
        return rule_type(rule)

    @strawberry.mutation(description="Needs role manager or admin.")
    async def enable_automation_rule(self, info: Info, id: strawberry.ID) -> AutomationRule:
        ctx = require_manager(info)
        return rule_type(await automation.update_rule(ctx.scope, str(id), {"enabled": True}))

    @strawberry.mutation(description="Needs role manager or admin.")
    async def disable_automation_rule(self, info: Info, id: strawberry.ID) -> AutomationRule:
        ctx = require_manager(info)
        return rule_type(await automation.update_rule(ctx.scope, str(id), {"enabled": False}))

    @strawberry.mutation(description="Needs role manager or admin. Returns the deleted id.")
    async def delete_automation_rule(self, info: Info, id: strawberry.ID) -> strawberry.ID:
        ctx = require_manager(info)
        await automation.delete_rule(ctx.scope, str(id))
        return id
