"""The janitor deletes old bookkeeping, never what is recent or still has events to publish;
against a real FerretDB."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from crm_contracts.envelope import new_event
from crm_kit.outbox import outbox_fields
from crm_kit.retention import Janitor, Retention

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
OLD = NOW - timedelta(days=30)
RECENT = NOW - timedelta(days=1)


@pytest.fixture
async def db(infra: Any, db_name: str) -> AsyncIterator[AsyncDatabase]:
    client: AsyncMongoClient = AsyncMongoClient(infra.mongodb_uri, tz_aware=True)
    yield client[db_name]
    await client.close()


def _event() -> Any:
    return new_event(event_type="crm.test.thing.v1", source="t", workspace="w", data={})


async def test_old_records_go_recent_and_unpublished_ones_stay(db: AsyncDatabase) -> None:
    await db.processed.insert_many(
        [{"_id": "old", "at": OLD}, {"_id": "recent", "at": RECENT}, {"_id": "timeless"}]
    )
    await db.fires.insert_many(
        [
            {"_id": "old-published", "at": OLD, **outbox_fields([])},
            {"_id": "old-waiting", "at": OLD, **outbox_fields([_event()])},
            {"_id": "recent-published", "at": RECENT, **outbox_fields([])},
        ]
    )
    janitor = Janitor(
        db,
        [
            Retention("processed", "at", keep=timedelta(days=14)),
            Retention("fires", "at", outbox=True, keep=timedelta(days=14)),
        ],
        clock=lambda: NOW,
    )
    assert await janitor.sweep() == 2
    assert sorted([d["_id"] async for d in db.processed.find({})]) == ["recent", "timeless"]
    remaining = sorted([d["_id"] async for d in db.fires.find({})])
    assert remaining == ["old-waiting", "recent-published"]
    assert await janitor.sweep() == 0  # idempotent
