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
import time
import zlib
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import bson
from bson.codec_options import CodecOptions
from nats.js import JetStreamContext
from pymongo.asynchronous.database import AsyncDatabase

from crm_contracts.envelope import HEADER_MSG_ID, HEADER_WORKSPACE, CloudEvent

from . import audit, metrics, telemetry, wave_acks
from .locks import DocLocks
from .logs import log_fields
from .operation import OPS_FIELD
from .outbox_clears import ClearWriter
from .periodic import paced

log = logging.getLogger(__name__)

OUTBOX = "_outbox"
PENDING = "_outbox_pending"
WRITTEN_AT = "_outbox_at"
# A document whose outbox is written once and never appended to (an import batch's,
# `DocumentWriter.insert_batch`) holds its events and audit entries packed in one BSON
# binary here (compressed: `seal`): FerretDB's SQLite backend reads and rewrites a 1.5 MB
# document of a thousand nested events in ~0.1-0.3 s a statement, the same bytes as one
# binary in a fraction of that. The relay clears it whole with `$set` (no `$pullAll`:
# nothing is appended to it).
SEALED = "_outbox_sealed"
# Whose each sealed event and audit entry is (ids, in order): what arming reads to leave
# out those of records a unique index refused; cleared with the events once published.
SEALED_EVENT_OWNERS = "event_docs"
SEALED_ENTRY_OWNERS = "audit_docs"
# A batch's events and audit entries of records that were not there when it was armed
# (a crash between the batch's hold and its insert), sealed the same way with their
# owners: handed to the relay when the batch, sent again, inserts them
# (`DocumentWriter.arm_batch`). Never read by the relay.
PARKED = "_outbox_parked"
PARKED_EVENT_OWNERS = "parked_event_docs"
PARKED_ENTRY_OWNERS = "parked_audit_docs"
# A sealed batch's flag: its records are in and its events the relay's (`DocumentWriter.
# arm_batch`). Set by the relay's clearing write too: a batch whose every record went in
# is handed to the relay without a write of the flag (which rewrote the whole document).
ARMED = "armed"
# The collection the owners keep import batches in: small (a document per batch, emptied
# once published), so the relay sweeps it every `sweep_seconds` whatever the backstop
# (a batch written by a process without a relay, the command-line importer, goes out then).
BATCHES = "import_batches"
# A sealed binary is compressed: a batch's thousand events and audit entries repeat the
# same names and values, and shrink ~8x, and FerretDB's SQLite backend handles the
# document (stored as base64 text inside its JSON) in every statement that touches it:
# written, armed, read by the relay and cleared, at a cost that follows its size. The
# prefix tells it from the plain BSON sealed before (whose first four bytes are its
# length, never these: that would be ~976 MB).
_COMPRESSED = b"zl1:"
_COMPRESSION_LEVEL = 1  # the fastest: most of the gain, ~10 ms for a 2 MB batch
_UNSEAL: CodecOptions[dict[str, Any]] = CodecOptions(tz_aware=True, tzinfo=UTC)
# Documents the relay publishes at once (each under its own lock).
_CONCURRENT_DOCUMENTS = 8
# How long a wave of asynchronous publishes (`OutboxRelay._publish_all`) may take: its
# acks JetStream's publish timeout, plus a little per event for the sends.
_ACK_SECONDS = 5.0
_SEND_SECONDS = 0.005
# The stored event's record (`_stored`), when the event names one.
EVENT_OWNER = "of"
# Projection that hides the outbox (and the keyed updates' markers, `crm_kit.operation`,
# and the audit entries waiting to be moved, `crm_kit.audit`) from every domain read.
HIDE_OUTBOX = {OUTBOX: 0, PENDING: 0, WRITTEN_AT: 0, OPS_FIELD: 0, audit.PENDING_FIELD: 0}
# What the relay needs of a document to publish and clear it: read by `_id`, or handed over
# by the writer that just wrote it (`OutboxRelay.notify(..., held)`).
RELAY_FIELDS = {
    OUTBOX: 1,
    PENDING: 1,
    WRITTEN_AT: 1,
    audit.PENDING_FIELD: 1,
    SEALED: 1,
    SEALED_EVENT_OWNERS: 1,
}


