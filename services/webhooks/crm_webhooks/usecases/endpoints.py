"""Admins manage their workspace's endpoints: register (the secret is shown once), list,
update, disable / enable, rotate the secret, delete."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from crm_kit.errors import Forbidden, NotFound
from crm_kit.ids import new_id
from crm_kit.unset import UNSET, Unset

from ..domain.addresses import check_url
from ..domain.endpoint import Endpoint, check_description, check_events, new_endpoint
from ..domain.settings import WorkspaceSettings
from ..domain.signing import new_secret
from .scope import Scope


@dataclass
class EndpointInput:
    url: str | Unset = UNSET
    events: list[str] | Unset = UNSET
    description: str | Unset | None = UNSET
    enabled: bool | Unset = UNSET


async def create(
    scope: Scope, url: str, events: list[str], description: str | None
) -> tuple[Endpoint, str]:
    """The new endpoint and its secret (shown only now)."""
    scope.require_admin()
    secret = new_secret()
    endpoint = new_endpoint(
        new_id(), scope.workspace_id, url, events, description, secret, scope.now()
    )
    await scope.store.add_endpoint(endpoint)
    return endpoint, secret


async def listed(scope: Scope) -> list[Endpoint]:
    scope.require_admin()
    return await scope.store.endpoints()


async def get(scope: Scope, endpoint_id: str, field: str = "id") -> Endpoint:
    scope.require_admin()
    found = await scope.store.endpoint(endpoint_id)
    if found is None:
        raise NotFound(f"no webhook {endpoint_id}", field=field)
    return found


async def _change(scope: Scope, endpoint_id: str, apply: Callable[[Endpoint], None]) -> Endpoint:
    scope.require_admin()

    async def fn(endpoint: Endpoint) -> bool:
        if endpoint.deleted:
            raise NotFound(f"no webhook {endpoint_id}", field="id")
        apply(endpoint)
        endpoint.updated_at = scope.now()
        return True

    changed = await scope.store.change_endpoint(endpoint_id, fn)
    if changed is None:
        raise NotFound(f"no webhook {endpoint_id}", field="id")
    return changed


async def update(scope: Scope, endpoint_id: str, data: EndpointInput) -> Endpoint:
    url = check_url(data.url, "input.url") if not isinstance(data.url, Unset) else UNSET
    events = (
        check_events(data.events, "input.events") if not isinstance(data.events, Unset) else UNSET
    )
    description = data.description
    if not isinstance(description, Unset):
        description = check_description(description, "input.description")
    now = scope.now()

    def apply(endpoint: Endpoint) -> None:
        if not isinstance(url, Unset):
            endpoint.url = url
        if not isinstance(events, Unset):
            endpoint.events = events
        if not isinstance(description, Unset):
            endpoint.description = description
        if data.enabled is True:
            endpoint.enable(now)
        elif data.enabled is False:
            endpoint.disable("disabled by an admin", now, announce=False)

    return await _change(scope, endpoint_id, apply)


async def set_enabled(scope: Scope, endpoint_id: str, enabled: bool) -> Endpoint:
    return await update(scope, endpoint_id, EndpointInput(enabled=enabled))


async def rotate(scope: Scope, endpoint_id: str) -> tuple[Endpoint, str]:
    secret = new_secret()
    now = scope.now()
    endpoint = await _change(scope, endpoint_id, lambda e: e.rotate(secret, now))
    return endpoint, secret


async def delete(scope: Scope, endpoint_id: str) -> str:
    def apply(endpoint: Endpoint) -> None:
        endpoint.deleted = True
        endpoint.enabled = False

    await _change(scope, endpoint_id, apply)
    return endpoint_id


async def settings(scope: Scope) -> WorkspaceSettings:
    scope.require_admin()
    return await scope.store.settings()


async def set_private_networks(scope: Scope, allowed: bool) -> WorkspaceSettings:
    """Private and loopback receivers for this workspace: only where the deployment
    permits the setting (always in development; WEBHOOK_PRIVATE_NETWORKS=allow)."""
    scope.require_admin()
    if allowed and not scope.settings.private_networks_allowed:
        raise Forbidden(
            "this deployment does not allow webhooks to private networks "
            "(WEBHOOK_PRIVATE_NETWORKS=allow)",
            field="allowPrivateNetworks",
        )
    current = await scope.store.settings()
    current.allow_private_networks = allowed
    await scope.store.put_settings(current)
    return current
