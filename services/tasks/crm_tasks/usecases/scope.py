"""The scope a use case runs in: one caller in one workspace, and the clock."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from crm_kit.access_view import AccessViews, CallerAccess
from crm_kit.audit_rpc import Trails
from crm_kit.clock import Clock, utcnow
from crm_kit.context import RequestContext
from crm_kit.errors import Forbidden
from crm_kit.sharing import Access

from ..store.port import DealMoves, References, TasksStore, WorkspaceStore

# Who acts when the service reacts to an event or fires a reminder.
SERVICE = "service:tasks"


@dataclass
class Scope:
    store: WorkspaceStore  # scoped to the caller's workspace
    caller: RequestContext
    clock: Clock = utcnow
    # Stage moves asked of the deals service (automation rules); None where nothing moves
    # deals (the GraphQL API, unit tests that do not need it).
    deals: DealMoves | None = None
    views: AccessViews | None = None
    # Where a task's deal, contact and company are checked (the deals and contacts
    # services). None: nothing is checked (the service acting on its own).
    references: References | None = None
    # The other services' audit trails (the single `auditTrail(recordId)`); None: this
    # service's own only.
    trails: Trails | None = None
    _access: CallerAccess | None = field(default=None, init=False, repr=False)

    async def access(self) -> Access:
        """What the caller sees (`crm_kit.sharing`), read once per scope."""
        if self._access is None:
            self._access = CallerAccess(self.views, self.caller)
        return await self._access.get()

    @property
    def workspace_id(self) -> str:
        return self.store.workspace_id

    @property
    def actor(self) -> str:
        return self.caller.subject

    @property
    def is_service(self) -> bool:
        """Another service or this one, not a person (tasks then go to nobody by default)."""
        return self.actor.startswith("service:")

    def now(self) -> datetime:
        return self.clock()

    def require_write(self) -> None:
        if not self.caller.can_write:
            raise Forbidden("your role may not change data")

    def require_manager(self, what: str) -> None:
        if not self.caller.has_role("manager", "admin"):
            raise Forbidden(f"only a manager or admin may {what}")


# The scope of one caller (in the caller's workspace): what entry points are given.
Scopes = Callable[[RequestContext], Scope]


def scopes(
    store: TasksStore,
    clock: Clock = utcnow,
    views: AccessViews | None = None,
    *,
    deals: DealMoves | None = None,
    references: References | None = None,
    trails: Trails | None = None,
) -> Scopes:
    """`views`: the projection of teams and sharing settings; without it (unit tests'
    stores) every caller sees every task. `deals`: stage moves for automation rules.
    `references`: where a task's deal, contact and company are checked."""

    def scope_of(caller: RequestContext) -> Scope:
        workspace = store.for_workspace(caller.workspace_id)
        return Scope(workspace, caller, clock, deals, views, references, trails)

    return scope_of


def automation_caller(workspace_id: str, rule_id: str) -> RequestContext:
    """An automation rule acting on another service: the system (`service:tasks`) on the
    automation path, naming the rule, with a manager's rights (it may move any deal of the
    workspace, never override exit criteria nor set system fields)."""
    return RequestContext(workspace_id, f"{SERVICE}:automation:{rule_id}", frozenset({"manager"}))


def service_caller(workspace_id: str) -> RequestContext:
    """This service acting on its own behalf in a workspace (consumers, the scheduler)."""
    return RequestContext(workspace_id, SERVICE, frozenset({"admin"}))
