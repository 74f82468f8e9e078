"""Transactional outbox without transactions.

FerretDB v1 has no multi-document transactions, so an event is stored *inside* the
document whose state change it describes, in the same single-document write: insert
`{...state, **outbox_fields(events)}` or update with `outbox_update(events)` merged into the
update. The relay publishes pending events with `Nats-Msg-Id` = event id (JetStream drops
a re-send inside the stream's duplicate window) and only then removes them. A crash after
publishing and before removal therefore re-sends, never loses; JetStream keeps one copy.

Stored events keep the envelope as a JSON string: payloads may hold user-defined keys
(custom fields) that MongoDB forbids as field names (`.` or a leading `$`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable
from typing import Any

from nats.js import JetStreamContext
from pymongo.asynchronous.database import AsyncDatabase

from crm_contracts.envelope import HEADER_MSG_ID, HEADER_TRACEPARENT, HEADER_WORKSPACE, CloudEvent

from .context import current_trace
from .logs import log_fields

log = logging.getLogger(__name__)

OUTBOX = "_outbox"
PENDING = "_outbox_pending"
# Projection that hides the outbox from every domain read.
HIDE_OUTBOX = {OUTBOX: 0, PENDING: 0}


def _stored(event: CloudEvent) -> dict[str, Any]:
    trace = current_trace()
    return {
        "id": event.id,
        "subject": event.type,
        "workspace": event.workspace,
        "traceparent": trace.child().traceparent if trace else "",
        "body": event.to_json().decode(),
    }


def outbox_fields(events: Iterable[CloudEvent]) -> dict[str, Any]:
    """Fields to add to a document being inserted."""
    stored = [_stored(event) for event in events]
    return {OUTBOX: stored, PENDING: bool(stored)}


def outbox_update(events: Iterable[CloudEvent]) -> dict[str, Any]:
    """Update operators that append events; merge with the state change's own operators
    via `merge_update`."""
    stored = [_stored(event) for event in events]
    if not stored:
        return {}
    return {"$push": {OUTBOX: {"$each": stored}}, "$set": {PENDING: True}}


def merge_update(*updates: dict[str, Any]) -> dict[str, Any]:
    """Combine update documents operator by operator ({"$set": a} + {"$set": b})."""
    merged: dict[str, dict[str, Any]] = {}
    for update in updates:
        for operator, fields in update.items():
            merged.setdefault(operator, {}).update(fields)
    return merged


class OutboxRelay:
    """Publishes what the outbox holds. `notify()` after a write publishes at once; a
    periodic sweep picks up whatever a crash (of this or another replica) left behind."""

    def __init__(
        self,
        db: AsyncDatabase,
        collections: Iterable[str],
        js: JetStreamContext,
        sweep_seconds: float = 2.0,
        batch: int = 200,
    ) -> None:
        self._db = db
        self._collections = list(collections)
        self._js = js
        self._sweep_seconds = sweep_seconds
        self._batch = batch
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()
        self.published = 0

    @staticmethod
    async def ensure_indexes(db: AsyncDatabase, collections: Iterable[str]) -> None:
        for name in collections:
            await db[name].create_index([(PENDING, 1)], name="outbox_pending")

    def notify(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self._sweep_seconds)
            self._wake.clear()
            try:
                await self.publish_pending()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("outbox relay pass failed; will retry")

    async def publish_pending(self) -> int:
        """One pass over every outbox collection; returns the number of events sent."""
        async with self._lock:
            sent = 0
            for name in self._collections:
                collection = self._db[name]
                cursor = collection.find({PENDING: True}, {OUTBOX: 1}).limit(self._batch)
                async for doc in cursor:
                    events = doc.get(OUTBOX) or []
                    for stored in events:
                        await self._publish(stored)
                    sent += len(events)
                    if events:
                        await collection.update_one(
                            {"_id": doc["_id"]}, {"$pullAll": {OUTBOX: events}}
                        )
                    # Clear the flag only if no new event arrived meanwhile (atomic per doc).
                    await collection.update_one(
                        {"_id": doc["_id"], f"{OUTBOX}.0": {"$exists": False}},
                        {"$set": {PENDING: False}},
                    )
            self.published += sent
            return sent

    async def _publish(self, stored: dict[str, Any]) -> None:
        headers = {HEADER_MSG_ID: stored["id"], HEADER_WORKSPACE: stored["workspace"]}
        if stored.get("traceparent"):
            headers[HEADER_TRACEPARENT] = stored["traceparent"]
        ack = await self._js.publish(stored["subject"], stored["body"].encode(), headers=headers)
        log.debug(
            "event published",
            extra=log_fields(event_id=stored["id"], subject=stored["subject"], dup=ack.duplicate),
        )
