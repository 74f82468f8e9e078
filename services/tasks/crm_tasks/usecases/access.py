"""The workspace's sharing settings (`crm_kit.sharing`): anyone may read them (they say
what a rep sees, nothing about any record); only admins change them. Each change is
announced (`crm.tasks.access_settings.changed.v1`) for every service's projection."""

from __future__ import annotations

from collections.abc import Sequence

from crm_kit.errors import Forbidden
from crm_kit.sharing import validate_audit_retention, validate_field_roles, validate_level

from ..domain.access import WorkspaceAccess
from .scope import Scope


def _require_admin(scope: Scope) -> None:
    if not scope.caller.has_role("admin"):
        raise Forbidden("only an admin may change the sharing settings")


async def access_settings(scope: Scope) -> WorkspaceAccess:
    return await scope.store.get_access()


async def set_sharing(scope: Scope, record_type: str, level: str) -> WorkspaceAccess:
    _require_admin(scope)
    validate_level(record_type, level)

    async def change(access: WorkspaceAccess) -> bool:
        return access.set_level(record_type, level, scope.actor, scope.now())

    return await scope.store.change_access(change)


async def set_field_access(
    scope: Scope, sensitive_field: str, roles: Sequence[str]
) -> WorkspaceAccess:
    _require_admin(scope)
    allowed = validate_field_roles(sensitive_field, roles)

    async def change(access: WorkspaceAccess) -> bool:
        return access.set_field_roles(sensitive_field, allowed, scope.actor, scope.now())

    return await scope.store.change_access(change)


async def set_audit_retention(scope: Scope, days: int | None) -> WorkspaceAccess:
    """How long every service keeps the workspace's audit entries (None: the platform's
    AUDIT_RETENTION_DAYS): admins only, within `AUDIT_RETENTION_DAYS_RANGE`."""
    _require_admin(scope)
    chosen = validate_audit_retention(days)

    async def change(access: WorkspaceAccess) -> bool:
        return access.set_audit_retention(chosen, scope.actor, scope.now())

    return await scope.store.change_access(change)
