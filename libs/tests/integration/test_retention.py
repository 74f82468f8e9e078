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
from crm_kit.access_view import audit_retention_by_workspace
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


async def test_a_workspaces_own_audit_retention_applies_to_its_entries_only(
    db: AsyncDatabase,
) -> None:
    """Workspace `short` keeps its audit log 5 days (its admin's choice, in the service's
    projection of the settings); `plain` keeps the platform's 14; `bogus` names none."""
    twelve_days = NOW - timedelta(days=12)
    await db.access_views.insert_many(
        [
            {"_id": "short", "workspace_id": "short", "settings": {"audit_retention_days": 5}},
            {"_id": "plain", "workspace_id": "plain", "settings": {"sharing": {}}},
            {"_id": "bogus", "workspace_id": "bogus", "settings": {"audit_retention_days": 0}},
        ]
    )
    await db.audit.insert_many(
        [
            {"_id": "short-12d", "workspace_id": "short", "at": twelve_days},
            {"_id": "short-1d", "workspace_id": "short", "at": RECENT},
            {"_id": "plain-12d", "workspace_id": "plain", "at": twelve_days},
            {"_id": "plain-30d", "workspace_id": "plain", "at": OLD},
            {"_id": "none-12d", "workspace_id": "none", "at": twelve_days},
        ]
    )
    chosen = await audit_retention_by_workspace(db)
    assert chosen == {"short": timedelta(days=5)}
    rule = Retention(
        "audit",
        "at",
        keep=timedelta(days=14),
        per_workspace=lambda: audit_retention_by_workspace(db),
    )
    janitor = Janitor(db, [rule], clock=lambda: NOW)
    assert await janitor.sweep() == 2
    kept = sorted([d["_id"] async for d in db.audit.find({})])
    assert kept == ["none-12d", "plain-12d", "short-1d"]
