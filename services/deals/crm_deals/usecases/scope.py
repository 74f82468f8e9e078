"""The scope a use case runs in: one caller in one workspace, the store scoped to it, the
clock, and what is remembered for the span of one request or one event."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from crm_kit.access_view import AccessViews, CallerAccess
from crm_kit.clock import Clock, utcnow
from crm_kit.context import RequestContext
from crm_kit.errors import Forbidden
from crm_kit.sharing import Access

from ..domain.pipeline import Pipeline
from ..domain.rates import RateTable
from ..store.port import DealsStore, References, WorkspaceStore

# Runs work that outlives the request (a win model training) in the background.
Spawn = Callable[[Coroutine[Any, Any, None], str], None]


@dataclass
class Memo:
    """Read once per scope: a move reads its pipeline and the GraphQL `stage` fields read it
    again (a handful of small documents; one request never sees two versions of one), and
    a report converts with the workspace's rates read once."""

    pipelines: dict[str, Pipeline] = field(default_factory=dict)
    rates: RateTable | None = None


@dataclass
class Scope:
    store: WorkspaceStore  # scoped to the caller's workspace
    caller: RequestContext
    clock: Clock = utcnow
    spawn: Spawn | None = None
    memo: Memo = field(default_factory=Memo)
    # Where a deal's contacts and company are checked (the contacts service). None: the
    # service acting on its own (consumers, jobs, the importer), whose references come
    # from events or were resolved already.
    references: References | None = None
    views: AccessViews | None = None
    _access: CallerAccess | None = field(default=None, init=False, repr=False)

    async def access(self) -> Access:
        """What the caller sees (`crm_kit.sharing`), read once per scope."""
        if self._access is None:
            self._access = CallerAccess(self.views, self.caller)
        return await self._access.get()

    def known_access(self) -> Access | None:
        """What the caller sees when `access` has read it already (None: not yet)."""
        return self._access.known if self._access is not None else None

    @property
    def workspace_id(self) -> str:
        return self.store.workspace_id

    @property
    def subject(self) -> str:
        return self.caller.subject

    def now(self) -> datetime:
        return self.clock()

    def as_(self, subject: str) -> Scope:
        """The same workspace, acting as a system user (`subject`, admin): what a
        background job writes is attributed to it."""
        caller = RequestContext(self.workspace_id, subject, frozenset({"admin"}))
        return Scope(
            self.store,
            caller,
            self.clock,
            self.spawn,
            self.memo,
            references=self.references,
            views=self.views,
        )

    def require_write(self) -> None:
        if not self.caller.can_write:
            raise Forbidden("this role may only read")

    def require_manager(self, message: str) -> None:
        if not self.caller.has_role("admin", "manager"):
            raise Forbidden(message)


# The scope of one caller (in the caller's workspace): what entry points are given.
Scopes = Callable[[RequestContext], Scope]


def scopes(
    store: DealsStore,
    clock: Clock = utcnow,
    spawn: Spawn | None = None,
    *,
    views: AccessViews | None = None,
    references: References | None = None,
) -> Scopes:
    """`views`: the projection of teams and sharing settings; without it (unit tests'
    stores) every caller sees every deal. `references`: where a deal's contacts and
    company are checked."""

    def scope_of(caller: RequestContext) -> Scope:
        workspace = store.for_workspace(caller.workspace_id)
        return Scope(workspace, caller, clock, spawn, references=references, views=views)

    return scope_of


def service_caller(workspace: str, subject: str = "service:deals") -> RequestContext:
    """The service acting on its own behalf in a workspace (consumers, scheduled jobs)."""
    return RequestContext(workspace, subject, frozenset({"admin"}))
