"""The store on MongoDB (or FerretDB): the port's records through the kit's write path,
with the indexes its lists use."""

from __future__ import annotations

from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.database import AsyncDatabase

from crm_kit.records import MongoSource
from crm_kit.writer import DocumentWriter

from ..config import EMAILS, IMAP_ACCOUNTS, LEASES, SESSIONS, SUGGESTIONS
from .assemble import capture_store
from .port import CaptureStore


def mongo_store(writer: DocumentWriter) -> CaptureStore:
    """The store writing through `writer` (which knows the database profile)."""
    return capture_store(MongoSource(writer))


async def ensure_indexes(db: AsyncDatabase[Any]) -> None:
    ws = ("workspace_id", ASCENDING)
    await db[SUGGESTIONS].create_index(
        [ws, ("status", ASCENDING), ("last_seen_at", DESCENDING)], name="by_status"
    )
    await db[EMAILS].create_index([ws, ("captured_at", DESCENDING)], name="by_captured_at")
    await db[SESSIONS].create_index(
        [ws, ("contact_id", ASCENDING), ("started_at", DESCENDING)], name="by_contact"
    )
    await db[IMAP_ACCOUNTS].create_index([("enabled", ASCENDING)], name="by_enabled")
    await db[LEASES].create_index([("taken_at", ASCENDING)], name="by_taken_at")
