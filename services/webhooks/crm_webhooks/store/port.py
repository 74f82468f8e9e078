"""The store's port: one workspace's endpoints, deliveries, lanes and settings, in domain
objects. Every read and write is scoped to the workspace by the store."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

from crm_kit.audit_read import AuditTrail
from crm_kit.pagination import Page

from ..domain.delivery import Delivery, Lane
from ..domain.endpoint import Endpoint
from ..domain.settings import WorkspaceSettings


class WorkspaceStore(Protocol):
    workspace_id: str
    # The audit log of the webhook endpoints (crm_kit.audit).
    audit_trail: AuditTrail

    async def endpoint(self, endpoint_id: str) -> Endpoint | None: ...

    async def endpoints(self) -> list[Endpoint]: ...

    async def add_endpoint(self, endpoint: Endpoint) -> None: ...

    async def change_endpoint(
        self, endpoint_id: str, fn: Callable[[Endpoint], Awaitable[bool]]
    ) -> Endpoint | None: ...

    async def delivery(self, delivery_id: str) -> Delivery | None: ...

    async def add_delivery(self, delivery: Delivery) -> bool:
        """False when it exists already (the same event for the same endpoint)."""
        ...

    async def change_delivery(
        self, delivery_id: str, fn: Callable[[Delivery], Awaitable[bool]]
    ) -> Delivery | None: ...

    async def deliveries(
        self, endpoint_id: str, first: int, after: str | None
    ) -> Page[Delivery]: ...

    async def change_lane(self, lane_id: str, fn: Callable[[Lane], Awaitable[bool]]) -> Lane:
        """Read-modify-write the lane (an empty one if there is none)."""
        ...

    async def settings(self) -> WorkspaceSettings: ...

    async def put_settings(self, settings: WorkspaceSettings) -> None: ...


class WebhooksStore(Protocol):
    def for_workspace(self, workspace_id: str) -> WorkspaceStore: ...
