"""The audit log's reads (crm_kit.audit_graphql): whether the caller may read a record's
trail (whoever may read the deal or pipeline now; a deleted deal: managers and admins),
and the workspace's log."""

from __future__ import annotations

from crm_kit.audit_graphql import AuditConnection, AuditLogFilter, log_connection, trail_connection

from .deals import find_deal
from .scope import Scope


async def readable(scope: Scope, record_id: str) -> bool:
    deal = await find_deal(scope, record_id)
    if deal is not None:
        return not deal.deleted or scope.caller.has_role("admin", "manager")
    return await scope.store.get_pipeline(record_id) is not None


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
