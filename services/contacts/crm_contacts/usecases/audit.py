"""Who may read the audit trail (crm_kit.audit_graphql) of a contact, company or
interaction: whoever may read it now; a deleted one, managers and admins (as the record
itself); admins any."""

from __future__ import annotations

from . import lookups
from .scope import Scope


async def readable(scope: Scope, record_id: str) -> bool:
    for by_ids in (lookups.contacts_by_ids, lookups.companies_by_ids, lookups.interactions_by_ids):
        found = (await by_ids(scope, [record_id])).get(record_id)
        if found is not None:
            deleted = getattr(found, "deleted", False)
            return not deleted or scope.caller.has_role("admin", "manager")
    return False
