"""Query resolvers: thin, they call use cases and the workspace-scoped store."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import strawberry
from strawberry.types import Info

from crm_kit.errors import BadUserInput, NotFound
from crm_kit.pagination import decode_cursor, encode_cursor, page_size

from ..domain.model import ACTIVE_STATUSES
from ..domain.model import Task as DomainTask
from ..store.codec import PRIORITY_RANK
from ..store.protocol import NO_DUE, TaskFilter, TaskPageRequest
from ..usecases import analytics, automation
from ..usecases.tasks import get_task
from .context import context_of
from .enums import AnalyticsGroupBy, RuleTrigger, SortDirection
from .inputs import TaskFilterInput, TaskOrderInput
from .types import (
    AutomationRule,
    PageInfo,
    RuleRunConnection,
    RuleRunEdge,
    Task,
    TaskAnalytics,
    TaskConnection,
    TaskEdge,
    Team,
    analytics_type,
    rule_type,
    run_type,
    task_type,
    team_type,
)

MY_TASKS_LIMIT = 500


def _filter(flt: TaskFilterInput | None) -> TaskFilter:
    if flt is None:
        return TaskFilter()
    statuses: list[str] | None = None
    if flt.status_in is not None:
        statuses = [s.value for s in flt.status_in]
    if flt.status is not None:
        statuses = (
            [flt.status.value]
            if statuses is None
            else [s for s in statuses if s == flt.status.value]
        )
    return TaskFilter(
        assignee_id=str(flt.assignee_id) if flt.assignee_id else None,
        team_id=str(flt.team_id) if flt.team_id else None,
        statuses=statuses,
        due_before=flt.due_before,
        due_after=flt.due_after,
        overdue=flt.overdue,
        deal_ids=[str(flt.deal_id)] if flt.deal_id else None,
        contact_ids=[str(flt.contact_id)] if flt.contact_id else None,
        source_kind=flt.source.value if flt.source else None,
    )


def _sort_value(task: DomainTask, field: str) -> Any:
    if field == "due_at":
        return task.due_at or NO_DUE
    if field == "priority_rank":
        return PRIORITY_RANK[task.priority]
    return getattr(task, field)


@strawberry.type
class Query:
    @strawberry.field(description="A task by id (NOT_FOUND if it does not exist here).")
    async def task(self, info: Info, id: strawberry.ID) -> Task | None:
        ctx = context_of(info)
        return task_type(await get_task(ctx.scope, str(id)), ctx.scope.now())

    @strawberry.field(description="Tasks matching the filter, as a cursor connection.")
    async def tasks(
        self,
        info: Info,
        filter: TaskFilterInput | None = None,
        order_by: TaskOrderInput | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> TaskConnection:
        ctx = context_of(info)
        order = order_by or TaskOrderInput()
        limit = page_size(first)
        flt = _filter(filter)
        now = ctx.scope.now()
        field = order.field.value
        page = TaskPageRequest(
            sort_field=field,
            descending=order.direction == SortDirection.DESC,
            after=decode_cursor(after) if after else None,
            limit=limit + 1,
        )
        found = await ctx.scope.store.find_tasks(flt, now, page)
        rows = found[:limit]
        edges = [
            TaskEdge(node=task_type(t, now), cursor=encode_cursor(_sort_value(t, field), t.id))
            for t in rows
        ]

        async def count() -> int:
            return await ctx.scope.store.count_tasks(flt, now)

        return TaskConnection(
            edges=edges,
            page_info=PageInfo(
                has_next_page=len(found) > limit,
                end_cursor=edges[-1].cursor if edges else None,
            ),
            count=count,
        )

    @strawberry.field(
        description="The caller's open and in-progress tasks: overdue first, then by due date."
    )
    async def my_tasks(self, info: Info) -> list[Task]:
        ctx = context_of(info)
        now = ctx.scope.now()
        found = await ctx.scope.store.find_tasks(
            TaskFilter(assignee_id=ctx.request.subject, statuses=ACTIVE_STATUSES),
            now,
            TaskPageRequest(sort_field="due_at", limit=MY_TASKS_LIMIT),
        )
        found.sort(key=lambda t: (not t.is_overdue(now), t.due_at or NO_DUE, t.id))
        return [task_type(t, now) for t in found]

    @strawberry.field
    async def team(self, info: Info, id: strawberry.ID) -> Team | None:
        found = await context_of(info).loaders.team.load(str(id))
        if found is None:
            raise NotFound(f"no team {id}", field="id")
        return team_type(found)

    @strawberry.field
    async def teams(self, info: Info) -> list[Team]:
        return [team_type(t) for t in await context_of(info).scope.store.list_teams()]

    @strawberry.field
    async def automation_rule(self, info: Info, id: strawberry.ID) -> AutomationRule | None:
        return rule_type(await automation.get_rule(context_of(info).scope, str(id)))

    @strawberry.field
    async def automation_rules(
        self, info: Info, trigger: RuleTrigger | None = None, enabled: bool | None = None
    ) -> list[AutomationRule]:
        rules = await context_of(info).scope.store.list_rules(
            trigger=trigger.value if trigger else None, enabled=enabled
        )
        return [rule_type(r) for r in rules]

    @strawberry.field(description="Runs of one rule, newest first.")
    async def rule_runs(
        self,
        info: Info,
        rule_id: strawberry.ID,
        first: int | None = None,
        after: str | None = None,
    ) -> RuleRunConnection:
        ctx = context_of(info)
        await automation.get_rule(ctx.scope, str(rule_id))
        limit = page_size(first)
        after_id = decode_cursor(after)[1] if after else None
        runs = await ctx.scope.store.list_runs(str(rule_id), after_id, limit + 1)
        edges = [RuleRunEdge(node=run_type(r), cursor=encode_cursor(None, r.id)) for r in runs]
        edges = edges[:limit]
        return RuleRunConnection(
            edges=edges,
            page_info=PageInfo(
                has_next_page=len(runs) > limit,
                end_cursor=edges[-1].cursor if edges else None,
            ),
        )

    @strawberry.field(
        description="Tasks created in [from, to), grouped; playbook effectiveness for deals "
        "closed in [from, to)."
    )
    async def task_analytics(
        self,
        info: Info,
        from_: Annotated[datetime, strawberry.argument(name="from")],
        to: datetime,
        group_by: AnalyticsGroupBy = AnalyticsGroupBy.ASSIGNEE,
    ) -> TaskAnalytics:
        if from_.tzinfo is None or to.tzinfo is None:
            raise BadUserInput("must carry a time zone", field="from")
        result = await analytics.task_analytics(context_of(info).scope, from_, to, group_by.value)
        return analytics_type(result)
