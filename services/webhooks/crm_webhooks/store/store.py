"""The port implemented once, over the kit's records (MongoDB or the in-memory fake)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from crm_kit.audit_read import AuditTrail
from crm_kit.filters import Eq
from crm_kit.pagination import Order, Page, decode_cursor, encode_cursor
from crm_kit.records import Duplicate, RecordSource

from ..domain.delivery import Delivery, Lane
from ..domain.endpoint import Endpoint
from ..domain.settings import WorkspaceSettings
from .documents import DELIVERY, ENDPOINT, LANE, SETTINGS

NEWEST_FIRST = Order("created_at", descending=True)


class Workspace:
    def __init__(self, source: RecordSource, workspace_id: str) -> None:
        self.workspace_id = workspace_id
        self._endpoints = source.records(ENDPOINT, workspace_id)
        self._deliveries = source.records(DELIVERY, workspace_id)
        self._lanes = source.records(LANE, workspace_id)
        self._settings = source.records(SETTINGS, workspace_id)
        self.audit_trail = AuditTrail(source, workspace_id)

    async def endpoint(self, endpoint_id: str) -> Endpoint | None:
        found = await self._endpoints.get([endpoint_id])
        return found[0] if found and not found[0].deleted else None

    async def endpoints(self) -> list[Endpoint]:
        # A workspace has a handful: a scan of its endpoints is fine even on FerretDB.
        return await self._endpoints.find(Eq("deleted", False), order=Order("created_at"))

    async def add_endpoint(self, endpoint: Endpoint) -> None:
        await self._endpoints.insert(endpoint)

    async def change_endpoint(
        self, endpoint_id: str, fn: Callable[[Endpoint], Awaitable[bool]]
    ) -> Endpoint | None:
        return await self._endpoints.change(endpoint_id, fn)

    async def delivery(self, delivery_id: str) -> Delivery | None:
        found = await self._deliveries.get([delivery_id])
        return found[0] if found else None

    async def add_delivery(self, delivery: Delivery) -> bool:
        try:
            await self._deliveries.insert(delivery)
        except Duplicate:
            return False
        return True

    async def change_delivery(
        self, delivery_id: str, fn: Callable[[Delivery], Awaitable[bool]]
    ) -> Delivery | None:
        return await self._deliveries.change(delivery_id, fn)

    async def deliveries(self, endpoint_id: str, first: int, after: str | None) -> Page[Delivery]:
        cursor = decode_cursor(after) if after else None
        return await self._deliveries.page(
            Eq("endpoint_id", endpoint_id), order=NEWEST_FIRST, after=cursor, first=first
        )

    @staticmethod
    def cursor_of(delivery: Delivery) -> str:
        return encode_cursor(delivery.created_at, delivery.id)

    async def change_lane(self, lane_id: str, fn: Callable[[Lane], Awaitable[bool]]) -> Lane:
        async with self._lanes.lock(lane_id):
            found = await self._lanes.get([lane_id])
            if found:
                lane = found[0]
                if await fn(lane):
                    await self._lanes.save(lane, verified=True)
                return lane
            lane = Lane(lane_id, self.workspace_id)
            if await fn(lane):
                await self._lanes.insert(lane)
            return lane

    async def settings(self) -> WorkspaceSettings:
        found = await self._settings.get([self.workspace_id])
        return found[0] if found else WorkspaceSettings(self.workspace_id, self.workspace_id)

    async def put_settings(self, settings: WorkspaceSettings) -> None:
        """Inserted the first time, changed after: each write is audited (a replace by id
        would not be), and writing what is already stored adds no entry."""

        async def apply(stored: WorkspaceSettings) -> bool:
            if stored == settings:
                return False
            stored.allow_private_networks = settings.allow_private_networks
            return True

        if await self._settings.change(settings.id, apply) is not None:
            return
        try:
            await self._settings.insert(settings)
        except Duplicate:  # another replica's first write came in between
            await self._settings.change(settings.id, apply)


class Store:
    def __init__(self, source: RecordSource) -> None:
        self._source = source

    def for_workspace(self, workspace_id: str) -> Workspace:
        return Workspace(self._source, workspace_id)


__all__ = ["Store", "Workspace"]
