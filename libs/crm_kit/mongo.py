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

    @property
    def db(self) -> AsyncDatabase:
        if self._client is None:
            raise RuntimeError("MongoResource used before start()")
        return self._client[self.database_name]

    async def start(self, ensure_indexes: IndexSetup | None = None) -> None:
        self._client = AsyncMongoClient(
            self.uri, tz_aware=True, serverSelectionTimeoutMS=5000, connectTimeoutMS=3000
        )
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
