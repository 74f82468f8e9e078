"""MongoDB connection owned by the app lifespan (the async client is bound to one loop)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

log = logging.getLogger(__name__)

IndexSetup = Callable[[AsyncDatabase], Awaitable[None]]


class MongoResource:
    def __init__(self, uri: str, database: str) -> None:
        self.uri = uri
        self.database_name = database
        self._client: AsyncMongoClient | None = None
        # False on FerretDB v1: it does not isolate concurrent updates of one document, nor
        # push compound filters down (`{_id, field}` scans). Writers then rely on their
        # per-document locks and filter on `_id` alone; on MongoDB they add conditions.
        self.isolated_updates = True

    @property
    def db(self) -> AsyncDatabase:
        if self._client is None:
            raise RuntimeError("MongoResource used before start()")
        return self._client[self.database_name]

    async def start(self, ensure_indexes: IndexSetup | None = None) -> None:
        self._client = AsyncMongoClient(
            self.uri, tz_aware=True, serverSelectionTimeoutMS=5000, connectTimeoutMS=3000
        )
        self.isolated_updates = await isolates_updates(self.db)
        if ensure_indexes is not None:
            await ensure_indexes(self.db)

    async def ping(self) -> bool:
        try:
            await self.db.command("ping")
        except Exception:  # noqa: BLE001 - readiness reports any failure as not ready
            return False
        return True

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None


async def isolates_updates(db: AsyncDatabase) -> bool:
    """False on FerretDB v1: its SQLite backend pushes a filter down only when it is exactly
    `{_id: <string>}` (any other filter scans the whole collection) and applies an update
    as read, modify, write back without isolation. There, single-document reads and writes
    go by `_id`, the rest of a filter is checked in Python under the per-document lock."""
    info = await db.client.admin.command("buildInfo")
    return "ferretdbVersion" not in info
