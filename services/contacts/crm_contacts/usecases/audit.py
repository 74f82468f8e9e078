"""The audit log's reads (crm_kit.audit_graphql): whether the caller may read a record's
trail (whoever may read the record now; a deleted one: managers and admins, as the
record itself), and the workspace's log."""

from __future__ import annotations

from crm_kit.audit_graphql import AuditConnection, AuditLogFilter, log_connection, trail_connection

from . import lookups
from .scope import Scope


async def readable(scope: Scope, record_id: str) -> bool:
    for by_ids in (lookups.contacts_by_ids, lookups.companies_by_ids, lookups.interactions_by_ids):
        found = (await by_ids(scope, [record_id])).get(record_id)
        if found is not None:
            deleted = getattr(found, "deleted", False)
            return not deleted or scope.caller.has_role("admin", "manager")
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
