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
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, cast

from pymongo import AsyncMongoClient, IndexModel
from pymongo.asynchronous.collection import AsyncCollection
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
            await apply_indexes(self.db, ensure_indexes)

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


# What the platform's build of FerretDB (scripts/install-ferretdb.sh) answers as its
# `gitVersion`: its SQLite backend hands equality filters to SQLite (`_id` `$in` a list
# is an index look-up), where FerretDB as published pushes down only `{_id: value}`.
PUSHDOWN_BUILD = "crm-filter-pushdown"


async def pushes_filters_down(db: AsyncDatabase[Any]) -> bool:
    info = await db.client.admin.command("buildInfo")
    return "ferretdbVersion" in info and info.get("gitVersion") == PUSHDOWN_BUILD


# -- which indexes are made --------------------------------------------------------------

SECONDARY_INDEXES_ENV = "MONGODB_SECONDARY_INDEXES"  # auto (default), on, off


async def secondary_indexes_serve_reads(db: AsyncDatabase[Any]) -> bool:
    """Whether indexes other than unique ones are worth their writes. FerretDB v1's SQLite
    backend answers every filter but `{_id: <value>}` by a scan and sorts in memory
    (its query builder has no other pushdown), so there a secondary index is upkeep on every
    insert and update that no read uses: the deals' nine cost 1.8x the database CPU per
    insert and 1.3x per update (`bench/import/indexes.py`). MongoDB uses them. `on`/`off`
    decide for a backend this cannot tell (FerretDB on PostgreSQL pushes more down).
    The platform's build of FerretDB lets SQLite use an index for an equality
    (`pushes_filters_down`), but the services' hot reads are `_id` look-ups and read
    models, so the upkeep still outweighs what a read would gain: unique indexes only
    there too, but for those a read was shown to need (`PUSHDOWN_SERVED`, made by
    `apply_indexes`)."""
    setting = (os.environ.get(SECONDARY_INDEXES_ENV) or "auto").strip().lower()
    if setting in ("on", "true", "1"):
        return True
    if setting in ("off", "false", "0"):
        return False
    if setting != "auto":
        raise ValueError(f"{SECONDARY_INDEXES_ENV} must be auto, on or off, not {setting!r}")
    return await isolates_updates(db)


# Secondary indexes kept by name on the platform's build of FerretDB (`auto`), where
# SQLite serves their equality: the outbox relay's backstop sweep (`{_outbox_pending:
# true}`, `crm_kit.outbox`) over 20,000 deal-shaped documents took 2.6 s and 0.84 CPU s
# of FerretDB without it, 3 ms and nothing measurable with it; its upkeep, 1.07x
# FerretDB's CPU per insert and 1.05x per update (`bench/import/indexes.py --outbox`).
# Every service sweeps every outbox collection at each start and (paced) every 120 s.
PUSHDOWN_SERVED = frozenset({"outbox_pending"})


async def apply_indexes(db: AsyncDatabase[Any], setup: IndexSetup) -> None:
    """Runs a service's index declarations (`setup`). Where secondary indexes serve no
    read, only the unique ones are made (they enforce identity: an email, a domain, an
    external id), and on the platform's build of FerretDB those of `PUSHDOWN_SERVED`;
    the others are dropped if an earlier start made them."""
    if await secondary_indexes_serve_reads(db):
        await setup(db)
        return
    automatic = (os.environ.get(SECONDARY_INDEXES_ENV) or "auto").strip().lower() == "auto"
    kept = PUSHDOWN_SERVED if automatic and await pushes_filters_down(db) else frozenset()
    await setup(cast(AsyncDatabase[Any], _UniqueIndexesOnly(db, kept)))


class _UniqueIndexesOnly:
    """The database as index declarations see it where only unique indexes are kept (and
    those named in `kept`); everything but index creation passes through."""

    def __init__(self, db: AsyncDatabase[Any], kept: frozenset[str] = frozenset()) -> None:
        self._db = db
        self._kept = kept

    def __getitem__(self, name: str) -> _UniqueIndexesOnlyCollection:
        return _UniqueIndexesOnlyCollection(self._db[name], self._kept)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._db, name)


class _UniqueIndexesOnlyCollection:
    def __init__(self, collection: AsyncCollection[Any], kept: frozenset[str]) -> None:
        self._collection = collection
        self._kept = kept

    def _keeps(self, unique: Any, name: Any) -> bool:
        return bool(unique) or not name or name in self._kept

    async def create_index(self, keys: Any, **options: Any) -> str | None:
        name = options.get("name")
        if self._keeps(options.get("unique"), name):
            return await self._collection.create_index(keys, **options)
        await self._drop([str(name)])
        return None

    async def create_indexes(self, models: Sequence[IndexModel], **options: Any) -> list[str]:
        def keeps(model: IndexModel) -> bool:
            return self._keeps(model.document.get("unique"), model.document.get("name"))

        kept = [m for m in models if keeps(m)]
        await self._drop([m.document["name"] for m in models if not keeps(m)])
        return await self._collection.create_indexes(kept, **options) if kept else []

    async def _drop(self, names: Sequence[str]) -> None:
        existing = await self._collection.index_information()
        for name in names:
            if name in existing:
                await self._collection.drop_index(name)
                log.info("dropped index %s.%s: unused here", self._collection.name, name)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._collection, name)