def _stored(event: CloudEvent) -> dict[str, Any]:
    stored = {
        "id": event.id,
        "subject": event.type,
        "workspace": event.workspace,
        # The trace of the request or handler writing the event: the relay's publish, and
        # through it every consumer, continue it (crm_kit.telemetry).
        "traceparent": telemetry.outbox_traceparent(event.type, event.id),
        "body": event.to_json().decode(),
    }
    if event.subject:
        # Whose event it is (the envelope's subject, a record's id): a document carrying
        # the events of several records (a deal's task list, its tasks') has each record's
        # published in order, the records side by side (`OutboxRelay._publish_all`).
        stored[EVENT_OWNER] = event.subject
    return stored


def outbox_fields(events: Iterable[CloudEvent]) -> dict[str, Any]:
    """Fields to add to a document being inserted."""
    stored = [_stored(event) for event in events]
    return {OUTBOX: stored, PENDING: bool(stored), WRITTEN_AT: datetime.now(UTC)}


# A sealed batch's (stored events, audit entries) as sealed, handed to the relay with the
# document the writer wrote (`OutboxRelay.notify(held=...)`): the relay then publishes
# them without opening the blob it was handed with them (a thousand records' events and
# entries decompressed and decoded: ~10 CPU µs a deal of an import). Only a handed-over
# document has it: BSON keys hold no NUL, so none read from the database can.
OPENED = "\x00opened"
Opened = tuple[list[dict[str, Any]], list[Mapping[str, Any]]]


def sealed_fields(
    events: Iterable[CloudEvent], entries: Sequence[Mapping[str, Any]]
) -> dict[str, Any]:
    """Fields of a sealed document being inserted (held: not pending until armed)."""
    return sealed_and_opened(events, entries)[0]


def sealed_and_opened(
    events: Iterable[CloudEvent], entries: Sequence[Mapping[str, Any]]
) -> tuple[dict[str, Any], Opened]:
    """`sealed_fields`, and what the blob holds (`OPENED`)."""
    stored = [_stored(event) for event in events]
    kept = list(entries)
    fields = {OUTBOX: [], SEALED: seal(stored, kept), PENDING: False, WRITTEN_AT: datetime.now(UTC)}
    return fields, (stored, kept)


def seal(stored: Sequence[Mapping[str, Any]], entries: Sequence[Mapping[str, Any]]) -> bytes:
    packed = bson.encode({"events": list(stored), "entries": list(entries)})
    return _COMPRESSED + zlib.compress(packed, _COMPRESSION_LEVEL)


