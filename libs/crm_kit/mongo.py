"""MongoDB connection owned by the app lifespan (the async client is bound to one loop).

An unreachable database fails a request within a second, and the error reaches the client
as SERVICE_UNAVAILABLE (`crm_kit.errors`) instead of after a five-second wait: server
selection gives up after MONGODB_TIMEOUT_MS (500), connecting after twice that. (The
driver retries a read once after a broken connection, waiting for its monitor's next
check, ~0.5 s, then selects again: so the first request after a loss takes ~1 s.) There is no socket
timeout: a legitimately slow operation (a scan on FerretDB) is not cut short. Start-up is
more patient (MONGODB_STARTUP_SECONDS, 30): a service may start before its database.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Awaitable, Callable
from typing import Any

from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import ServerSelectionTimeoutError

log = logging.getLogger(__name__)


def timeout_ms() -> int:
    return int(os.environ.get("MONGODB_TIMEOUT_MS") or 500)


def startup_seconds() -> float:
    return float(os.environ.get("MONGODB_STARTUP_SECONDS") or 30)


IndexSetup = Callable[[AsyncDatabase[Any]], Awaitable[None]]


class MongoResource:
    def __init__(self, uri: str, database: str) -> None:
        self.uri = uri
        self.database_name = database
        self._client: AsyncMongoClient[Any] | None = None
        # False on FerretDB v1: it does not isolate concurrent updates of one document, nor
        # push compound filters down (`{_id, field}` scans). Writers then rely on their
        # per-document locks and filter on `_id` alone; on MongoDB they add conditions.
        self.isolated_updates = True

    @property
    def db(self) -> AsyncDatabase[Any]:
        if self._client is None:
            raise RuntimeError("MongoResource used before start()")
        return self._client[self.database_name]

    async def start(self, ensure_indexes: IndexSetup | None = None) -> None:
        wait = timeout_ms()
        self._client = AsyncMongoClient(
            self.uri, tz_aware=True, serverSelectionTimeoutMS=wait, connectTimeoutMS=2 * wait
        )
        deadline = time.monotonic() + startup_seconds()
        while True:
            try:
                self.isolated_updates = await isolates_updates(self.db)
                break
            except ServerSelectionTimeoutError:
                if time.monotonic() > deadline:
                    raise
                log.warning("database %s not reachable yet; retrying", self.database_name)
        if ensure_indexes is not None:
            await ensure_indexes(self.db)

    async def ping(self) -> bool:
        """Bounded: a database that stopped answering (not just refusing) must not hold a
        readiness probe past the probe's own timeout."""
        try:
            async with asyncio.timeout(timeout_ms() / 1000 + 0.5):
                await self.db.command("ping")
        except Exception:  # noqa: BLE001 - readiness reports any failure as not ready
            return False
        return True

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None


async def isolates_updates(db: AsyncDatabase[Any]) -> bool:
    """False on FerretDB v1: its SQLite backend pushes a filter down only when it is exactly
    `{_id: <string>}` (any other filter scans the whole collection) and applies an update
    as read, modify, write back without isolation. There, single-document reads and writes
    go by `_id`, the rest of a filter is checked in Python under the per-document lock."""
    info = await db.client.admin.command("buildInfo")
    return "ferretdbVersion" not in info
