"""The scope a use case runs in: one caller in one workspace."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from crm_kit.clock import Clock, utcnow
from crm_kit.context import RequestContext
from crm_kit.errors import Forbidden

from ..config import SERVICE, CaptureConfig
from ..store.port import CaptureStore, Directory, SecretBox, WorkspaceStore


@dataclass
class Scope:
    store: WorkspaceStore  # scoped to the caller's workspace
    caller: RequestContext
    directory: Directory
    secrets: SecretBox
    config: CaptureConfig
    clock: Clock = utcnow

    @property
    def workspace_id(self) -> str:
        return self.store.workspace_id

    @property
    def subject(self) -> str:
        return self.caller.subject

    @property
    def acts_for_user(self) -> bool:
        return not self.caller.subject.startswith("service:")

    @property
    def service_caller(self) -> RequestContext:
        """The identity for what capture asks on its own behalf (reading contacts to match
        participants): `service:capture`, reading only."""
        return RequestContext(self.workspace_id, f"service:{SERVICE}", frozenset({"viewer"}))

    def now(self) -> datetime:
        return self.clock()

    def require_write(self) -> None:
        if not self.caller.can_write:
            raise Forbidden("your role may read but not change records")

    def require_admin(self) -> None:
        if not self.caller.has_role("admin"):
            raise Forbidden("only admins may change the workspace's capture settings")


# The scope of one caller (in the caller's workspace): what entry points are given.
Scopes = Callable[[RequestContext], Scope]


def scopes(
    store: CaptureStore,
    directory: Directory,
    secrets: SecretBox,
    config: CaptureConfig,
    clock: Clock = utcnow,
) -> Scopes:
    def scope_of(caller: RequestContext) -> Scope:
        return Scope(
            store.for_workspace(caller.workspace_id), caller, directory, secrets, config, clock
        )

    return scope_of
