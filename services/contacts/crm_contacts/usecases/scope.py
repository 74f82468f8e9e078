"""The scope a use case runs in: one caller in one workspace."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from crm_kit.access_view import AccessViews, CallerAccess
from crm_kit.clock import Clock, utcnow
from crm_kit.context import RequestContext
from crm_kit.errors import Forbidden
from crm_kit.sharing import Access

from ..config import default_phone_region
from ..store.port import ContactsStore, Deals, WorkspaceStore


@dataclass
class Scope:
    store: WorkspaceStore  # scoped to the caller's workspace
    caller: RequestContext
    clock: Clock = utcnow
    # Region assumed for phone numbers written without a +country prefix.
    phone_region: str = field(default_factory=default_phone_region)
    views: AccessViews | None = None
    # Where an interaction's deal is checked (None: unchecked, for stores without a deals
    # service beside them: unit tests, the CLI's demo data).
    deals: Deals | None = None
    _access: CallerAccess | None = field(default=None, init=False, repr=False)

    async def access(self) -> Access:
        """What the caller sees (`crm_kit.sharing`), read once per scope."""
        if self._access is None:
            self._access = CallerAccess(self.views, self.caller)
        return await self._access.get()

    def known_access(self) -> Access | None:
        """What the caller sees when `access` has read it already (None: not yet): a
        field of each row of a page answers at once from it."""
        return self._access.known if self._access is not None else None

    @property
    def workspace_id(self) -> str:
        return self.store.workspace_id

    @property
    def subject(self) -> str:
        return self.caller.subject

    def now(self) -> datetime:
        return self.clock()

    def require_write(self) -> None:
        if not self.caller.can_write:
            raise Forbidden("your role may read but not change records")

    def require_deleted_read(self, include_deleted: bool) -> None:
        if include_deleted and not self.caller.has_role("admin", "manager"):
            raise Forbidden(
                "only managers and admins may list deleted records", field="filter.includeDeleted"
            )


# The scope of one caller (in the caller's workspace): what entry points are given.
Scopes = Callable[[RequestContext], Scope]


def scopes(
    store: ContactsStore,
    clock: Clock = utcnow,
    views: AccessViews | None = None,
    *,
    deals: Deals | None = None,
) -> Scopes:
    """`views`: the projection of teams and sharing settings; without it (unit tests'
    stores) every caller sees every contact and company. `deals`: where an interaction's
    deal is checked."""

    def scope_of(caller: RequestContext) -> Scope:
        workspace = store.for_workspace(caller.workspace_id)
        return Scope(workspace, caller, clock, views=views, deals=deals)

    return scope_of
