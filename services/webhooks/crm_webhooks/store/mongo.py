"""The store on MongoDB (or FerretDB) through the kit's write path, and its indexes."""

from __future__ import annotations

from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.database import AsyncDatabase

from crm_kit.records import MongoSource
from crm_kit.writer import DocumentWriter

from ..config import DELIVERIES, ENDPOINTS
from .port import WebhooksStore
from .store import Store


def mongo_store(writer: DocumentWriter) -> WebhooksStore:
    return Store(MongoSource(writer))


async def ensure_indexes(db: AsyncDatabase[Any]) -> None:
    ws = ("workspace_id", ASCENDING)
    await db[ENDPOINTS].create_index([ws, ("created_at", ASCENDING)], name="by_created_at")
    await db[DELIVERIES].create_index(
        [ws, ("endpoint_id", ASCENDING), ("created_at", DESCENDING), ("_id", DESCENDING)],
        name="by_endpoint",
    )
    await db[DELIVERIES].create_index([("created_at", ASCENDING)], name="by_age")
