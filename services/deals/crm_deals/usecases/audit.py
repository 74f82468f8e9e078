"""Who may read the audit trail (crm_kit.audit_graphql) of a deal or pipeline: whoever
may read it now; a deleted deal, managers and admins (as the deal itself); admins any."""

from __future__ import annotations

from .deals import find_deal
from .scope import Scope


async def readable(scope: Scope, record_id: str) -> bool:
    deal = await find_deal(scope, record_id)
    if deal is not None:
        return not deal.deleted or scope.caller.has_role("admin", "manager")
    return await scope.store.get_pipeline(record_id) is not None
