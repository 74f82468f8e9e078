"""Who may read the audit trail (crm_kit.audit_graphql) of a task, team or automation
rule: whoever may read it now; admins any."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

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
