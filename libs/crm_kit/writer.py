"""The one write path of every store: all inserts, updates and deletes of a service's
documents go through a `DocumentWriter`, which

- holds the document's lock (`crm_kit.locks.DocLocks`, shared with the outbox relay)
  around the write, so this process's writers of one document take turns;
- filters on `_id` alone where the database needs it (the `ferretdb` profile,
  `crm_kit.profile`) and checks the write's other conditions (`expect`) in Python under
  that lock; on MongoDB they are part of the filter, so a write conditional on the version
  a replica read is refused when another replica wrote since;
- writes the events a change raises into the document's outbox in the same write
  (`crm_kit.outbox`), encoded by the service's outbound adapter (`encode`);
- wakes the relay for that document (`wake`), so use cases never do;
- tells the write hooks (`hooks`) what it wrote, after the write and still under the
  document's lock (so in write order): read models subscribe there;
- records each change of an audited collection (`audit`, `crm_kit.audit`): the entry rides
  in the same write as the change (a hard delete: an intent written before it), and the
  relay moves it to the `audit` collection.

Every write is first described as a `PendingWrite` and passed through `_prepare`: the one
place where a request-scoped concern changes what any write does. Within a keyed operation
(`crm_kit.operation`: a mutation with an `Idempotency-Key`) event ids derive from the write,
and an update carries its marker in the same write, conditional on its absence; a write
that meets its own earlier run (an insert of an id the operation made that exists, an
update whose marker the document holds) is taken as applied: hooks and relay hear of it as
of any write, and the caller goes on as if it had just been made.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from pymongo import DeleteOne, ReturnDocument, UpdateOne
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError

from crm_contracts.envelope import CloudEvent

from . import audit as audit_log
from .locks import DocLocks, hold_locks
from .operation import KEPT_MARKERS, OPS_FIELD, current_operation, keep_markers
from .outbox import (
    HIDE_OUTBOX,
    OPENED,
    OUTBOX,
    PARKED,
    PARKED_ENTRY_OWNERS,
    PARKED_EVENT_OWNERS,
    PENDING,
    RELAY_FIELDS,
    SEALED,
    SEALED_ENTRY_OWNERS,
    SEALED_EVENT_OWNERS,
    WRITTEN_AT,
    Opened,
    merge_update,
    outbox_fields,
    outbox_update,
    seal,
    sealed_and_opened,
    unseal,
)
from .profile import DatabaseProfile

log = logging.getLogger(__name__)


def _held(body: Mapping[str, Any]) -> dict[str, Any]:
    """The outbox fields of a document as inserted, as the database returns them (times to
    the millisecond: a conditional clear compares the stored value)."""
    held = {name: body[name] for name in RELAY_FIELDS if name in body}
    written = held.get(WRITTEN_AT)
    if isinstance(written, datetime):
        held[WRITTEN_AT] = written.replace(microsecond=written.microsecond // 1000 * 1000)
    return held


def _parked(
    events: Sequence[tuple[dict[str, Any], Any]], entries: Sequence[tuple[dict[str, Any], Any]]
) -> dict[str, Any]:
    """A batch's fields holding the events and entries of records not there yet."""
    return {
        PARKED: seal([e for e, _ in events], [e for e, _ in entries])
        if events or entries
        else None,
        PARKED_EVENT_OWNERS: [owner for _, owner in events],
        PARKED_ENTRY_OWNERS: [owner for _, owner in entries],
    }


def _owned_by(
    present: set[Any], items: Sequence[dict[str, Any]], owners: Sequence[Any]
) -> list[tuple[dict[str, Any], Any]]:
    """The items (in order) whose owner is present, each with its owner."""
    return [(item, owner) for item, owner in zip(items, owners, strict=True) if owner in present]


# Turns a domain event into the CloudEvent the outbox stores (the service's outbound
# adapter); after a write that stored events, `wake(collection, _id)` has the relay
# publish that document's events at once (the runtime's `notify_outbox`). A write that
# knows what the document's outbox holds after it (an insert; an update that got the
# document back) passes that too, `wake(collection, _id, held)`: the relay then publishes
# and clears without reading the document (`OutboxRelay.notify`).
Encode = Callable[[object], CloudEvent]
Wake = Callable[..., None]


@dataclass(eq=False)
class _Together:
    """The relay notices of writes made inside one `DocumentWriter.notices_together()`:
    which documents, in order (what each left is in the writer's `_deferred`)."""

    writer: DocumentWriter
    keys: list[tuple[str, Any]] = field(default_factory=list)
    open: bool = True


# The `notices_together()` of the running task: tasks it starts (a `gather` of writes)
# inherit it; one that outlives it finds it closed and notifies at once.
_TOGETHER: ContextVar[_Together | None] = ContextVar("crm_writer_notices_together", default=None)

DUPLICATE_KEY = 11000
# Updates per `update` statement of `update_batch`: FerretDB v1.24 never answers one of
# 100 or more (measured: 99 answer in a fifth of a second, 100 not in a minute).
UPDATES_PER_STATEMENT = 90


def as_cloud_event(event: object) -> CloudEvent:
    """The default `encode`: stores that still build CloudEvents themselves."""
    if isinstance(event, CloudEvent):
        return event
    raise TypeError(f"no encoder for {type(event).__name__}: give the writer `encode`")


@dataclass(frozen=True)
class Written:
    """What a write hook hears: a document of `collection` was written (or deleted).
    `record` is the domain object when the store wrote a whole one, else None (a partial
    update: re-read the document if it matters). It is the store's own object, which its
    caller may change next: a hook takes what it needs while it is called."""

    collection: str
    doc_id: Any
    workspace_id: str | None
    record: Any = None
    deleted: bool = False
    # The events written with it (encoded): a read model that installed this write's state
    # need not re-read the document when they come back from the stream.
    events: tuple[CloudEvent, ...] = ()
    # Which write it was (an insert, an update...).
    kind: Kind = "update"
    # The whole document after an update that got it back (one carrying events: a
    # findAndModify), outbox included: a read model may install it instead of reading it.
    stored: Mapping[str, Any] | None = None


WriteHook = Callable[[Written], Awaitable[None]]
# A hook's form for the writes of one bulk insert heard together (`WriteHooks.emit_batch`).
BatchHook = Callable[[Sequence[Written]], Awaitable[None]]


def one_by_one(hook: WriteHook) -> BatchHook:
    """A hook's batch form hearing the writes one after another, without a task each: for
    a hook that does not wait on anything (a cache's drop). Every write is heard; the
    first failure is raised after."""

    async def batch(writes: Sequence[Written]) -> None:
        failure: Exception | None = None
        for written in writes:
            try:
                await hook(written)
            except Exception as error:  # noqa: BLE001 - every write heard, the first raised
                failure = failure or error
        if failure is not None:
            raise failure

    return batch


