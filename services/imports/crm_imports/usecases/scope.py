"""The scope a use case runs in: one caller in one workspace, the owners' endpoints and
how jobs run.

Who may import: admins and managers. An import writes many records at once on behalf of
the person who starts it (the owners check that person's rights per row), and undoing one
removes them again: HubSpot and Pipedrive keep imports to admins and to users given the
import permission, which here is the manager role. Reps and viewers neither import nor
see the workspace's imports (whose files may hold any record of the workspace)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from crm_kit.clock import Clock, utcnow
from crm_kit.context import RequestContext
from crm_kit.errors import Forbidden

from ..config import RunSettings
from ..store.port import ImportsStore, RecordSinks, WorkspaceStore

IMPORTER_ROLES = ("admin", "manager")


def _nothing() -> None:
    return None


@dataclass
class Scope:
    store: WorkspaceStore
    caller: RequestContext
    sinks: RecordSinks
    settings: RunSettings
    clock: Clock = utcnow
    # Tells this process's runner a job was queued (it would find it at its next poll).
    wake: Callable[[], None] = field(default=_nothing)

    @property
    def workspace_id(self) -> str:
        return self.store.workspace_id

    def now(self) -> datetime:
        return self.clock()

    def require_importer(self) -> None:
        if not self.caller.has_role(*IMPORTER_ROLES):
            raise Forbidden("only admins and managers import data")


Scopes = Callable[[RequestContext], Scope]


def scopes(
    store: ImportsStore,
    sinks: RecordSinks,
    settings: RunSettings,
    clock: Clock = utcnow,
    wake: Callable[[], None] = _nothing,
) -> Scopes:
    def scope_of(caller: RequestContext) -> Scope:
        return Scope(store.for_workspace(caller.workspace_id), caller, sinks, settings, clock, wake)

    return scope_of
