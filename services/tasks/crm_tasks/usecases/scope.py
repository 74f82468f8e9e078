"""The scope a use case runs in: one caller in one workspace, and the clock."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from crm_kit.clock import Clock, utcnow
from crm_kit.context import RequestContext
from crm_kit.errors import Forbidden

from ..store.port import References, TasksStore, WorkspaceStore

# Who acts when the service reacts to an event or fires a reminder.
SERVICE = "service:tasks"


@dataclass
class Scope:
    store: WorkspaceStore  # scoped to the caller's workspace
    caller: RequestContext
    clock: Clock = utcnow
    # Where a task's deal, contact and company are checked (the deals and contacts
    # services). None: nothing is checked (the service acting on its own).
    references: References | None = None

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
    store: TasksStore, clock: Clock = utcnow, references: References | None = None
) -> Scopes:
    def scope_of(caller: RequestContext) -> Scope:
        return Scope(store.for_workspace(caller.workspace_id), caller, clock, references)

    return scope_of


def service_caller(workspace_id: str) -> RequestContext:
    """This service acting on its own behalf in a workspace (consumers, the scheduler)."""
    return RequestContext(workspace_id, SERVICE, frozenset({"admin"}))
