"""The store on MongoDB (or FerretDB) through the kit's write path, and its indexes."""

from __future__ import annotations

from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.database import AsyncDatabase

from crm_kit.records import MongoSource
from crm_kit.writer import DocumentWriter

from ..config import EXPORT_CHUNKS, EXPORT_JOBS, JOBS, TEMPLATES
from .port import ImportsStore
from .store import Store


def mongo_store(writer: DocumentWriter) -> ImportsStore:
    return Store(MongoSource(writer))


async def ensure_indexes(db: AsyncDatabase[Any]) -> None:
    ws = ("workspace_id", ASCENDING)
    await db[JOBS].create_index(
        [ws, ("created_at", DESCENDING), ("_id", DESCENDING)], name="by_created_at"
    )
    await db[JOBS].create_index([("status", ASCENDING)], name="by_status")
    await db[TEMPLATES].create_index([ws, ("record_type", ASCENDING)], name="by_record_type")
    await db[EXPORT_JOBS].create_index(
        [ws, ("created_by", ASCENDING), ("created_at", DESCENDING)], name="by_creator"
    )
    await db[EXPORT_JOBS].create_index([("status", ASCENDING)], name="by_status")
    await db[EXPORT_CHUNKS].create_index([("written_at", ASCENDING)], name="by_written_at")
