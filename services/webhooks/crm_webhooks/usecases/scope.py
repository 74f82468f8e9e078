"""The scope a use case runs in: one caller in one workspace."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from crm_kit.clock import Clock, utcnow
from crm_kit.context import RequestContext
from crm_kit.errors import Forbidden

from ..config import DeliverySettings
from ..store.port import WebhooksStore, WorkspaceStore


@dataclass
class Scope:
    store: WorkspaceStore
    caller: RequestContext
    settings: DeliverySettings
    clock: Clock = utcnow

    @property
    def workspace_id(self) -> str:
        return self.store.workspace_id

    def now(self) -> datetime:
        return self.clock()

    def require_admin(self) -> None:
        if not self.caller.has_role("admin"):
            raise Forbidden("only admins manage webhooks")


Scopes = Callable[[RequestContext], Scope]


def scopes(store: WebhooksStore, settings: DeliverySettings, clock: Clock = utcnow) -> Scopes:
    def scope_of(caller: RequestContext) -> Scope:
        return Scope(store.for_workspace(caller.workspace_id), caller, settings, clock)

    return scope_of
