"""The scope an export use case runs in: one caller in one workspace, the owners' export
pages and how exports run.

Who may export: anyone with a role. A file holds what its owner's list shows the person
(the owners read every page with that person's record sharing and field permissions), so
an export is its creator's alone: nobody else reads, downloads or cancels it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from crm_kit.clock import Clock, utcnow
from crm_kit.context import RequestContext

from ..config import ExportSettings
from ..store.port import ExportsStore, ExportWorkspace, OwnerPages


def _nothing() -> None:
    return None


@dataclass
class ExportScope:
    store: ExportWorkspace
    caller: RequestContext
    pages: OwnerPages
    settings: ExportSettings
    clock: Clock = utcnow
    # Tells this process's runner an export was queued (it would find it at its next poll).
    wake: Callable[[], None] = field(default=_nothing)

    @property
    def workspace_id(self) -> str:
        return self.store.workspace_id

    def now(self) -> datetime:
        return self.clock()


ExportScopes = Callable[[RequestContext], ExportScope]


def export_scopes(
    store: ExportsStore,
    pages: OwnerPages,
    settings: ExportSettings,
    clock: Clock = utcnow,
    wake: Callable[[], None] = _nothing,
) -> ExportScopes:
    def scope_of(caller: RequestContext) -> ExportScope:
        return ExportScope(
            store.for_workspace(caller.workspace_id), caller, pages, settings, clock, wake
        )

    return scope_of
