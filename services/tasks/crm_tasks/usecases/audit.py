"""The audit log's reads (crm_kit.audit_graphql): whether the caller may read a record's
trail (whoever may read the task, team or rule now), and the workspace's log."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from crm_kit.audit_graphql import AuditConnection, AuditLogFilter, log_connection, trail_connection
from crm_kit.errors import Forbidden, NotFound

from .automation import get_rule
from .scope import Scope
from .tasks import get_task
from .teams import get_team


async def readable(scope: Scope, record_id: str) -> bool:
    getters: tuple[Callable[[Scope, str], Awaitable[object]], ...] = (get_task, get_team, get_rule)
    for get in getters:
        try:
            await get(scope, record_id)
        except NotFound:
            continue
        except Forbidden:
            return False
        return True
    return False


async def trail(
    scope: Scope, record_id: str, first: int | None, after: str | None
) -> AuditConnection:
    return await trail_connection(
        scope.store.audit_trail,
        scope.caller,
        record_id,
        lambda wanted: readable(scope, wanted),
        first=first,
        after=after,
    )


async def workspace_log(
    scope: Scope, filter: AuditLogFilter | None, first: int | None, after: str | None
) -> AuditConnection:
    return await log_connection(
        scope.store.audit_trail, scope.caller, filter, first=first, after=after
    )