class WriteHooks:
    """Subscribers to a database's writes. A failing read-model hook is logged, not raised:
    the write has happened, and a read model repairs itself (re-reads, rebuilds). A
    `required` hook keeps something later writes and look-ups trust (an email's claim): its
    failure fails the write, so the caller retries it, and a keyed retry of an insert runs
    the hooks again (`DocumentWriter.insert`). A hook may also give a `batch` form, which
    hears an import batch's inserts in one call (`emit_batch`)."""

    def __init__(self) -> None:
        self._hooks: list[tuple[WriteHook, bool, BatchHook | None]] = []

    def subscribe(
        self, hook: WriteHook, *, required: bool = False, batch: BatchHook | None = None
    ) -> None:
        self._hooks.append((hook, required, batch))

    async def emit(self, written: Written) -> None:
        failure: Exception | None = None
        for hook, required, _ in self._hooks:
            try:
                await hook(written)
            except Exception as error:
                if required:
                    failure = failure or error
                    continue
                log.exception("write hook failed for %s %s", written.collection, written.doc_id)
        if failure is not None:
            raise failure

    async def emit_batch(self, writes: Sequence[Written]) -> None:
        """The writes of one bulk insert (an import batch's thousand documents): each hook
        in turn hears all of them, in the order subscribed as `emit` calls them; a hook
        with a batch form in one call, the hooks between two such (none of them with
        one) once per write, a task a write calling them in order, side by side (as every
        hook was: a thousand writes' own tasks, each calling every hook, were ~20 CPU µs
        a document of the deals service's import, more than the hooks' own work).
        Failures as `emit`'s: a required hook's raised after every hook ran, the others
        logged."""
        if not writes:
            return
        failure: BaseException | None = None
        hooks = self._hooks
        start = 0
        while start < len(hooks):
            batch = hooks[start][2]
            if batch is not None:
                outcomes: list[BaseException | None] = []
                try:
                    await batch(writes)
                except Exception as error:  # noqa: BLE001 - judged below, as `emit` does
                    outcomes.append(error)
                required = hooks[start][1]
                start += 1
            else:
                end = start
                while end < len(hooks) and hooks[end][2] is None:
                    end += 1
                run = WriteHooks()
                run._hooks = hooks[start:end]
                outcomes = list(
                    await asyncio.gather(*(run.emit(w) for w in writes), return_exceptions=True)
                )
                # `emit` raises a required hook's failure and logs the others'.
                required = True
                start = end
            for outcome in outcomes:
                if not isinstance(outcome, BaseException):
                    continue
                if required or not isinstance(outcome, Exception):
                    failure = failure or outcome
                    continue
                log.error(
                    "write hook failed for %s (a batch of %d)",
                    writes[0].collection,
                    len(writes),
                    exc_info=outcome,
                )
        if failure is not None:
            raise failure


Kind = Literal["insert", "update", "replace", "delete"]


@dataclass
class PendingWrite:
    """One write before it is made (see `DocumentWriter._prepare`)."""

    kind: Kind
    collection: str
    doc_id: Any
    workspace_id: str | None
    # The document (insert, replace) or the update operators (update).
    body: dict[str, Any]
    events: list[CloudEvent] = field(default_factory=list)
    # Field values the stored document must have for the write to apply.
    expect: dict[str, Any] = field(default_factory=dict)
    # A keyed operation's marker of this update (`crm_kit.operation`), None outside one.
    marker: str | None = None
    # The audit entries this write stores (`crm_kit.audit`), set under the lock.
    audit: list[dict[str, Any]] = field(default_factory=list)


# Import batches made ahead and not inserted yet, kept at most (batches of a service's
# imports handled side by side: two at once; a batch whose insert did not come, e.g. all
# its rows found stored, is dropped by later ones).
_PREPARED_HELD = 4


@dataclass
class _PreparedBatch:
    """An import batch's parts made ahead of its insert (`DocumentWriter.prepare_batch`)."""

    task: asyncio.Task[Any] | None
    operation: object
    doc_ids: tuple[Any, ...]
    entries: list[tuple[Any, dict[str, Any]]]
    held: PendingWrite
    sealed: tuple[dict[str, Any], Opened]

    def owned(self) -> bool:
        """Made by the task (and in the keyed operation) now asking for it."""
        return self.task is asyncio.current_task() and self.operation is current_operation()


@dataclass
class BatchUpdate:
    """One document's update in `DocumentWriter.update_batch`: `before` is the document
    as read under its lock, `expect` the values it must still hold (checked in the filter
    on MongoDB), `marks` the values it holds once this update applied (how a write another
    replica's overtook is told apart), `record` what the write hooks hear."""

    doc_id: Any
    update: dict[str, Any]
    before: Mapping[str, Any]
    expect: dict[str, Any] = field(default_factory=dict)
    marks: dict[str, Any] = field(default_factory=dict)
    events: Sequence[object] = ()
    record: Any = None


# A conditional write's filter and the update operators recording its marker.
Guard = tuple[dict[str, Any], dict[str, Any]]
# What `_guard` says of an update whose marker the document holds: an earlier run made it.
APPLIED: Guard = ({}, {})


