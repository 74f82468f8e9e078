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
from datetime import UTC, datetime, timedelta
from typing import Any

from nats.js import JetStreamContext
from pymongo.asynchronous.database import AsyncDatabase

from crm_contracts.envelope import HEADER_MSG_ID, HEADER_TRACEPARENT, HEADER_WORKSPACE, CloudEvent

from .context import current_trace
from .locks import DocLocks
from .logs import log_fields

log = logging.getLogger(__name__)

OUTBOX = "_outbox"
PENDING = "_outbox_pending"
WRITTEN_AT = "_outbox_at"
# Projection that hides the outbox from every domain read.
HIDE_OUTBOX = {OUTBOX: 0, PENDING: 0, WRITTEN_AT: 0}


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
    return {OUTBOX: stored, PENDING: bool(stored), WRITTEN_AT: datetime.now(UTC)}


def outbox_update(events: Iterable[CloudEvent]) -> dict[str, Any]:
    """Update operators that append events; merge with the state change's own operators
    via `merge_update`."""
    stored = [_stored(event) for event in events]
    if not stored:
        return {}
    return {
        "$push": {OUTBOX: {"$each": stored}},
        "$set": {PENDING: True, WRITTEN_AT: datetime.now(UTC)},
    }


def merge_update(*updates: dict[str, Any]) -> dict[str, Any]:
    """Combine update documents operator by operator ({"$set": a} + {"$set": b})."""
    merged: dict[str, dict[str, Any]] = {}
    for update in updates:
        for operator, fields in update.items():
            merged.setdefault(operator, {}).update(fields)
    return merged


class OutboxRelay:
    """Publishes what the outbox holds.

    Fast path: `notify(collection, doc_id)` right after a write publishes that document's
    events by `_id` (the only lookup FerretDB's SQLite backend serves from an index).
    `notify()` without arguments asks for a full pass. A periodic sweep picks up whatever
    a crash (of this or another replica) left behind; it skips events younger than
    `grace_seconds`, which a live writer publishes itself, so replicas do not race over
    fresh documents.
    """

    def __init__(
        self,
        db: AsyncDatabase,
        collections: Iterable[str],
        js: JetStreamContext,
        sweep_seconds: float = 2.0,
        batch: int = 200,
        locks: DocLocks | None = None,
        grace_seconds: float = 5.0,
    ) -> None:
        self._db = db
        self._collections = list(collections)
        self._js = js
        self._sweep_seconds = sweep_seconds
        self._batch = batch
        self._locks = locks or DocLocks()
        self._grace_seconds = grace_seconds
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()
        self._targets: set[tuple[str, Any]] = set()
        self._full_pass = False
        self.published = 0

    @staticmethod
    async def ensure_indexes(db: AsyncDatabase, collections: Iterable[str]) -> None:
        for name in collections:
            await db[name].create_index([(PENDING, 1)], name="outbox_pending")

    def notify(self, collection: str | None = None, doc_id: Any = None) -> None:
        if collection is None or doc_id is None:
            self._full_pass = True
        else:
            self._targets.add((collection, doc_id))
        self._wake.set()

    async def run(self) -> None:
        last_sweep = 0.0
        loop = asyncio.get_running_loop()
        while True:
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation
            # that races with the wake-up, and stop() would then wait forever.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._sweep_seconds):
                    await self._wake.wait()
            self._wake.clear()
            targets, self._targets = self._targets, set()
            full, self._full_pass = self._full_pass, False
            sweep = loop.time() - last_sweep >= self._sweep_seconds
            try:
                if targets:
                    await self.publish_documents(targets)
                if full:
                    await self.publish_pending()
                if sweep:
                    last_sweep = loop.time()
                    await self.publish_pending(grace_seconds=self._grace_seconds)
            except asyncio.CancelledError:
                raise
            except Exception:
                self._targets |= targets
                log.exception("outbox relay pass failed; will retry")

    async def publish_documents(self, targets: Iterable[tuple[str, Any]]) -> int:
        async with self._lock:
            sent = 0
            for name, doc_id in targets:
                # Filter on `_id` alone: FerretDB's SQLite backend answers only a pure `_id`
                # filter from the index; adding the pending flag would scan the collection.
                doc = await self._db[name].find_one({"_id": doc_id}, {OUTBOX: 1})
                if doc is not None and doc.get(OUTBOX):
                    sent += await self._publish_document(name, doc)
            self.published += sent
            return sent

    async def publish_pending(self, grace_seconds: float = 0.0) -> int:
        """One pass over every outbox collection; returns the number of events sent."""
        query: dict[str, Any] = {PENDING: True}
        if grace_seconds > 0:
            query[WRITTEN_AT] = {"$lte": datetime.now(UTC) - timedelta(seconds=grace_seconds)}
        async with self._lock:
            sent = 0
            for name in self._collections:
                cursor = self._db[name].find(query, {OUTBOX: 1}).limit(self._batch)
                async for doc in cursor:
                    sent += await self._publish_document(name, doc)
            self.published += sent
            return sent

    async def _publish_document(self, name: str, doc: dict[str, Any]) -> int:
        events = doc.get(OUTBOX) or []
        for stored in events:
            await self._publish(stored)
        collection = self._db[name]
        # Only `_id` filters: FerretDB's SQLite backend serves nothing else from an index.
        # `$pullAll` removes exactly what was published (atomic on MongoDB, and under the
        # document's lock no writer of this process interleaves on FerretDB); the flag
        # that the crash sweep looks for is cleared only once the outbox is seen empty.
        async with self._locks.hold(DocLocks.key(name, doc["_id"])):
            if events:
                await collection.update_one({"_id": doc["_id"]}, {"$pullAll": {OUTBOX: events}})
            current = await collection.find_one({"_id": doc["_id"]}, {OUTBOX: 1})
            if current is not None and not current.get(OUTBOX):
                await collection.update_one({"_id": doc["_id"]}, {"$set": {PENDING: False}})
        return len(events)

    async def _publish(self, stored: dict[str, Any]) -> None:
        headers = {HEADER_MSG_ID: stored["id"], HEADER_WORKSPACE: stored["workspace"]}
        if stored.get("traceparent"):
            headers[HEADER_TRACEPARENT] = stored["traceparent"]
        ack = await self._js.publish(stored["subject"], stored["body"].encode(), headers=headers)
        log.debug(
            "event published",
            extra=log_fields(event_id=stored["id"], subject=stored["subject"], dup=ack.duplicate),
        )
