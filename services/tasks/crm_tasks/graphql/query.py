"""Query resolvers: thin, they translate arguments and call the use cases."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry

from crm_kit.audit_graphql import log_field, trail_field
from crm_kit.audit_rpc import any_trail_field
from crm_kit.errors import BadUserInput, NotFound
from crm_kit.pagination import decode_cursor, encode_cursor, page_size
from crm_kit.relay_types import Connection, Edge, PageInfo, connection

from ..domain.queries import TaskOrder
from ..usecases import analytics, audit, automation, lookups, teams
from ..usecases.tasks import get_task
from . import access
from .context import ContextInfo
from .enums import AnalyticsGroupBy, RuleTrigger
from .inputs import TaskFilterInput, TaskOrderInput
from .types import (
    AutomationRule,
    RuleRunConnection,
    Task,
    TaskAnalytics,
    Team,
    analytics_type,
    rule_type,
    run_type,
    task_type,
    team_type,
)


@strawberry.type
class Query:
    sharing_settings: access.SharingSettings = strawberry.field(
        resolver=access.sharing_settings,
        description="The workspace's sharing settings (defaults until an admin sets them).",
    )

    audit_trail = any_trail_field("tasks", audit.readable)
    tasks_audit_trail = trail_field(audit.readable, "task, team or automation rule")
    tasks_audit_log = log_field("tasks, teams and rules")

    # A look-up by id answers null for none (or one the caller may not see), as
    # `contact`, `company` and `deal` do; a change to a missing record is NOT_FOUND.
    @strawberry.field(description="A task by id; null if there is none (or you may not see it).")
    async def task(self, info: ContextInfo, id: strawberry.ID) -> Task | None:
        scope = info.context.scope
        try:
            return task_type(await get_task(scope, str(id)), scope.now())
        except NotFound:
            return None

    @strawberry.field(description="Tasks matching the filter, as a cursor connection.")
    async def tasks(
        self,
        info: ContextInfo,
        filter: TaskFilterInput | None = None,
        order_by: TaskOrderInput | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[Task]:
        scope = info.context.scope
        order = order_by.to_order() if order_by else TaskOrder()
        where = filter.to_filter() if filter else TaskFilterInput().to_filter()
        cursor = decode_cursor(after) if after else None
        page = await lookups.list_tasks(scope, where, order, cursor, page_size(first))
        now = scope.now()
        return connection(
            page,
            lambda task: task_type(task, now),
            lambda task: encode_cursor(task.sort_value(order.field), task.id),
        )

    @strawberry.field(
        description="The caller's open and in-progress tasks: overdue first, then by due date."
    )
    async def my_tasks(self, info: ContextInfo) -> list[Task]:
        scope = info.context.scope
        now = scope.now()
        return [task_type(task, now) for task in await lookups.my_tasks(scope)]

    @strawberry.field(description="A team by id; null if there is none.")
    async def team(self, info: ContextInfo, id: strawberry.ID) -> Team | None:
        found = await info.context.loaders.team.load(str(id))
        return None if found is None else team_type(found)

    @strawberry.field
    async def teams(self, info: ContextInfo) -> list[Team]:
        return [team_type(t) for t in await teams.list_teams(info.context.scope)]

    @strawberry.field(description="An automation rule by id; null if there is none.")
    async def automation_rule(self, info: ContextInfo, id: strawberry.ID) -> AutomationRule | None:
        try:
            return rule_type(await automation.get_rule(info.context.scope, str(id)))
        except NotFound:
            return None

    @strawberry.field
    async def automation_rules(
        self, info: ContextInfo, trigger: RuleTrigger | None = None, enabled: bool | None = None
    ) -> list[AutomationRule]:
        rules = await automation.list_rules(
            info.context.scope, trigger.value if trigger else None, enabled
        )
        return [rule_type(r) for r in rules]

    @strawberry.field(description="Runs of one rule, newest first.")
    async def rule_runs(
        self,
        info: ContextInfo,
        rule_id: strawberry.ID,
        first: int | None = None,
        after: str | None = None,
    ) -> RuleRunConnection:
        cursor = decode_cursor(after) if after else None
        if cursor is not None and not isinstance(cursor[0], datetime):
            raise BadUserInput("cursor does not belong to this list", field="after")
        runs, more = await automation.list_runs(
            info.context.scope, str(rule_id), cursor, page_size(first)
        )
        edges = [Edge(node=run_type(r), cursor=encode_cursor(r.at, r.id)) for r in runs]
        return RuleRunConnection(
            edges=edges,
            page_info=PageInfo(has_next_page=more, end_cursor=edges[-1].cursor if edges else None),
        )

    @strawberry.field(
        description="Tasks created in [from, to), grouped; playbook effectiveness for deals "
        "closed in [from, to)."
    )
    async def task_analytics(
        self,
        info: ContextInfo,
        from_: Annotated[datetime, strawberry.argument(name="from")],
        to: datetime,
        group_by: AnalyticsGroupBy = AnalyticsGroupBy.ASSIGNEE,
    ) -> TaskAnalytics:
        if from_.tzinfo is None or to.tzinfo is None:
            raise BadUserInput("must carry a time zone", field="from")
        result = await analytics.task_analytics(info.context.scope, from_, to, group_by.value)
        return analytics_type(result)