class DocumentWriter:
    def __init__(
        self,
        db: AsyncDatabase[Any],
        *,
        profile: DatabaseProfile,
        outbox_collections: Iterable[str] = (),
        locks: DocLocks | None = None,
        wake: Wake | None = None,
        encode: Encode = as_cloud_event,
        hooks: WriteHooks | None = None,
        audit: audit_log.AuditPolicy | None = None,
    ) -> None:
        self.db = db
        self.profile = profile
        self.outbox_collections = frozenset(outbox_collections)
        self.locks = locks or DocLocks()
        self.hooks = hooks or WriteHooks()
        self._wake = wake
        # Relay notices held by `notices_together()`, by document: what its newest write
        # left (None: the relay reads it).
        self._deferred: dict[tuple[str, Any], Mapping[str, Any] | None] = {}
        self._encode = encode
        self.audit = audit
        # Import batches' parts made ahead (`prepare_batch`), by batch: a few at most.
        self._prepared: dict[tuple[str, str], _PreparedBatch] = {}
        if audit is not None:
            # The relay moves the entries: it reads outbox collections only.
            missing = set(audit.collections) - self.outbox_collections
            if missing:
                raise ValueError(f"audited collections need an outbox: {sorted(missing)}")

    # -- for stores that hold events before writing them (a bulk import's batch) ---------
    def encode(self, events: Sequence[object]) -> list[CloudEvent]:
        """Domain events as the outbox stores them, without writing them."""
        return [self._encode(event) for event in events]

    def wake(self, collection: str, doc_id: Any, held: Mapping[str, Any] | None = None) -> None:
        """Have the relay publish a document's events now (after a raw write that put
        events in its outbox); `held`: the document's outbox fields as that write left them
        (`outbox.RELAY_FIELDS`), when the writer knows them."""
        if self._wake is None:
            return
        key = (collection, doc_id)
        together = _TOGETHER.get()
        if together is not None and together.open and together.writer is self:
            self._deferred[key] = held  # a later write's state holds an earlier one's events
            together.keys.append(key)
            return
        # A notice held for this document is older than this one, whose state holds its
        # events too: this one goes, in its place.
        self._deferred.pop(key, None)
        self._notify(collection, doc_id, held)

    def _notify(self, collection: str, doc_id: Any, held: Mapping[str, Any] | None) -> None:
        assert self._wake is not None
        if held is None:
            self._wake(collection, doc_id)
        else:
            self._wake(collection, doc_id, held)

    @contextlib.contextmanager
    def notices_together(self) -> Iterator[None]:
        """The relay hears of the writes made inside (by this task and the tasks it
        starts) when the block ends, all at once, instead of after each: writes of several
        documents side by side (a batch's deal lists) end a few milliseconds apart, and the
        relay, woken by the first, took it alone and the others in a second pass (two
        audit inserts and two clearing statements where one of each does). The events go
        out at the block's end, however it ends; a document written again outside the
        block meanwhile is notified then with its newer state (which holds these events),
        and nothing is notified twice. A crash inside loses no event: the relay's sweep
        finds what was written, as it finds what a crash before a notice left."""
        together = _Together(self)
        token = _TOGETHER.set(together)
        try:
            yield
        finally:
            _TOGETHER.reset(token)
            together.open = False
            for key in dict.fromkeys(together.keys):
                if key in self._deferred:
                    self._notify(*key, self._deferred.pop(key))

    # -- locks --------------------------------------------------------------------------
    def lock(self, collection: str, *doc_ids: Any) -> contextlib.AbstractAsyncContextManager[None]:
        """Hold documents' locks for a read-modify-write (several: in a fixed order;
        re-entrant within a task, so the writes inside do not wait for themselves)."""
        return hold_locks(self.locks, [DocLocks.key(collection, doc_id) for doc_id in doc_ids])

    # -- writes -------------------------------------------------------------------------
    async def insert(
        self,
        collection: str,
        doc: Mapping[str, Any],
        events: Sequence[object] = (),
        *,
        record: Any = None,
    ) -> None:
        """Insert one document (its `_id` set) with its events. Raises pymongo's
        DuplicateKeyError when a unique index refuses it."""
        write = self._prepare(self._pending("insert", collection, dict(doc), events))
        async with self.lock(collection, write.doc_id):
            self._audit_insert(write)
            body = self._with_outbox(write)
            held: Mapping[str, Any] | None = None
            try:
                with self._woken_on_failure(collection, [write.doc_id]):
                    await self.db[collection].insert_one(body)
                held = _held(body)
            except DuplicateKeyError:
                if not await self._inserted_before(write):
                    raise
            await self._written(write, record, held)

    async def insert_many(
        self,
        collection: str,
        docs: Sequence[Mapping[str, Any]],
        events: Sequence[Sequence[object]] | None = None,
        *,
        records: Sequence[Any] | None = None,
        audited_apart: bool = False,
        held_audit: list[dict[str, Any]] | None = None,
        announced: Sequence[Sequence[CloudEvent]] | None = None,
        ordered: bool = False,
    ) -> set[Any]:
        """Insert several documents in one statement (one write statement on a single-writer
        database); `events[i]` go with `docs[i]`. Returns the `_id`s a unique index refused;
        the others are written. `ordered`: the insert stops at the first refusal; the `_id`s
        of the documents after it (not tried) are returned too. `audited_apart`: the caller
        keeps the audit entries itself (`insert_batch`). `announced[i]`: events of `docs[i]`
        that another document carries (an import batch's outbox), told to the write hooks
        only, so that read models expect them instead of re-reading the document when they
        come back from the stream. `held_audit`: the entries of every document given
        (refused ones too, named by their insert: `audit.held_entry_id`) are added to this
        list, for the caller to carry in a write of its own after this one (`update(...,
        audit=...)`), instead of an intent before and a move after."""
        if not docs:
            return set()
        writes = [
            self._prepare(
                self._pending("insert", collection, dict(doc), events[n] if events else ())
            )
            for n, doc in enumerate(docs)
        ]
        refused: set[Any] = set()
        met: set[Any] = set()  # refused, but inserted by an earlier run of the operation
        async with self.lock(collection, *(write.doc_id for write in writes)):
            bulk: dict[Any, list[dict[str, Any]]] = {}
            intent: str | None = None
            if held_audit is not None:
                for write in writes:
                    self._audit_entry(write, None, write.body, derived=True)
                    # Their changes as one JSON text each (`stored_changes` reads either
                    # form): the document that carries them (a deal's task list) is
                    # written, returned and cleared whole, and on FerretDB's SQLite
                    # backend a creation's ~20 nested {field, before, after} documents
                    # per entry cost that write and the relay's clear about twice the
                    # CPU of the one text (`bench/tasks/README.md`).
                    held_audit.extend(audit_log.packed_changes(made) for made in write.audit)
                    write.audit = []
            elif not audited_apart:
                bulk, intent = await self._audit_bulk(collection, writes)
            bodies = [self._with_outbox(write) for write in writes]
            try:
                with self._woken_on_failure(collection, [write.doc_id for write in writes]):
                    await self.db[collection].insert_many(bodies, ordered=ordered)
            except BulkWriteError as error:
                failures = error.details.get("writeErrors", [])
                if any(failure.get("code") != DUPLICATE_KEY for failure in failures):
                    raise
                refused = {writes[failure["index"]].doc_id for failure in failures}
                met = {
                    write.doc_id
                    for write in writes
                    if write.doc_id in refused and await self._inserted_before(write)
                }
                refused -= met
                if ordered and failures:  # the server stopped there
                    stop = failures[0]["index"]
                    refused |= {write.doc_id for write in writes[stop + 1 :]}
            if intent is not None:
                kept = [e for w in writes if w.doc_id not in refused for e in bulk[w.doc_id]]
                await audit_log.end_inserts(self.db, intent, kept)
            # The hooks of the documents inserted together run side by side: a change
            # log's appends then go together (group commit: one slot statement, not one
            # each). What an insert wrote is what its document holds, unless an earlier
            # run of the operation inserted it (then the relay reads it).
            if announced is not None:
                # A batch's documents carry no outbox (their events ride in the batch's
                # document, whose writer wakes the relay): what was inserted is the whole
                # document, for a read model to install without making it again from the
                # record; the hooks hear the batch together.
                await self.hooks.emit_batch(
                    [
                        Written(
                            write.collection,
                            write.doc_id,
                            write.workspace_id,
                            records[n] if records else None,
                            events=tuple(told),
                            kind=write.kind,
                            stored=bodies[n] if write.doc_id not in met else None,
                        )
                        for n, (write, told) in enumerate(zip(writes, announced, strict=True))
                        if write.doc_id not in refused
                    ]
                )
                return refused
            await asyncio.gather(
                *(
                    self._written(
                        write,
                        records[n] if records else None,
                        _held(bodies[n]) if write.doc_id not in met else None,
                    )
                    for n, write in enumerate(writes)
                    if write.doc_id not in refused
                )
            )
        return refused

    def prepare_batch(
        self,
        collection: str,
        docs: Sequence[Mapping[str, Any]],
        events: Sequence[Sequence[object]],
        *,
        batch_collection: str,
        batch_id: str,
    ) -> None:
        """Make ahead what `insert_batch` of these documents makes before its first
        statement (the events encoded with their ids, the audit entries, the batch's
        sealed fields: pure CPU, ~a fifth of an imported company's), so that an import
        batch does it while the batch before it holds the write turn (`imports.InOrder`)
        instead of inside its own. Used by the `insert_batch` of the same batch id, the
        same documents in the same order, in the same task and keyed operation (if any);
        otherwise dropped. The entries' and events' times are then when they were made
        here, a turn's wait earlier (as the records' own `created_at`, made when the row
        was built). Not with audit notes waiting (said once: made ahead, they would be
        spent on parts that may be dropped)."""
        if not docs or audit_log.notes_waiting():
            return
        entries, held = self._batch_parts(collection, docs, events, batch_collection, batch_id)
        sealed = sealed_and_opened(held.events, [entry for _, entry in entries])
        while len(self._prepared) >= _PREPARED_HELD:  # a batch whose insert never came
            del self._prepared[next(iter(self._prepared))]
        self._prepared[(batch_collection, batch_id)] = _PreparedBatch(
            asyncio.current_task(),
            current_operation(),
            tuple(doc["_id"] for doc in docs),
            entries,
            held,
            sealed,
        )

    def _batch_parts(
        self,
        collection: str,
        docs: Sequence[Mapping[str, Any]],
        events: Sequence[Sequence[object]],
        batch_collection: str,
        batch_id: str,
    ) -> tuple[list[tuple[Any, dict[str, Any]]], PendingWrite]:
        """A batch's audit entries and its outbox document's pending write (the events
        encoded, with their ids)."""
        doc_ids = [doc["_id"] for doc in docs]
        entries = self._audit_entries(collection, docs)
        held = self._prepare(
            self._pending(
                "insert",
                batch_collection,
                {
                    "_id": batch_id,
                    "workspace_id": docs[0].get("workspace_id"),
                    "collection": collection,
                    SEALED_EVENT_OWNERS: [
                        i for i, es in zip(doc_ids, events, strict=True) for _ in es
                    ],
                    SEALED_ENTRY_OWNERS: [owner for owner, _ in entries],
                    "armed": False,
                },
                [e for es in events for e in es],
            )
        )
        return entries, held

    async def insert_batch(
        self,
        collection: str,
        docs: Sequence[Mapping[str, Any]],
        events: Sequence[Sequence[object]],
        *,
        batch_collection: str,
        batch_id: str,
        records: Sequence[Any] | None = None,
    ) -> set[Any]:
        """`insert_many` for bulk imports: the events of all `docs` (one list per document,
        each event its record's own) ride in ONE outbox document of `batch_collection`,
        written first and held (not pending: the relay leaves it), then the documents in
        one statement, then the batch is armed (pending), without the events of documents
        a unique index refused (with none refused and a relay in this process: by the
        relay's clearing write, `arm_batch`). The relay then publishes the batch's events
        with one read and one clearing write instead of two writes per document. The
        records' audit entries ride in the batch the same way (the relay moves them to the
        audit log), so the request writes two documents, not six. A crash before arming
        leaves the batch held: `arm_batches` arms it at start-up. Sent again with the same
        `batch_id`, the events first held are the ones armed."""
        if not docs:
            return set()
        doc_ids = [doc["_id"] for doc in docs]
        ready = self._prepared.pop((batch_collection, batch_id), None)
        if ready is not None and ready.owned() and ready.doc_ids == tuple(doc_ids):
            entries, held, sealed = ready.entries, ready.held, ready.sealed
        else:
            entries, held = self._batch_parts(collection, docs, events, batch_collection, batch_id)
            sealed = None
        # Sent again: the batch first written holds the events.
        written: dict[str, Any] = {}
        first = await self._hold(
            batch_collection,
            held.body,
            held.events,
            [entry for _, entry in entries],
            written,
            sealed=sealed,
        )
        # Each document's events as the batch holds them (ids derived within a keyed
        # operation), for the write hooks.
        by_owner: dict[Any, list[CloudEvent]] = {}
        owners = held.body[SEALED_EVENT_OWNERS]
        for owner, event in zip(owners, held.events, strict=True):
            by_owner.setdefault(owner, []).append(event)
        refused = await self.insert_many(
            collection,
            docs,
            records=records,
            audited_apart=True,
            announced=[by_owner.get(doc_id, []) for doc_id in doc_ids],
        )
        whole = bool(held.events or entries) if first and not refused else None
        await self.arm_batch(
            batch_collection,
            batch_id,
            set(doc_ids) - refused,
            refused,
            whole,
            # What the batch holds once armed: the relay publishes it without reading it
            # again (a thousand records' sealed events and entries: its largest read),
            # nor opening its blob (`OPENED`: what was sealed).
            held={**_held(written), PENDING: True, OPENED: written[OPENED]} if whole else None,
        )
        return refused

    async def update_batch(
        self,
        collection: str,
        updates: Sequence[BatchUpdate],
        *,
        workspace_id: str,
        batch_collection: str | None,
        batch_id: str = "",
    ) -> set[Any]:
        """Many documents' updates (an import batch's derived changes: contacts' last
        activity; the scheduler's flags) in ONE write statement per `UPDATES_PER_STATEMENT`
        documents, their events and audit entries held in one
        outbox document of `batch_collection` as `insert_batch` holds them (written first,
        armed after: the relay publishes and moves them with one read and one write),
        instead of a write, an audit move and a relay pass per document. Not within a
        keyed operation (no markers: `Records.change_batch` falls back outside). Returns
        the ids whose update applied; one another replica changed since its read (MongoDB:
        `expect` in the filter) is not applied, and its events and entries are dropped.
        Sent again with the same `batch_id`, the outbox document first written is armed.
        Without `batch_collection`: updates that carry no events and that no audit entry
        shows (flags), as `update(..., verified=True)` each."""
        writes = [u for u in updates if u.doc_id is not None]
        events = [self.encode(u.events) for u in writes]
        entries: list[tuple[Any, dict[str, Any]]] = []
        for u in writes:
            made = self._batch_entry(collection, workspace_id, batch_id, u)
            if made is not None:
                entries.append((u.doc_id, audit_log.packed_changes(made)))
        applied: set[Any] = set()
        if batch_collection is None:
            if entries or any(events):
                raise ValueError("updates with events or audit entries need a batch_collection")
            async with self.lock(collection, *(u.doc_id for u in writes)):
                if writes:
                    applied = await self._bulk_update(collection, workspace_id, writes)
                await self._heard(collection, workspace_id, writes, events, applied)
            return applied
        first = False
        if entries or any(events):
            first = await self._hold(
                batch_collection,
                {
                    "_id": batch_id,
                    "workspace_id": workspace_id,
                    "collection": collection,
                    SEALED_EVENT_OWNERS: [
                        u.doc_id for u, es in zip(writes, events, strict=True) for _ in es
                    ],
                    SEALED_ENTRY_OWNERS: [owner for owner, _ in entries],
                    "armed": False,
                },
                [e for es in events for e in es],
                [entry for _, entry in entries],
            )
        async with self.lock(collection, *(u.doc_id for u in writes)):
            if writes:
                applied = await self._bulk_update(collection, workspace_id, writes)
            await self._heard(collection, workspace_id, writes, events, applied)
        if first and len(applied) == len(writes):
            await self.arm_batch(batch_collection, batch_id, whole=True)
        elif first:
            await self.arm_batch(batch_collection, batch_id, present=applied)
        else:  # an earlier run's, if it held any (a crash before arming)
            await self.arm_batch(batch_collection, batch_id)
        return applied

    async def _heard(
        self,
        collection: str,
        workspace_id: str,
        writes: Sequence[BatchUpdate],
        events: Sequence[list[CloudEvent]],
        applied: set[Any],
    ) -> None:
        """The write hooks of a batch's applied updates, in parallel: a change log's
        appends then go together (group commit)."""
        await asyncio.gather(
            *(
                self._written(
                    PendingWrite("update", collection, u.doc_id, workspace_id, u.update, list(es)),
                    u.record,
                    wake=False,
                )
                for u, es in zip(writes, events, strict=True)
                if u.doc_id in applied
            )
        )

    async def delete_batch(
        self,
        collection: str,
        items: Sequence[tuple[Any, Mapping[str, Any]]],
        *,
        workspace_id: str,
    ) -> set[Any]:
        """`delete(doc_id, expect=...)` of each `(doc_id, expect)` in one statement per
        `UPDATES_PER_STATEMENT` (the scheduler's entries of a pass); returns the ids deleted.
        Only for collections no audit entry records (a hard delete's entry needs an intent
        each) and documents without pending events."""
        if self.audit is not None and self.audit.of(collection) is not None:
            raise ValueError(f"{collection} is audited: delete its documents one by one")
        ids = list(dict.fromkeys(doc_id for doc_id, _ in items))
        expected = dict(items)
        async with self.lock(collection, *ids):
            if self.profile.workarounds:  # conditions checked here, under the locks
                wanted = []
                for doc_id in ids:
                    conditions = {**expected[doc_id], "workspace_id": workspace_id}
                    stored = await self.db[collection].find_one(
                        {"_id": doc_id}, dict.fromkeys(conditions, 1)
                    )
                    if stored is not None and all(
                        stored.get(k) == v for k, v in conditions.items()
                    ):
                        wanted.append(doc_id)
                filters = [{"_id": doc_id} for doc_id in wanted]
            else:
                filters = [
                    {"_id": doc_id, "workspace_id": workspace_id, **expected[doc_id]}
                    for doc_id in ids
                ]
            deleted = 0
            for start in range(0, len(filters), UPDATES_PER_STATEMENT):
                chunk = [DeleteOne(f) for f in filters[start : start + UPDATES_PER_STATEMENT]]
                result = await self.db[collection].bulk_write(chunk, ordered=False)
                deleted += result.deleted_count
            gone = {f["_id"] for f in filters}
            if deleted < len(filters):  # some changed or went meanwhile: which are gone
                gone = {
                    doc_id
                    for doc_id in gone
                    if await self.db[collection].find_one({"_id": doc_id}, {"_id": 1}) is None
                }
            for doc_id in gone:
                await self.hooks.emit(
                    Written(collection, doc_id, workspace_id, deleted=True, kind="delete")
                )
        return gone

    def _batch_entry(
        self, collection: str, workspace_id: str, batch_id: str, u: BatchUpdate
    ) -> dict[str, Any] | None:
        """The audit entry of one update of a batch, named by the batch (so the same
        document changed by two batches has two entries, and one batch sent again the
        same one)."""
        if self.audit is None or self.audit.of(collection) is None:
            return None
        audited = self.audit.of(collection)
        assert audited is not None
        names = audit_log.touched(u.update)
        if audited.deleted_field:
            names.add(audited.deleted_field)
        before = {name: u.before[name] for name in names if name in u.before}
        return audit_log.entry(
            self.audit,
            collection,
            u.doc_id,
            workspace_id,
            before,
            audit_log.after_update(before, u.update),
            place=f"{batch_id}/{collection}/{u.doc_id}/update",
            derived=True,
        )

    async def _hold(
        self,
        batch_collection: str,
        body: dict[str, Any],
        events: list[CloudEvent],
        entries: list[dict[str, Any]],
        written: dict[str, Any] | None = None,
        *,
        sealed: tuple[dict[str, Any], Opened] | None = None,
    ) -> bool:
        """Write a held (unarmed) outbox document of a batch; False when an earlier run of
        the batch wrote it (that one holds the batch's events). `written`: filled with
        the document written, and under `OPENED` what its blob holds. `sealed`:
        `sealed_and_opened(events, entries)` made ahead."""
        if sealed is None:
            fields, opened = sealed_and_opened(events, entries)
            doc = {**body, **fields}
        else:  # made ahead: written now
            fields, opened = sealed
            doc = {**body, **fields, WRITTEN_AT: datetime.now(UTC)}
        async with self.lock(batch_collection, body["_id"]):
            try:
                await self.db[batch_collection].insert_one(doc)
            except DuplicateKeyError:
                return False
        if written is not None:
            written.update(doc)
            written[OPENED] = opened
        return True

    async def _bulk_update(
        self, collection: str, workspace_id: str, writes: Sequence[BatchUpdate]
    ) -> set[Any]:
        """One `update` statement for `writes` (under their locks); the ids applied."""
        conditions = not self.profile.workarounds  # else checked by the caller's read
        operations = [
            UpdateOne(
                {"_id": u.doc_id, "workspace_id": workspace_id, **u.expect}
                if conditions
                else {"_id": u.doc_id},
                u.update,
            )
            for u in writes
        ]
        matched = 0
        for start in range(0, len(operations), UPDATES_PER_STATEMENT):
            chunk = operations[start : start + UPDATES_PER_STATEMENT]
            matched += (await self.db[collection].bulk_write(chunk, ordered=False)).matched_count
        if matched == len(writes):
            return {u.doc_id for u in writes}
        # Some were not applied (changed or removed meanwhile): which, by their marks.
        applied = set()
        for u in writes:
            stored = await self.db[collection].find_one(
                {"_id": u.doc_id}, dict.fromkeys([*u.marks, "_id"], 1)
            )
            if stored is not None and all(stored.get(k) == v for k, v in u.marks.items()):
                applied.add(u.doc_id)
        return applied

    async def _existing(self, collection: str, ids: Iterable[Any]) -> set[Any]:
        """Which of these documents exist: one `_id` look-up each (the one filter the
        embedded database serves from an index; `$in` would scan)."""
        found = set()
        for doc_id in ids:
            if await self.db[collection].find_one({"_id": doc_id}, {"_id": 1}) is not None:
                found.add(doc_id)
        return found

    async def arm_batch(
        self,
        batch_collection: str,
        batch_id: str,
        inserted: set[Any] | None = None,
        refused: set[Any] | None = None,
        whole: bool | None = None,
        *,
        present: set[Any] | None = None,
        held: Mapping[str, Any] | None = None,
    ) -> None:
        """Hand a held batch's events to the relay: those of its documents that exist
        (`inserted`, plus those of `refused` that exist; all looked up when not given).
        Without a refusal this is a flag: the events stay where they were written.
        `whole`: the caller wrote the batch just now and every document with it, so all
        it holds goes out (whether it holds anything: the value) without reading it.
        With `held` and a relay in this process, nothing is written here: the relay
        publishes what `held` says and its clearing write marks the batch armed (on the
        embedded database a `$set` of the flag rewrote the whole sealed document, ~240 KB
        for 1,000 deals, on every import batch's path). A crash before that clear leaves
        the batch held, as one before arming did: `arm_batches` arms it at start-up, and
        whatever went out already goes again under the same ids (`Nats-Msg-Id`).
        `present`: the documents whose events go out, as the caller knows them (an
        update batch's applied ones: existing is not enough). `held`: with `whole`, the
        batch's outbox fields as armed (`RELAY_FIELDS`), handed to the relay.

        Judged by existence (`present` not given), the events and entries of records not
        there yet are parked in the batch, not dropped: a crash between the batch's hold
        and its insert leaves it held with none of its records, the start-up repair arms
        it, and the batch sent again then inserts them. Arming an armed batch (that resend,
        or any later one) hands the relay the parked events of records that exist now."""
        if whole and held is not None and self._wake is not None:
            self.wake(batch_collection, batch_id, held)
            return
        if whole is not None:
            async with self.lock(batch_collection, batch_id):
                armed = {PENDING: whole, "armed": True}
                await self.db[batch_collection].update_one({"_id": batch_id}, {"$set": armed})
            if whole:
                self.wake(batch_collection, batch_id, held)
            return
        async with self.lock(batch_collection, batch_id):
            projection = {
                "armed": 1,
                "collection": 1,
                SEALED_EVENT_OWNERS: 1,
                SEALED_ENTRY_OWNERS: 1,
                PARKED_EVENT_OWNERS: 1,
                PARKED_ENTRY_OWNERS: 1,
            }
            batch = await self.db[batch_collection].find_one({"_id": batch_id}, projection)
            if batch is None:
                return
            if batch.get("armed"):
                if present is None and await self._unpark(batch_collection, batch, inserted):
                    self.wake(batch_collection, batch_id)
                return
            # Whose each event and each audit entry is, in the order they are sealed.
            event_owners = list(batch.get(SEALED_EVENT_OWNERS) or [])
            entry_owners = list(batch.get(SEALED_ENTRY_OWNERS) or [])
            everyone = {*event_owners, *entry_owners}
            arm: dict[str, Any] = {PENDING: bool(everyone), "armed": True}
            # Whose records are judged by existence now or later (an insert batch's):
            # what is absent is parked, not dropped. An update batch's applied ones
            # (`present` given) are not a matter of existence: the others' go.
            judged_by_existence = present is None
            if present is None and (inserted is None or refused):
                present = set(inserted or ()) | await self._existing(
                    batch["collection"], set(refused or ()) if inserted is not None else everyone
                )
            if present is not None and not everyone <= present:
                stored = (
                    await self.db[batch_collection].find_one(
                        {"_id": batch_id}, {SEALED: 1, OUTBOX: 1}
                    )
                    or {}
                )
                events, entries = unseal(stored.get(SEALED))
                if not stored.get(SEALED):  # held before batches were sealed
                    events = list(stored.get(OUTBOX) or [])
                kept_events = _owned_by(present, events, event_owners)
                kept_entries = _owned_by(present, entries, entry_owners)
                arm.update(
                    {
                        OUTBOX: [],
                        SEALED: seal([e for e, _ in kept_events], [e for e, _ in kept_entries]),
                        SEALED_EVENT_OWNERS: [owner for _, owner in kept_events],
                        SEALED_ENTRY_OWNERS: [owner for _, owner in kept_entries],
                        PENDING: bool(kept_events or kept_entries),
                    }
                )
                if judged_by_existence:
                    absent = everyone - present
                    arm.update(
                        _parked(
                            _owned_by(absent, events, event_owners),
                            _owned_by(absent, entries, entry_owners),
                        )
                    )
            await self.db[batch_collection].update_one({"_id": batch_id}, {"$set": arm})
        if arm[PENDING]:
            self.wake(batch_collection, batch_id)

    async def _unpark(
        self, batch_collection: str, batch: Mapping[str, Any], inserted: set[Any] | None
    ) -> bool:
        """Hand the relay the parked events and entries of an armed batch's records that
        exist now (`inserted` by the caller just now, or found), beside whatever it still
        holds unpublished. Under the batch's lock. Whether anything was handed over."""
        event_owners = list(batch.get(PARKED_EVENT_OWNERS) or [])
        entry_owners = list(batch.get(PARKED_ENTRY_OWNERS) or [])
        parked = {*event_owners, *entry_owners}
        if not parked:
            return False
        known = parked & set(inserted or ())
        arrived = known | await self._existing(batch["collection"], parked - known)
        if not arrived:
            return False
        stored = (
            await self.db[batch_collection].find_one(
                {"_id": batch["_id"]},
                {SEALED: 1, PARKED: 1, SEALED_EVENT_OWNERS: 1, SEALED_ENTRY_OWNERS: 1},
            )
            or {}
        )
        events, entries = unseal(stored.get(PARKED))
        waiting_events, waiting_entries = unseal(stored.get(SEALED))
        out_events = [
            *zip(waiting_events, stored.get(SEALED_EVENT_OWNERS) or [], strict=True),
            *_owned_by(arrived, events, event_owners),
        ]
        out_entries = [
            *zip(waiting_entries, stored.get(SEALED_ENTRY_OWNERS) or [], strict=True),
            *_owned_by(arrived, entries, entry_owners),
        ]
        still = parked - arrived
        update = {
            SEALED: seal([e for e, _ in out_events], [e for e, _ in out_entries]),
            SEALED_EVENT_OWNERS: [owner for _, owner in out_events],
            SEALED_ENTRY_OWNERS: [owner for _, owner in out_entries],
            PENDING: True,
            **_parked(
                _owned_by(still, events, event_owners), _owned_by(still, entries, entry_owners)
            ),
        }
        await self.db[batch_collection].update_one({"_id": batch["_id"]}, {"$set": update})
        return True

    async def arm_batches(self, batch_collection: str) -> int:
        """Arm every batch a crash left held (at start-up); returns how many."""
        held = [
            doc["_id"] async for doc in self.db[batch_collection].find({"armed": False}, {"_id": 1})
        ]
        for batch_id in held:
            await self.arm_batch(batch_collection, batch_id)
        return len(held)

    async def update(
        self,
        collection: str,
        doc_id: Any,
        update: Mapping[str, Any],
        events: Sequence[object] = (),
        *,
        workspace_id: str | None = None,
        expect: Mapping[str, Any] | None = None,
        verified: bool = False,
        upsert: bool = False,
        record: Any = None,
        audit: Sequence[Mapping[str, Any]] = (),
        before: Mapping[str, Any] | None = None,
    ) -> bool:
        """Apply update operators to one document, with its events, if it exists (in
        `workspace_id`, when given) and holds the `expect`ed values. Returns whether it
        applied. `verified=True` says the caller read the document under this lock and
        checked those values itself: on the `ferretdb` profile the check is then not
        repeated (a lock cannot be held across replicas, so MongoDB checks anyway).
        `upsert=True` creates the document from the update when there is none (one
        statement; not with `expect`); two replicas creating it at once may get pymongo's
        DuplicateKeyError, after which the update applies to the one that won. `audit`:
        entries an insert held (`insert_many(held_audit=...)`), carried in this write's
        outbox for the relay to move to the audit log. `before`: the document as the
        caller read it under this lock for this write (`verified`), which the audit entry
        diffs against instead of reading it again."""
        if upsert and expect:
            raise ValueError("an upsert has nothing to check `expect` against")
        if audit and collection not in self.outbox_collections:
            raise ValueError(f"{collection} is not an outbox collection: it carries no entries")
        write = self._prepare(
            self._pending(
                "update", collection, dict(update), events, workspace_id, expect, doc_id=doc_id
            )
        )
        async with self.lock(collection, doc_id):
            guard = await self._guard(write, verified, upsert=upsert)
            if guard is None:
                return False
            after: Mapping[str, Any] | None = None
            if guard is not APPLIED:
                query, marking = guard
                await self._audit_update(write, before if verified else None)
                write.audit.extend(dict(entry) for entry in audit)
                body = merge_update(
                    write.body, marking, outbox_update(write.events), self._audit_fields(write)
                )
                try:
                    with self._woken_on_failure(collection, [doc_id]):
                        carries = bool(write.events or write.audit)
                        applied, after = await self._apply(collection, query, body, upsert, carries)
                except DuplicateKeyError:
                    # An upsert whose filter passed over the document for holding this
                    # update's marker tried to create it again: an earlier run applied it.
                    if not await self._marked(write):
                        raise
                else:
                    if not applied and not await self._marked(write):
                        return False
            held = None if after is None else {n: after[n] for n in RELAY_FIELDS if n in after}
            await self._written(write, record, held, after)
            return True

    async def _apply(
        self,
        collection: str,
        query: dict[str, Any],
        body: dict[str, Any],
        upsert: bool,
        carries: bool,
    ) -> tuple[bool, Mapping[str, Any] | None]:
        """Make an update: whether it applied, and, for one that carries events or audit
        entries, the document after it (one findAndModify instead of an update and the
        relay's read of what it must publish)."""
        if not carries:
            result = await self.db[collection].update_one(query, body, upsert=upsert)
            return result.matched_count > 0 or result.upserted_id is not None, None
        # Whole: FerretDB v1 implements no projection in findAndModify.
        after = await self.db[collection].find_one_and_update(
            query, body, upsert=upsert, return_document=ReturnDocument.AFTER
        )
        if after is None:
            return False, None
        return True, after

    async def replace(
        self,
        collection: str,
        doc: Mapping[str, Any],
        *,
        upsert: bool = False,
        record: Any = None,
    ) -> bool:
        """Replace one document by `_id` (with `upsert`, insert it when absent). Only for
        collections without an outbox: a replacement would drop events not yet published."""
        if collection in self.outbox_collections:
            raise ValueError(f"{collection} has an outbox: update its documents instead")
        write = self._prepare(self._pending("replace", collection, dict(doc), ()))
        async with self.lock(collection, write.doc_id):
            body = {key: value for key, value in write.body.items() if key != "_id"}
            result = await self.db[collection].replace_one(
                {"_id": write.doc_id}, body, upsert=upsert
            )
            if result.matched_count == 0 and result.upserted_id is None:
                return False
            await self._written(write, record)
            return True

    async def delete(
        self,
        collection: str,
        doc_id: Any,
        *,
        workspace_id: str | None = None,
        expect: Mapping[str, Any] | None = None,
    ) -> bool:
        """Delete one document (conditions as for `update`). A document whose outbox still
        holds events should not be deleted: publish them first (the relay)."""
        write = self._prepare(
            self._pending("delete", collection, {}, (), workspace_id, expect, doc_id=doc_id)
        )
        async with self.lock(collection, doc_id):
            guard = await self._guard(write, verified=False)
            if guard is None:
                return False
            intent = await self._audit_delete(write)
            result = await self.db[collection].delete_one(guard[0])
            if intent is not None:
                await audit_log.end_delete(self.db, intent, deleted=result.deleted_count > 0)
            if result.deleted_count == 0:
                return False
            await self.hooks.emit(
                Written(collection, doc_id, workspace_id, deleted=True, kind="delete")
            )
            return True

    # -- the seam -----------------------------------------------------------------------
    def _prepare(self, write: PendingWrite) -> PendingWrite:
        """Every write passes here before it is made: within a keyed operation an update
        gets its marker, and events get ids derived from the write that stores them."""
        operation = current_operation()
        if operation is None:
            return write
        if write.kind == "update":
            write.marker = operation.update_marker(write.collection, write.doc_id)
        place = write.marker or f"{write.collection}/{write.doc_id}"
        write.events = [
            event.model_copy(update={"id": operation.event_id(place, n)})
            for n, event in enumerate(write.events)
        ]
        return write

    async def _inserted_before(self, write: PendingWrite) -> bool:
        """A refused insert of an id the bound operation made, whose document exists: an
        earlier run of the operation inserted it (a duplicate of another unique field
        leaves no document with this id)."""
        operation = current_operation()
        if operation is None or write.doc_id not in operation.minted:
            return False
        found = await self.db[write.collection].find_one({"_id": write.doc_id}, {"_id": 1})
        if found is None:
            return False
        operation.meet(write.collection, write.doc_id)
        return True

    async def _marked(self, write: PendingWrite) -> bool:
        """Whether the document holds the update's marker (an earlier run made it)."""
        if write.marker is None:
            return False
        stored = await self.db[write.collection].find_one({"_id": write.doc_id}, {OPS_FIELD: 1})
        if stored is None or write.marker not in (stored.get(OPS_FIELD) or []):
            return False
        self._met(write)
        return True

    @staticmethod
    def _met(write: PendingWrite) -> None:
        operation = current_operation()
        if operation is not None:
            operation.meet(write.collection, write.doc_id)

    # -- internals ----------------------------------------------------------------------
    def _pending(
        self,
        kind: Kind,
        collection: str,
        body: dict[str, Any],
        events: Sequence[object],
        workspace_id: str | None = None,
        expect: Mapping[str, Any] | None = None,
        *,
        doc_id: Any = None,
    ) -> PendingWrite:
        if events and collection not in self.outbox_collections:
            raise ValueError(
                f"{collection} is not an outbox collection: no relay would publish its events"
            )
        if kind in ("insert", "replace"):
            doc_id = body["_id"]
            workspace_id = body.get("workspace_id")
        return PendingWrite(
            kind,
            collection,
            doc_id,
            workspace_id,
            body,
            self.encode(events),
            dict(expect or {}),
        )

    def _with_outbox(self, write: PendingWrite) -> dict[str, Any]:
        if write.collection not in self.outbox_collections:
            return write.body
        doc = {**write.body, **outbox_fields(write.events)}
        if write.audit:
            doc[audit_log.PENDING_FIELD] = write.audit
            doc[PENDING] = True
        return doc

    # -- the audit log (crm_kit.audit) --------------------------------------------------
    def _audit_entry(
        self,
        write: PendingWrite,
        before: Mapping[str, Any] | None,
        after: Mapping[str, Any] | None,
        *,
        derived: bool = False,
    ) -> None:
        if self.audit is None or self.audit.of(write.collection) is None:
            return
        place = write.marker or f"{write.collection}/{write.doc_id}"
        made = audit_log.entry(
            self.audit,
            write.collection,
            write.doc_id,
            write.workspace_id,
            before,
            after,
            place=f"{place}/{write.kind}",
            derived=derived,
        )
        write.audit = [made] if made is not None else []

    def _audit_insert(self, write: PendingWrite) -> None:
        self._audit_entry(write, None, write.body)

    def _audit_entries(
        self, collection: str, docs: Sequence[Mapping[str, Any]]
    ) -> list[tuple[Any, dict[str, Any]]]:
        """The audit entries of inserting `docs` (none when the collection is not
        audited), each with its document's `_id`."""
        if self.audit is None:
            return []
        return audit_log.creation_entries(self.audit, collection, docs)

    async def _audit_bulk(
        self, collection: str, writes: Sequence[PendingWrite]
    ) -> tuple[dict[Any, list[dict[str, Any]]], str | None]:
        """A bulk insert's entries by document, recorded as one intent before the insert
        (the documents then carry none: see `crm_kit.audit`); the intent's id, if any."""
        bulk: dict[Any, list[dict[str, Any]]] = {}
        for write in writes:
            self._audit_insert(write)
            bulk[write.doc_id], write.audit = write.audit, []
        entries = [entry for made in bulk.values() for entry in made]
        if not entries:
            return bulk, None
        return bulk, await audit_log.begin_inserts(self.db, collection, entries)

    async def _audit_update(
        self, write: PendingWrite, read: Mapping[str, Any] | None = None
    ) -> None:
        """The fields the update touches as stored (one `_id` read, under the lock, unless
        the caller `read` the document under it for this write) and as the update leaves
        them."""
        if self.audit is None or self.audit.of(write.collection) is None:
            return
        names = audit_log.touched(write.body)
        audited = self.audit.of(write.collection)
        assert audited is not None
        if not audit_log.shown(names, audited):
            return  # an update of fields no entry shows (a flag): nothing to read or keep
        if audited.deleted_field:
            names.add(audited.deleted_field)
        if read is not None:
            stored: Mapping[str, Any] | None = {
                "_id": write.doc_id,
                **{name: read[name] for name in names if name in read},
            }
        else:
            stored = await self.db[write.collection].find_one(
                {"_id": write.doc_id}, dict.fromkeys(names, 1)
            )
        before = {k: v for k, v in (stored or {}).items() if k != "_id"} if stored else None
        after = audit_log.after_update(before or {}, write.body)
        self._audit_entry(write, before, after)

    @staticmethod
    def _audit_fields(write: PendingWrite) -> dict[str, Any]:
        if not write.audit:
            return {}
        return merge_update(
            audit_log.pending_update(write.audit),
            {"$set": {PENDING: True, WRITTEN_AT: datetime.now(UTC)}},
        )

    async def _audit_delete(self, write: PendingWrite) -> str | None:
        """A hard delete's intent (its entry and the entries the document still holds),
        written before the delete."""
        if self.audit is None or self.audit.of(write.collection) is None:
            return None
        stored = await self.db[write.collection].find_one({"_id": write.doc_id})
        if stored is None:
            return None
        held = list(stored.get(audit_log.PENDING_FIELD) or [])
        visible = {k: v for k, v in stored.items() if k not in HIDE_OUTBOX}
        self._audit_entry(write, visible, None)
        if not write.audit:
            return None
        return await audit_log.begin_delete(
            self.db, write.collection, write.doc_id, [*held, *write.audit]
        )

    async def _guard(
        self, write: PendingWrite, verified: bool, *, upsert: bool = False
    ) -> Guard | None:
        """The filter of a conditional write of one document and the update that records
        its marker; None when the stored document (read under its lock) fails the
        conditions (an absent one passes for an upsert, which creates it); `APPLIED` when
        it holds the marker already."""
        conditions = dict(write.expect)
        if write.workspace_id is not None:
            conditions["workspace_id"] = write.workspace_id
        marker = write.marker
        if not self.profile.workarounds:
            if marker is None:
                return {"_id": write.doc_id, **conditions}, {}
            # The filter refuses a document that holds the marker (atomically, on MongoDB).
            marking = {"$push": {OPS_FIELD: {"$each": [marker], "$slice": -KEPT_MARKERS}}}
            return {"_id": write.doc_id, **conditions, OPS_FIELD: {"$ne": marker}}, marking
        checked = {} if verified else conditions
        if not checked and marker is None:
            return {"_id": write.doc_id}, {}
        projection = dict.fromkeys([*checked, OPS_FIELD], 1)
        stored = await self.db[write.collection].find_one({"_id": write.doc_id}, projection)
        if stored is None:
            if not upsert:
                return None
            first: dict[str, Any] = {} if marker is None else {"$set": {OPS_FIELD: [marker]}}
            return {"_id": write.doc_id}, first
        markers = stored.get(OPS_FIELD) or []
        if marker is not None and marker in markers:
            self._met(write)
            return APPLIED
        if any(stored.get(k) != v for k, v in checked.items()):
            return None
        # FerretDB ignores `$slice` in `$push`: the list is cut here, under the lock.
        if marker is None:
            return {"_id": write.doc_id}, {}
        return {"_id": write.doc_id}, {"$set": {OPS_FIELD: keep_markers(markers, marker)}}

    @contextlib.contextmanager
    def _woken_on_failure(self, collection: str, doc_ids: Sequence[Any]) -> Iterator[None]:
        """A write that raised may have been committed all the same (the connection broke
        after the database wrote it): its events would wait for the relay's backstop
        sweep. The relay is told; it finds nothing to publish if nothing was written."""
        try:
            yield
        except DuplicateKeyError:
            raise  # refused: nothing was written
        except Exception:
            if collection in self.outbox_collections:
                for doc_id in doc_ids:
                    self.wake(collection, doc_id)
            raise

    async def _written(
        self,
        write: PendingWrite,
        record: Any,
        held: Mapping[str, Any] | None = None,
        stored: Mapping[str, Any] | None = None,
        *,
        wake: bool = True,
    ) -> None:
        if wake and (write.events or write.audit):
            self.wake(write.collection, write.doc_id, held)
        await self.hooks.emit(
            Written(
                write.collection,
                write.doc_id,
                write.workspace_id,
                record,
                events=tuple(write.events),
                kind=write.kind,
                stored=stored,
            )
        )
