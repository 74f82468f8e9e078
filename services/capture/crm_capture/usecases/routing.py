"""What the doors ask before they know the workspace: whose capture address mail was sent
to, whose site a tracking key is, which mailboxes to poll. Answered from the root store
(every workspace), so the entry points never hold the store themselves."""

from __future__ import annotations

from crm_kit.context import RequestContext

from ..config import SERVICE
from ..domain.imap_account import ImapAccount
from ..domain.tracking import Site
from ..store.port import CaptureStore
from .scope import Scope, Scopes
from .settings import settings_of


def service_context(workspace_id: str) -> RequestContext:
    """The identity of what capture does on its own behalf in a workspace (mail that came
    in, a page view): `service:capture` with a writer's role for its own records; what it
    asks other services it asks reading only (`Scope.service_caller`)."""
    return RequestContext(workspace_id, f"service:{SERVICE}", frozenset({"rep"}))


class Routes:
    def __init__(self, store: CaptureStore, scopes: Scopes) -> None:
        self._store = store
        self._scopes = scopes

    def service_scope(self, workspace_id: str) -> Scope:
        return self._scopes(service_context(workspace_id))

    async def workspace_of_address(self, local_part: str) -> str | None:
        """The workspace whose current capture address this is (a rotated-out address
        routes nowhere)."""
        workspace = await self._store.workspace_of_inbound_key(local_part.lower())
        if workspace is None:
            return None
        settings = await settings_of(self.service_scope(workspace))
        return workspace if settings.inbound_key == local_part.lower() else None

    async def site(self, site_key: str) -> Site | None:
        return await self._store.site(site_key)

    async def mailboxes(self) -> list[ImapAccount]:
        return await self._store.enabled_imap_accounts()