def unseal(blob: bytes | None) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """A sealed document's (stored events, audit entries)."""
    if not blob:
        return [], []
    if blob.startswith(_COMPRESSED):
        blob = zlib.decompress(blob[len(_COMPRESSED) :])
    opened = bson.decode(blob, codec_options=_UNSEAL)
    return list(opened["events"]), list(opened["entries"])


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
    events by `_id` (the only lookup FerretDB's SQLite backend serves from an index); the
    writer also notifies a document whose write failed, which the database may have
    committed all the same. A writer that knows what the document's outbox holds after its
    write (an insert; an update made with findAndModify) hands it over, `notify(collection,
    doc_id, held)`: the relay then publishes and clears without reading the document (a
    later local write hands over the newer state, or, without one, makes the relay read).
    A document whose publishing fails is tried again every
    `sweep_seconds`. `notify()` without arguments asks for a full pass.

    The sweep picks up whatever a crash (of this or another replica) left behind; it skips
    events younger than `grace_seconds`, which a live writer publishes itself, so replicas
    do not race over fresh documents. A sweep reads every document of the outbox
    collections (FerretDB as published pushes no filter but `_id` down: 3.6 s at 100,000
    companies; the platform's build hands SQLite the pending flag, which still reads each
    document's JSON there), so
    it is a backstop, not the way events go out: every `sweep_seconds` during the start-up
    window (what the previous run of this replica left, including what was younger than
    the grace period when it died) and again after a failed sweep or full pass (a database
    or NATS outage; a failed pass over the documents writers named tries those again by
    `_id` instead), otherwise every `backstop_seconds` (another replica that died and was
    not restarted); the import batches (`BATCHES`, small) every `sweep_seconds` always. The
    first sweep at start ignores the grace period. Sweeps run in a loop of their own, so
    the fast path never waits behind one. Each sweep also measures the backlog (documents
    with unpublished events, and the age of the oldest) for the metrics (`crm_outbox_*`).
    """

    def __init__(
        self,
        db: AsyncDatabase[Any],
        collections: Iterable[str],
        js: JetStreamContext,
        sweep_seconds: float = 2.0,
        batch: int = 200,
        locks: DocLocks | None = None,
        grace_seconds: float = 5.0,
        isolated_updates: bool = True,
        service: str = "",
        backstop_seconds: float = 120.0,
    ) -> None:
        self._db = db
        self.service = service
        self._collections = list(collections)
        self._js = js
        # The waves' acks come back on one subscription of the client's (`_publish_wave`).
        self._acks = wave_acks.WaveAcks(js._nc)
        self._sweep_seconds = sweep_seconds
        self._backstop_seconds = max(backstop_seconds, sweep_seconds)
        self._batches = [name for name in self._collections if name == BATCHES]
        self._batch = batch
        self._locks = locks or DocLocks()
        self._grace_seconds = grace_seconds
        self._isolated_updates = isolated_updates
        self._wake = asyncio.Event()
        # One pass of each kind at a time; a document's own lock (`DocLocks`) keeps the
        # fast path and a sweep from publishing it at once.
        self._lock = asyncio.Lock()
        self._sweep_lock = asyncio.Lock()
        self._targets: set[tuple[str, Any]] = set()
        # The outbox fields a writer handed over with its notice, by document: the newest
        # write's, taken by the document's next publishing instead of reading it.
        self._held: dict[tuple[str, Any], Mapping[str, Any]] = {}
        self._full_pass = False
        self._outage = False  # a fast pass failed: the sweeps watch again
        # The audit entries of documents published at once go in one statement, and so do
        # their clearing updates (`crm_kit.outbox_clears`).
        self._entries = audit.EntryWriter(db)
        self._clears = ClearWriter(db)
        self.published = 0
        # Per collection, at the last sweep: (documents pending, when the oldest was written).
        self.backlog: dict[str, tuple[int, datetime | None]] = {}
        self.swept_at = 0.0
        self.sweep_took = 0.0  # the last full sweep's seconds
        metrics.track(self)

    @classmethod
    async def drain(
        cls, db: AsyncDatabase[Any], collections: Iterable[str], js: JetStreamContext
    ) -> None:
        """Publishes everything pending, whatever its age: what a bulk loader (`crm load`)
        wrote, which a running service's relay would otherwise only find at its backstop
        sweep."""
        relay = cls(db, collections, js, batch=1000)
        while await relay.publish_pending():
            pass

    @staticmethod
    async def ensure_indexes(db: AsyncDatabase[Any], collections: Iterable[str]) -> None:
        for name in collections:
            await db[name].create_index([(PENDING, 1)], name="outbox_pending")

    def notify(
        self,
        collection: str | None = None,
        doc_id: Any = None,
        held: Mapping[str, Any] | None = None,
    ) -> None:
        if collection is None or doc_id is None:
            self._full_pass = True
        else:
            self._targets.add((collection, doc_id))
            if held is not None:
                self._held[(collection, doc_id)] = held
            else:  # the writer does not know what the document holds: read it
                self._held.pop((collection, doc_id), None)
        self._wake.set()

    def _watch_window(self, now: float) -> float:
        """Until when sweeps stay frequent: long enough for a document that was fresh (in
        its grace period) at `now` to come due and be swept."""
        return now + self._grace_seconds + 2 * self._sweep_seconds

    async def run(self) -> None:
        """The fast path and the sweeps in loops of their own: a sweep reads whole
        collections (seconds on a large FerretDB under load), and a write's events must
        not wait behind it (they did: the chaos suite saw them 10-30 s late)."""
        async with asyncio.TaskGroup() as loops:
            loops.create_task(self._run_fast_path())
            loops.create_task(self._run_sweeps())

    async def _run_fast_path(self) -> None:
        while True:
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation
            # that races with the wake-up, and stop() would then wait forever.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._sweep_seconds):
                    await self._wake.wait()
            self._wake.clear()
            targets, self._targets = self._targets, set()
            full, self._full_pass = self._full_pass, False
            try:
                if targets:
                    await self.publish_documents(targets)
                if full:
                    await self.publish_pending()
            except asyncio.CancelledError:
                raise
            except Exception:
                # The pass's documents go again by `_id` in the next pass (a write that
                # raised notified its document too): nothing the pass was given is lost.
                self._targets |= targets
                if full:
                    # What a failed full pass would have found may lie anywhere: the
                    # sweeps watch again. Not for documents the pass was given: a sweep
                    # reads every document of every outbox collection, and a wave of
                    # publishes whose acks came late on a loaded machine made the deals
                    # service scan its whole collection (23.6 s during an import).
                    self._outage = True
                metrics.OUTBOX_FAILURES.labels(self.service).inc()
                log.exception("outbox relay pass failed; will retry")

    async def _run_sweeps(self) -> None:
        loop = asyncio.get_running_loop()
        # The first sweep, at start, takes everything pending whatever its age: what this
        # replica's previous run (killed) wrote in its last seconds would otherwise wait
        # out the grace period. A live replica's fresh document published twice is one
        # event (its id is the `Nats-Msg-Id`, which JetStream de-duplicates).
        grace = 0.0
        next_sweep = loop.time()
        watch_until = self._watch_window(loop.time())
        while True:
            if self._outage:
                self._outage = False
                watch_until = self._watch_window(loop.time())
                next_sweep = min(next_sweep, loop.time())
            try:
                if loop.time() >= next_sweep:
                    started = loop.time()
                    sent = await self.publish_pending(grace_seconds=grace)
                    grace = self._grace_seconds
                    watching = loop.time() < watch_until
                    # A backstop sweep scans every outbox collection (FerretDB: every
                    # document): one that found nothing to publish and took long waits
                    # proportionally longer. One that published goes on at the backstop
                    # period (a dead replica's backlog goes out `batch` at a time).
                    self.sweep_took = loop.time() - started
                    if watching:
                        pause = self._sweep_seconds
                    elif sent:
                        pause = self._backstop_seconds
                    else:
                        pause = paced(self._backstop_seconds, self.sweep_took)
                    next_sweep = loop.time() + pause
                elif self._batches:
                    await self.publish_pending(self._grace_seconds, self._batches)
            except asyncio.CancelledError:
                raise
            except Exception:
                # What the outage interrupted may lie anywhere: sweep often for a while.
                watch_until = self._watch_window(loop.time())
                next_sweep = loop.time() + self._sweep_seconds
                metrics.OUTBOX_FAILURES.labels(self.service).inc()
                log.exception("outbox relay sweep failed; will retry")
            await asyncio.sleep(self._sweep_seconds)

    async def publish_documents(self, targets: Iterable[tuple[str, Any]]) -> int:
        """Documents are independent (each one's events stay in order), so several are
        published at once: a relay one document at a time would cap a service's event
        rate at one database round trip pair per document."""
        limit = asyncio.Semaphore(_CONCURRENT_DOCUMENTS)

        async def one(name: str, doc_id: Any) -> int:
            async with limit:
                return await self._publish_document(name, doc_id)

        async with self._lock:
            sent = sum(await asyncio.gather(*(one(name, i) for name, i in targets)))
            self._count(sent)
            return sent

    async def publish_pending(
        self, grace_seconds: float = 0.0, collections: Iterable[str] | None = None
    ) -> int:
        """One pass over every outbox collection (or those named; at most `batch`
        documents each); returns the number of events sent. Documents written less than
        `grace_seconds` ago are left to their writer, but counted in the backlog."""
        cutoff = datetime.now(UTC) - timedelta(seconds=grace_seconds)
        async with self._sweep_lock:
            sent = 0
            for name in self._collections if collections is None else collections:
                due: list[Any] = []
                count, oldest = 0, None
                # Served by the `outbox_pending` index on MongoDB and on the platform's
                # build of FerretDB (`crm_kit.mongo.PUSHDOWN_SERVED`); a scan on FerretDB
                # as published. The projection keeps what comes back small.
                async for doc in self._db[name].find({PENDING: True}, {"_id": 1, WRITTEN_AT: 1}):
                    count += 1
                    written = _aware(doc.get(WRITTEN_AT))
                    if written is not None and (oldest is None or written < oldest):
                        oldest = written
                    if len(due) < self._batch and (written is None or written <= cutoff):
                        due.append(doc["_id"])
                self.backlog[name] = (count, oldest)
                for doc_id in due:
                    sent += await self._publish_document(name, doc_id)
                if len(due) == count:
                    self.backlog[name] = (0, None)  # all of it went out in this pass
            # Hard deletes a crash interrupted: their audit entries (crm_kit.audit).
            await audit.settle_intents(self._db, grace_seconds)
            self.swept_at = time.time()
            self._count(sent)
            return sent

    def _count(self, sent: int) -> None:
        self.published += sent
        if sent:
            metrics.OUTBOX_PUBLISHED.labels(self.service).inc(sent)

    def metric_readings(self) -> Iterable[metrics.Reading]:
        now = datetime.now(UTC)
        for name, (count, oldest) in self.backlog.items():
            labels = {"service": self.service, "collection": name}
            yield (
                "crm_outbox_backlog",
                "Documents whose events are not yet published, at the relay's last sweep.",
                labels,
                float(count),
            )
            age = (now - oldest).total_seconds() if oldest is not None else 0.0
            yield (
                "crm_outbox_oldest_age_seconds",
                "Age of the oldest unpublished event (0: none), as of the last sweep.",
                labels,
                max(age, 0.0),
            )
        if self.swept_at:
            yield (
                "crm_outbox_last_sweep_timestamp_seconds",
                "When the relay last swept its outbox collections (Unix time).",
                {"service": self.service},
                self.swept_at,
            )

    async def _publish_document(self, name: str, doc_id: Any) -> int:
        """Publish one document's events and remove exactly those: one read (none when the
        writer handed its outbox over) and one write (and the audit entries it holds, moved
        to the audit collection the same way: stored under their ids first, then pulled).
        The writes of documents published at once share a statement (`ClearWriter`),
        each made while its document's lock is held.

        Under the document's lock no writer of this process interleaves (all updates of an
        existing document take it), so what is read here is what gets cleared. Another
        replica's writer may still append between the read and the clearing write: on
        MongoDB the write is conditional on `_outbox_at` being unchanged, and if it is not
        only the published events are pulled and the flag stays for the sweep. FerretDB v1
        isolates neither (nor pushes a compound filter down), so there the lock is it."""
        collection = self._db[name]
        async with self._locks.hold(DocLocks.key(name, doc_id)):
            # Under the lock: no writer of this process changes the document meanwhile, so
            # what the last one handed over is what it holds (another replica may append,
            # as between a read and the clearing write).
            doc = self._held.pop((name, doc_id), None)
            if doc is None:
                doc = await collection.find_one({"_id": doc_id}, RELAY_FIELDS)
            if doc is None:
                return 0
            events = doc.get(OUTBOX) or []
            entries = doc.get(audit.PENDING_FIELD) or []
            sealed = bool(doc.get(SEALED))
            if sealed:
                opened: Opened | None = doc.get(OPENED)
                if opened is not None:  # handed over by its writer with the blob
                    events, entries = list(opened[0]), list(opened[1])
                else:
                    events, entries = unseal(doc[SEALED])
            if not events and not entries and not doc.get(PENDING):
                return 0  # nothing to publish, nothing flagged
            owners = doc.get(SEALED_EVENT_OWNERS) if sealed else _owners(events)
            await self._publish_all(events, owners)
            await self._entries.store(entries, pack=sealed)
            pulled: dict[str, Any] = {}
            if events:
                pulled[OUTBOX] = events
            if entries:
                pulled[audit.PENDING_FIELD] = entries
            clear: dict[str, Any] = {"$set": {PENDING: False}}
            if sealed:
                emptied: dict[str, Any] = {
                    SEALED: None,
                    SEALED_EVENT_OWNERS: [],
                    SEALED_ENTRY_OWNERS: [],
                    ARMED: True,
                }
                await self._clears.update(
                    name, {"_id": doc_id}, {"$set": {PENDING: False, **emptied}}
                )
                return len(events)
            if pulled:
                clear["$pullAll"] = pulled
            if not self._isolated_updates:
                await self._clears.update(name, {"_id": doc_id}, clear)
                return len(events)
            matched = await self._clears.update(
                name, {"_id": doc_id, WRITTEN_AT: doc.get(WRITTEN_AT)}, clear
            )
            if not matched and pulled:
                # Perhaps another of the statement's updates missed, not this one: pulling
                # what is gone already changes nothing.
                await collection.update_one({"_id": doc_id}, {"$pullAll": pulled})
        return len(events)

    async def _publish_all(self, events: Sequence[dict[str, Any]], owners: Any) -> None:
        """Publish a document's events: in order; where it carries several records' (a
        sealed batch, a deal's task list: `owners`, whose each event is), in waves: the
        first event of every record, then the second of those that have one, and so on.
        A wave goes out as JetStream asynchronous publishes, its acks awaited together: a
        round trip per wave, not per event, and no task per record (an import batch, one
        `*.created` a record, is one wave; a publish and its ack each, 64 records at a
        time, were ~17 % of the deals service's CPU during an import, under cProfile).
        A record's next event is sent
        only once the wave before it was acked, so each record's events reach the stream
        in order. After a failed wave no further one starts, and the failure is raised:
        the document is then not cleared, and what went out is sent again later as the
        same message (its id is the `Nats-Msg-Id`)."""
        if not isinstance(owners, list) or len(owners) != len(events) or len(events) < 2:
            for stored in events:
                await self._publish(stored)
            return
        by_record: dict[Any, list[dict[str, Any]]] = {}
        for owner, stored in zip(owners, events, strict=True):
            by_record.setdefault(owner, []).append(stored)
        waves: list[list[dict[str, Any]]] = []
        for found in by_record.values():
            for n, stored in enumerate(found):
                if n == len(waves):
                    waves.append([])
                waves[n].append(stored)
        for wave in waves:
            await self._publish_wave(wave)

    async def _publish_wave(self, wave: Sequence[dict[str, Any]]) -> None:
        """Send every event of `wave`, then wait for their acks together (within
        `_ACK_SECONDS`, and `_SEND_SECONDS` an event), on one inbox subscription
        (`crm_kit.wave_acks`: no future per message); a failed or missing ack raises, the
        others are given up."""
        async with asyncio.timeout(_ACK_SECONDS + len(wave) * _SEND_SECONDS):
            acked = await self._acks.publish([self._outgoing(stored) for stored in wave])
        if log.isEnabledFor(logging.DEBUG):
            for stored, ack in zip(wave, acked, strict=True):
                log.debug(
                    "event published",
                    extra=log_fields(
                        event_id=stored["id"],
                        subject=stored["subject"],
                        dup=ack == wave_acks.DUPLICATE,
                    ),
                )

    @staticmethod
    def _outgoing(stored: dict[str, Any]) -> wave_acks.Outgoing:
        """A stored event as the message that publishes it."""
        subject = stored["subject"]
        with telemetry.publish_span(subject, stored["id"], stored.get("traceparent", "")) as trace:
            headers = {HEADER_MSG_ID: stored["id"], HEADER_WORKSPACE: stored["workspace"], **trace}
        return wave_acks.Outgoing(subject, stored["body"].encode(), headers)

    async def _publish(self, stored: dict[str, Any]) -> None:
        subject = stored["subject"]
        with telemetry.publish_span(subject, stored["id"], stored.get("traceparent", "")) as trace:
            headers = {HEADER_MSG_ID: stored["id"], HEADER_WORKSPACE: stored["workspace"], **trace}
            ack = await self._js.publish(subject, stored["body"].encode(), headers=headers)
        log.debug(
            "event published",
            extra=log_fields(event_id=stored["id"], subject=stored["subject"], dup=ack.duplicate),
        )


def _owners(events: Sequence[Mapping[str, Any]]) -> list[Any] | None:
    """Whose each stored event is, when they name several records (None when one, or when
    any names none, as events stored before they did: then all go out in order)."""
    owners = [stored.get(EVENT_OWNER) for stored in events]
    return owners if all(owners) and len(set(owners)) > 1 else None


def _aware(moment: Any) -> datetime | None:
    """A stored timestamp as an aware UTC datetime (clients may read them naive)."""
    if not isinstance(moment, datetime):
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
