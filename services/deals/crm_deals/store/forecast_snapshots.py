"""Daily forecast snapshots: one small document per (workspace, pipeline, day) in
`forecast_snapshots`, `_id` = `<workspace>:<pipeline>:<YYYY-MM-DD>`, read and written by
`_id` only (the one lookup FerretDB's SQLite backend serves from an index).

The daily job claims a day with a unique insert of a lease in `forecast_snapshot_leases`
(`_id` = the snapshot's id): exactly one replica takes each day's snapshot. Listing the
pipelines to snapshot reads `pipelines` across workspaces (a handful of documents).
"""

from __future__ import annotations

import asyncio
import copy
from datetime import date, datetime
from typing import Any, Protocol

from pymongo.asynchronous.database import AsyncDatabase

from crm_kit.leases import take_lease, take_lease_in
from crm_kit.locks import DocLocks

from .memory import MemoryDatabase
from .protocol import PIPELINES, Doc

FORECAST_SNAPSHOTS = "forecast_snapshots"
SNAPSHOT_LEASES = "forecast_snapshot_leases"


def snapshot_id(workspace_id: str, pipeline_id: str, day: date) -> str:
    return f"{workspace_id}:{pipeline_id}:{day.isoformat()}"


class SnapshotStore(Protocol):
    workspace_id: str

    async def get_snapshot(self, pipeline_id: str, day: date) -> Doc | None: ...

    async def get_snapshots(self, pipeline_id: str, days: list[date]) -> dict[date, Doc]:
        """The snapshots of these days that exist (by `_id`, concurrently)."""
        ...

    async def put_snapshot(self, doc: Doc) -> None:
        """Insert or replace (an on-demand snapshot replaces the day's earlier one)."""
        ...


class SnapshotStores(Protocol):
    def for_workspace(self, workspace_id: str) -> SnapshotStore: ...

    async def all_pipelines(self) -> list[tuple[str, str]]:
        """(workspace, pipeline id) of every pipeline of every workspace."""
        ...

    async def take_lease(
        self, workspace_id: str, pipeline_id: str, day: date, now: datetime
    ) -> bool:
        """True for exactly one caller per (workspace, pipeline, day)."""
        ...


# --- MongoDB ---------------------------------------------------------------------------------


class MongoSnapshotStores:
    def __init__(self, db: AsyncDatabase, locks: DocLocks | None = None) -> None:
        self.db = db
        self.locks = locks or DocLocks()

    def for_workspace(self, workspace_id: str) -> MongoSnapshotStore:
        return MongoSnapshotStore(self, workspace_id)

    async def all_pipelines(self) -> list[tuple[str, str]]:
        cursor = self.db[PIPELINES].find({}, {"workspace_id": 1})
        return [(doc["workspace_id"], doc["_id"]) async for doc in cursor]

    async def take_lease(
        self, workspace_id: str, pipeline_id: str, day: date, now: datetime
    ) -> bool:
        lease_id = snapshot_id(workspace_id, pipeline_id, day)
        return await take_lease(
            self.db[SNAPSHOT_LEASES],
            lease_id,
            now,
            workspace_id=workspace_id,
            pipeline_id=pipeline_id,
        )


class MongoSnapshotStore:
    def __init__(self, stores: MongoSnapshotStores, workspace_id: str) -> None:
        if not workspace_id:
            raise ValueError("a store is always scoped to a workspace")
        self.stores = stores
        self.workspace_id = workspace_id
        self._snapshots = stores.db[FORECAST_SNAPSHOTS]

    async def get_snapshot(self, pipeline_id: str, day: date) -> Doc | None:
        doc = await self._snapshots.find_one(
            {"_id": snapshot_id(self.workspace_id, pipeline_id, day)}
        )
        if doc is None or doc.get("workspace_id") != self.workspace_id:
            return None
        return doc

    async def get_snapshots(self, pipeline_id: str, days: list[date]) -> dict[date, Doc]:
        found = await asyncio.gather(*(self.get_snapshot(pipeline_id, d) for d in days))
        return {d: doc for d, doc in zip(days, found, strict=True) if doc is not None}

    async def put_snapshot(self, doc: Doc) -> None:
        doc = {**doc, "workspace_id": self.workspace_id}
        async with self.stores.locks.hold(DocLocks.key(FORECAST_SNAPSHOTS, doc["_id"])):
            await self._snapshots.replace_one({"_id": doc["_id"]}, doc, upsert=True)


# --- in-memory fake ------------------------------------------------------------------------------


class MemorySnapshotStores:
    def __init__(self, database: MemoryDatabase) -> None:
        self.database = database
        self.snapshots = database.collections.setdefault(FORECAST_SNAPSHOTS, {})
        self.leases = database.collections.setdefault(SNAPSHOT_LEASES, {})

    def for_workspace(self, workspace_id: str) -> MemorySnapshotStore:
        return MemorySnapshotStore(self, workspace_id)

    async def all_pipelines(self) -> list[tuple[str, str]]:
        return [
            (d["workspace_id"], d["_id"]) for d in self.database.collections[PIPELINES].values()
        ]

    async def take_lease(
        self, workspace_id: str, pipeline_id: str, day: date, now: datetime
    ) -> bool:
        return take_lease_in(self.leases, snapshot_id(workspace_id, pipeline_id, day), now)


class MemorySnapshotStore:
    def __init__(self, stores: MemorySnapshotStores, workspace_id: str) -> None:
        self.stores = stores
        self.workspace_id = workspace_id

    async def get_snapshot(self, pipeline_id: str, day: date) -> Doc | None:
        doc = self.stores.snapshots.get(snapshot_id(self.workspace_id, pipeline_id, day))
        if doc is None or doc.get("workspace_id") != self.workspace_id:
            return None
        return copy.deepcopy(doc)

    async def get_snapshots(self, pipeline_id: str, days: list[date]) -> dict[date, Doc]:
        found = {d: await self.get_snapshot(pipeline_id, d) for d in days}
        return {d: doc for d, doc in found.items() if doc is not None}

    async def put_snapshot(self, doc: Doc) -> None:
        self.stores.snapshots[doc["_id"]] = copy.deepcopy(
            {**doc, "workspace_id": self.workspace_id}
        )


def snapshot_stores_for(stores: Any) -> SnapshotStores | None:
    """The snapshot stores beside a deal store factory (the app builds its own once)."""
    from .indexed import IndexedStoreFactory
    from .mongo import MongoStoreFactory

    if isinstance(stores, IndexedStoreFactory):
        return snapshot_stores_for(stores.stores)
    if isinstance(stores, MemoryDatabase):
        return MemorySnapshotStores(stores)
    if isinstance(stores, MongoStoreFactory):
        return MongoSnapshotStores(stores.db, stores.locks)
    return None
