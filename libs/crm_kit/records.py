"""Domain records of one workspace in one collection, on MongoDB or in memory.

A service's store implements its port once, over `Records[E]`: it reads and writes domain
objects, and the records map them to documents (`RecordType.to_doc` / `from_doc`, the
Mongo adapter's codec), scope every read and write to the workspace, write the entity's
pending events with it (`crm_kit.entity`), and keep versions. Two backends:

- `MongoRecords` (here) over a `DocumentWriter`: every write goes through the kit's one
  write path; reads by id follow the database profile (one `_id` look-up per id on the
  `ferretdb` profile, one `$in` query on MongoDB);
- `MemoryRecords` (`crm_kit.memory_db`): the same semantics on in-memory documents (the
  unit tests' fake database), filters evaluated by `crm_kit.filters`.

Read-modify-write is `change(id, fn)`: under the document's lock it reads the record, lets
`fn` change it (return True to write), and writes it conditional on the version read. On
MongoDB another replica may have written meanwhile: the change is then run again on a
fresh read, up to `CHANGE_ATTEMPTS` times (so `fn` must only depend on what it is given
and on reads it makes itself), before `Stale` is raised.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import functools
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any, Generic, Protocol, TypeVar

from bson import Decimal128, ObjectId
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from .filters import ALL, And, Eq, Filter, In
from .operation import OPS_FIELD, current_operation, reserve_update
from .outbox import HIDE_OUTBOX
from .pagination import BY_ID, Cursor, Order, Page
from .writer import BatchUpdate, DocumentWriter, Written

E = TypeVar("E")
CHANGE_ATTEMPTS = 3
# Concurrent `_id` look-ups of one `get` on the ferretdb profile.
_ID_LOOKUPS = 8
# Ids in one `_id` `$in` query (the platform's FerretDB pushes down a list of up to 1,000;
# a longer one it would answer by a scan).
_IDS_PER_QUERY = 1000


# Values a stored document holds that nothing can change in place: passed on, not copied.
_IMMUTABLE = (str, int, float, bool, bytes, type(None), date, Decimal, Decimal128, ObjectId)


def document_copy(value: Any) -> Any:
    """A copy of a stored document that shares nothing a change could edit: dicts and lists
    copied all the way down, immutable values kept (anything else goes to `deepcopy`).
    The same result as `copy.deepcopy` for what BSON decodes to (and the read models hold),
    at under a third of its cost: ~21 us instead of ~74 for a deal-sized document, which
    every change of a held deal copies (deepcopy pays its memo and dispatch per value)."""
    if isinstance(value, dict):
        return {key: document_copy(item) for key, item in value.items()}
    if isinstance(value, list):
        return [document_copy(item) for item in value]
    if isinstance(value, _IMMUTABLE):
        return value
    return copy.deepcopy(value)


@dataclass(frozen=True)
class RecordType(Generic[E]):
    """How one kind of record is stored. `to_doc` returns the whole document (`_id`
    included; derived fields written at write time too); `unique` names the document
    fields a unique index (per workspace) covers, which the in-memory backend enforces
    as the database does; a `versioned` record has an int `version` that every `save`
    checks and increments (`version_field` names that attribute and document field when
    a record calls it otherwise)."""

    collection: str
    to_doc: Callable[[E], dict[str, Any]]
    from_doc: Callable[[Mapping[str, Any]], E]
    unique: tuple[str, ...] = ()
    versioned: bool = False
    version_field: str = "version"


class Duplicate(Exception):
    """A unique index refused a write: `field` holds a value `existing_id` has already
    (`_id` itself: a record with that id exists)."""

    def __init__(self, field: str, existing_id: Any) -> None:
        super().__init__(f"{field} already used by {existing_id}")
        self.field = field
        self.existing_id = existing_id


class Stale(Exception):
    """A change kept losing to concurrent writers of the same record (other replicas)."""


Change = Callable[[E], Awaitable[bool]]
ChangeMany = Callable[[dict[str, E]], Awaitable[Sequence[E]]]
# Where a change may take the stored document from instead of reading it by `_id`: a read
# model that is current as of this request and hears this process's writes under the
# record's lock (a read index with a change log). Called under that lock; None: absent.
Held = Callable[[str], Awaitable[Mapping[str, Any] | None]]


def pending_events(record: object) -> list[object]:
    events = getattr(record, "pending_events", None)
    return list(events) if events else []


def events_written(record: object) -> None:
    done = getattr(record, "events_written", None)
    if done is not None:
        done()


UPDATE_OPERATORS = frozenset(
    {"$set", "$unset", "$setOnInsert", "$inc", "$max", "$min", "$push", "$addToSet"}
)


def check_update(update: Mapping[str, Any]) -> None:
    """`Records.update` takes these operators on top-level fields, which both backends
    apply alike; anything else is refused before it reaches either."""
    for operator, fields in update.items():
        if operator not in UPDATE_OPERATORS:
            raise ValueError(f"update operator {operator} is not supported by the records")
        for name in fields:
            if "." in name or name.startswith("$"):
                raise ValueError(f"records update top-level fields only, not {name!r}")


class Records(ABC, Generic[E]):
    """One workspace's records of one type (`workspace_id` None: every workspace's, for
    reads that span them, such as start-up repairs)."""

    def __init__(self, kind: RecordType[E], workspace_id: str | None) -> None:
        self.kind = kind
        self.workspace_id = workspace_id

    # -- reads --------------------------------------------------------------------------
    @abstractmethod
    async def get(self, ids: Sequence[str]) -> list[E]:
        """The records with these ids, in the order asked (absent ones left out)."""

    @abstractmethod
    async def find(
        self,
        where: Filter = ALL,
        *,
        order: Order = BY_ID,
        after: Cursor | None = None,
        limit: int | None = None,
    ) -> list[E]: ...

    @abstractmethod
    async def count(self, where: Filter = ALL) -> int: ...

    @abstractmethod
    async def ids(
        self, where: Filter = ALL, *, order: Order = BY_ID, limit: int | None = None
    ) -> list[Any]: ...

    @abstractmethod
    def scan(self, where: Filter = ALL) -> AsyncIterator[E]:
        """Every record `where` selects, one at a time, in no particular order: a read
        model's load, without holding them all at once."""

    async def first(self, where: Filter, *, order: Order = BY_ID) -> E | None:
        found = await self.find(where, order=order, limit=1)
        return found[0] if found else None

    async def page(
        self, where: Filter, *, order: Order, after: Cursor | None, first: int
    ) -> Page[E]:
        """`first` rows after the cursor, the total `where` selects, and whether more
        follow (one row more is read to know)."""
        total = await self.count(where)
        rows = await self.find(where, order=order, after=after, limit=first + 1)
        return Page(rows[:first], total, len(rows) > first)

    # -- writes -------------------------------------------------------------------------
    @abstractmethod
    async def insert(self, record: E) -> None:
        """Raises `Duplicate` when a unique index refuses it."""

    @abstractmethod
    async def insert_many(
        self,
        records: Sequence[E],
        *,
        hold_audit: list[dict[str, Any]] | None = None,
        ordered: bool = False,
    ) -> list[E]:
        """One write statement for all; returns the records refused as duplicates. `ordered`: the
        insert stops at the first refused record, which is returned with every record after
        it (not tried): what is inserted is always a prefix of `records` (round-robin turns
        stay contiguous). `hold_audit`: the records' audit entries (of the refused too,
        named by their insert so that carrying them again is harmless) are added to this
        list instead of being written here: the caller carries them in its next write
        (`update(..., audit=...)`) of an outbox document, one write fewer than an intent and
        its removal. For records whose refusal means the same record exists (ids derived
        from a natural key)."""

    async def insert_batch(
        self, records: Sequence[E], *, batch_collection: str, batch_id: str
    ) -> list[E]:
        """`insert_many` for bulk imports, the records' events held in one outbox document
        of `batch_collection` (`DocumentWriter.insert_batch`); in memory, `insert_many`."""
        return await self.insert_many(records)

    def prepare_batch(self, records: Sequence[E], *, batch_collection: str, batch_id: str) -> None:
        """Make ahead what `insert_batch` of these records makes before it writes
        (`DocumentWriter.prepare_batch`); nothing to make in memory."""
        return None

    @abstractmethod
    async def put(self, record: E) -> None:
        """Insert or replace by id (records without an outbox: look-up tables)."""

    @abstractmethod
    async def save(
        self,
        record: E,
        *,
        verified: bool = False,
        expect: Mapping[str, Any] | None = None,
        before: Mapping[str, Any] | None = None,
    ) -> bool:
        """Write the whole record if it still exists in the workspace (and, versioned,
        still has the version it was read with; and holds the `expect`ed stored values):
        False otherwise. Raises `Duplicate`. `before`: the document as read for this write
        under its lock (`change`), so that its audit entry need not read it again."""

    @abstractmethod
    async def update(
        self,
        record_id: str,
        update: Mapping[str, Any],
        events: Sequence[object] = (),
        *,
        expect: Mapping[str, Any] | None = None,
        upsert: bool = False,
        verified: bool = False,
        record: E | None = None,
        audit: Sequence[Mapping[str, Any]] = (),
    ) -> bool:
        """A partial write with update operators on top-level fields (`$set`, `$unset`,
        `$setOnInsert`, `$inc`, `$max`, `$min`, `$push`, `$addToSet`; `$each` for the
        last two), for what a whole-record `save` does worse: add to a list in one
        statement (with `upsert`, creating the record), or flip a flag without writing
        back fields another writer may change meanwhile. The version is not touched.
        Applies if the record is in the workspace (or, with `upsert`, absent) and holds
        the `expect`ed values; returns whether it applied. `verified` as for
        `DocumentWriter.update` (the caller knows the record is the workspace's and holds
        those values). `record` is what the write hooks hear (the record as it now is),
        else None. `audit`: entries held by an earlier insert (`insert_many`), carried by
        this write to the audit log."""

    @abstractmethod
    async def delete(self, record_id: str, *, expect: Mapping[str, Any] | None = None) -> bool:
        """Delete the record if it is in the workspace and holds the `expect`ed values
        (not one whose events are still in its outbox); returns whether it did."""

    def notices_together(self) -> contextlib.AbstractContextManager[None]:
        """The relay told of the writes made inside at its end, together
        (`DocumentWriter.notices_together`); nothing to gather without a relay."""
        return contextlib.nullcontext()

    @abstractmethod
    def lock(self, *ids: str) -> Any:
        """The records' locks (an async context manager), re-entrant within a task."""

    async def change(self, record_id: str, fn: Change[E], *, held: Held | None = None) -> E | None:
        """Read-modify-write one record (see the module doc); None when it is absent.
        `held`: the document to start from, as a read model holds it (no `_id` read)."""
        # One marker position per change, written or not (crm_kit.operation).
        with reserve_update(self.kind.collection, record_id):
            if await self._made_before(record_id):
                async with self.lock(record_id):
                    found = await self.get([record_id])
                    if found:
                        # The earlier run may have stopped between its write and the
                        # write hooks (a required claim): they hear the record again.
                        await self._heard_again(found[0])
                return found[0] if found else None
            for _ in range(CHANGE_ATTEMPTS):
                async with self.lock(record_id):
                    read = await (
                        self._read_for_change(record_id)
                        if held is None
                        else self._held_for_change(record_id, held)
                    )
                    if read is None:
                        return None
                    record, stored = read
                    if not await fn(record) or await self.save(
                        record, verified=True, before=stored
                    ):
                        return (await self._as_stored([record]))[0]
        raise Stale(f"{self.kind.collection} {record_id} changed meanwhile")

    async def change_many(self, ids: Sequence[str], fn: ChangeMany[E]) -> Sequence[E]:
        """Read-modify-write several records under all their locks: `fn` gets those that
        exist by id and returns those to write, in the order to write them. On a lost
        race it runs again on fresh reads, so each of its steps must be safe to repeat."""
        with reserve_update(self.kind.collection, *ids):
            for _ in range(CHANGE_ATTEMPTS):
                async with self.lock(*ids):
                    found = {self._id_of(r): r for r in await self.get(list(ids))}
                    to_write = await fn(found)
                    saved = [await self.save(record, verified=True) for record in to_write]
                    if all(saved):
                        return await self._as_stored(to_write)
        raise Stale(f"{self.kind.collection} {sorted(ids)} changed meanwhile")

    async def change_batch(
        self, ids: Sequence[str], fn: Change[E], *, batch_collection: str, batch_id: str
    ) -> list[E]:
        """`change` of each record (`fn` as there), for a bulk import's derived changes
        (each contact's last activity): on MongoDB one write statement for all of them,
        their events and audit entries held in one outbox document of `batch_collection`
        named `batch_id` (`DocumentWriter.update_batch`), instead of a write and a relay
        pass each. Returns the records changed, as written. Here (in memory, and within a
        keyed operation on MongoDB): one `change` after the other."""
        changed: dict[str, E] = {}

        async def tracked(record: E) -> bool:
            record_id = self._id_of(record)
            changed.pop(record_id, None)  # a rerun on a fresh read decides again
            if not await fn(record):
                return False
            changed[record_id] = record
            return True

        for record_id in dict.fromkeys(ids):
            written = await self.change(record_id, tracked)
            if written is not None and record_id in changed:
                changed[record_id] = written
        return list(changed.values())

    async def update_batch(
        self, updates: Sequence[tuple[str, Mapping[str, Any], E | None]]
    ) -> None:
        """`update(id, operators, verified=True, record=record)` of each `(id, operators,
        record)`, for updates that carry no events and that no audit entry shows (the
        scheduler's flags): on MongoDB/FerretDB one statement per 90. Here: one by one."""
        for record_id, update, record in updates:
            await self.update(record_id, update, verified=True, record=record)

    async def delete_batch(self, items: Sequence[tuple[str, Mapping[str, Any]]]) -> set[str]:
        """`delete(id, expect=expect)` of each `(id, expect)` (records without an outbox
        or an audit: the scheduler's entries): on MongoDB/FerretDB one statement per 90.
        Returns the ids deleted."""
        deleted = set()
        for record_id, expect in items:
            if await self.delete(record_id, expect=expect):
                deleted.add(record_id)
        return deleted

    async def _read_for_change(self, record_id: str) -> tuple[E, Mapping[str, Any] | None] | None:
        """The record a change starts from, and the document it was read from when the
        backend keeps one (the write's audit entry diffs against it: no second read)."""
        found = await self.get([record_id])
        return (found[0], None) if found else None

    async def _held_for_change(
        self, record_id: str, held: Held
    ) -> tuple[E, Mapping[str, Any] | None] | None:
        doc = await held(record_id)
        if doc is None or (
            self.workspace_id is not None and doc.get("workspace_id") != self.workspace_id
        ):
            return None
        # The record from a copy: the change edits its lists, which the read model's
        # document must keep as they are (it is also what the audit entry diffs against).
        return self.kind.from_doc(document_copy(doc)), doc

    async def _made_before(self, record_id: str) -> bool:
        """Within a keyed operation: whether an earlier run already made this change (the
        document holds the marker reserved for it). Then the change is not computed again:
        on the record as the first run left it, a step may refuse what is already done (a
        task completed twice), which would fail a retry of a write that was saved."""
        operation = current_operation()
        if operation is None:
            return False
        marker = operation.update_marker(self.kind.collection, record_id)
        if marker not in await self._markers(record_id):
            return False
        operation.meet(self.kind.collection, record_id)
        return True

    @abstractmethod
    async def _markers(self, record_id: str) -> list[str]:
        """The keyed-operation markers the stored document holds (`crm_kit.operation`)."""

    @abstractmethod
    async def _heard_again(self, record: E) -> None:
        """Tell the write hooks of a record an earlier run of the operation wrote, as it
        is stored (hooks are idempotent: a claim or an index entry written again)."""

    async def _as_stored(self, records: Sequence[E]) -> list[E]:
        """The records a change returns: within a keyed operation, one whose update an
        earlier run had made is read again (this run computed on top of that update)."""
        operation = current_operation()
        out = list(records)
        if operation is None:
            return out
        for n, record in enumerate(out):
            if operation.has_met(self.kind.collection, self._id_of(record)):
                found = await self.get([self._id_of(record)])
                out[n] = found[0] if found else record
        return out

    # -- helpers for the backends -------------------------------------------------------
    def _id_of(self, record: E) -> str:
        return str(self.kind.to_doc(record)["_id"])

    def _scoped(self, where: Filter) -> Filter:
        if self.workspace_id is None:
            return where
        return And(Eq("workspace_id", self.workspace_id), where)

    def _document(self, record: E) -> dict[str, Any]:
        """The record's document, placed in this workspace."""
        workspace_id = self._writable()
        if hasattr(record, "workspace_id"):
            record.workspace_id = workspace_id
        doc = self.kind.to_doc(record)
        doc["workspace_id"] = workspace_id
        return doc

    def _versioned_update(
        self, record: E, expect: Mapping[str, Any] | None = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """The `$set` document of a save and the values it expects stored."""
        doc = self._document(record)
        doc.pop("_id")
        conditions = dict(expect or {})
        if self.kind.versioned:
            name = self.kind.version_field
            version: int = getattr(record, name)
            doc[name] = version + 1
            conditions[name] = version
        return doc, conditions

    def _writable(self) -> str:
        if self.workspace_id is None:
            raise RuntimeError("records of every workspace are read-only")
        return self.workspace_id

    def _bump(self, record: E, by: int) -> None:
        if self.kind.versioned:
            name = self.kind.version_field
            setattr(record, name, getattr(record, name) + by)


def changed_update(fields: dict[str, Any], before: Mapping[str, Any] | None) -> dict[str, Any]:
    """The update of a save. Without the document as read for this write under its lock
    (`before`): `$set` of every field. With it: `$set` of the fields whose value differs
    from it (or that it lacks), and `$push` of the items appended to a list that only grew
    (a deal's stage history, activity log). A move changes a handful of a deal's ~50
    fields: FerretDB parses and applies every path sent (the whole-record `$set` was a
    3.5 KB command for a 3.3 KB deal), and the client encodes them. The stored document
    ends the same: what is left out holds that value already. On MongoDB the write stays
    conditional on the version read (`DocumentWriter._guard`), so a replica's write in
    between refuses it as before."""
    if before is None:
        return {"$set": fields}
    changed: dict[str, Any] = {}
    appended: dict[str, Any] = {}
    for name, value in fields.items():
        old = before.get(name, _ABSENT_FIELD)
        if type(old) is type(value) and old == value:
            continue  # the type too: `1 == True == 1.0` in Python, not in BSON
        if isinstance(old, list) and isinstance(value, list) and _grown(old, value):
            appended[name] = {"$each": value[len(old) :]}
        else:
            changed[name] = value
    if not changed and not appended:
        return {"$set": fields}  # an empty update is refused: write it whole
    update: dict[str, Any] = {"$set": changed} if changed else {}
    if appended:
        update["$push"] = appended
    return update


_ABSENT_FIELD = object()


def _grown(old: list[Any], new: list[Any]) -> bool:
    """Whether `new` is `old` with items appended (the items compared with their types)."""
    if not old or len(new) <= len(old):
        return False
    return all(type(a) is type(b) and a == b for a, b in zip(old, new, strict=False))


class MongoRecords(Records[E]):
    def __init__(
        self, writer: DocumentWriter, kind: RecordType[E], workspace_id: str | None
    ) -> None:
        super().__init__(kind, workspace_id)
        self.writer = writer

    @functools.cached_property
    def _collection(self) -> AsyncCollection[Any]:
        # Made on first use: a request's store makes records of every collection it might
        # touch, and a driver collection object costs more to build than most reads served
        # from a read index (profiled at a seventh of a contacts list's CPU).
        return self.writer.db[self.kind.collection]

    def lock(self, *ids: str) -> Any:
        return self.writer.lock(self.kind.collection, *ids)

    def notices_together(self) -> contextlib.AbstractContextManager[None]:
        return self.writer.notices_together()

    async def get(self, ids: Sequence[str]) -> list[E]:
        wanted = list(dict.fromkeys(ids))
        if not wanted:
            return []
        found = {doc["_id"]: doc for doc in await self._documents(wanted)}
        return [self.kind.from_doc(found[i]) for i in wanted if i in found]

    async def _read_for_change(self, record_id: str) -> tuple[E, Mapping[str, Any] | None] | None:
        # One `_id` look-up on either profile (the workspace checked here).
        doc = await self._collection.find_one({"_id": record_id}, HIDE_OUTBOX)
        if doc is None or (
            self.workspace_id is not None and doc.get("workspace_id") != self.workspace_id
        ):
            return None
        # A copy: the record may share the document's lists, which the change then edits.
        return self.kind.from_doc(doc), document_copy(doc)

    async def change_batch(
        self, ids: Sequence[str], fn: Change[E], *, batch_collection: str, batch_id: str
    ) -> list[E]:
        if current_operation() is not None:  # its markers are per write: one at a time
            return await super().change_batch(
                ids, fn, batch_collection=batch_collection, batch_id=batch_id
            )
        wanted = list(dict.fromkeys(ids))
        updates: list[BatchUpdate] = []
        async with self.lock(*wanted):
            for doc in await self._documents(wanted):
                record = self.kind.from_doc(document_copy(doc))
                if not await fn(record):
                    continue
                fields, conditions = self._versioned_update(record)
                # Only what the change changed is written: the rest stays as stored.
                changed = {name: value for name, value in fields.items() if doc.get(name) != value}
                # Ours applied when the document holds what it wrote (the version alone
                # is not enough: another writer's bump reaches the same number).
                marks = {**changed, **{name: fields[name] for name in conditions}}
                self._bump(record, 1)
                updates.append(
                    BatchUpdate(
                        doc["_id"],
                        {"$set": changed},
                        doc,
                        conditions,
                        marks,
                        pending_events(record),
                        record,
                    )
                )
            applied = await self.writer.update_batch(
                self.kind.collection,
                updates,
                workspace_id=self._writable(),
                batch_collection=batch_collection,
                batch_id=batch_id,
            )
        written: list[E] = []
        for update in updates:
            if update.doc_id in applied:
                events_written(update.record)
                written.append(update.record)
            else:
                self._bump(update.record, -1)
        # Changed by another replica since the read: each again on a fresh read.
        lost = [update.doc_id for update in updates if update.doc_id not in applied]
        if lost:
            written += await super().change_batch(
                lost, fn, batch_collection=batch_collection, batch_id=batch_id
            )
        return written

    async def update_batch(
        self, updates: Sequence[tuple[str, Mapping[str, Any], E | None]]
    ) -> None:
        if current_operation() is not None:  # its markers are per write: one at a time
            return await super().update_batch(updates)
        for _, update, _ in updates:
            check_update(update)
        await self.writer.update_batch(
            self.kind.collection,
            [BatchUpdate(i, dict(u), {}, record=r) for i, u, r in updates],
            workspace_id=self._writable(),
            batch_collection=None,
        )

    async def delete_batch(self, items: Sequence[tuple[str, Mapping[str, Any]]]) -> set[str]:
        if current_operation() is not None:
            return await super().delete_batch(items)
        return await self.writer.delete_batch(
            self.kind.collection, items, workspace_id=self._writable()
        )

    async def _documents(self, ids: list[str]) -> list[dict[str, Any]]:
        """The stored documents of these ids in this workspace (as `get` reads them)."""
        if self.writer.profile.ids_one_by_one:
            return await self._by_id_lookups(ids)
        docs: list[dict[str, Any]] = []
        for start in range(0, len(ids), _IDS_PER_QUERY):
            query = self._scoped(In("_id", ids[start : start + _IDS_PER_QUERY])).to_mongo()
            docs += [doc async for doc in self._collection.find(query, HIDE_OUTBOX)]
        return docs

    async def _by_id_lookups(self, ids: list[str]) -> list[dict[str, Any]]:
        """`{_id: value}` is the one filter FerretDB as published serves from an index;
        the workspace is checked here."""
        limit = asyncio.Semaphore(_ID_LOOKUPS)

        async def one(doc_id: str) -> dict[str, Any] | None:
            async with limit:
                return await self._collection.find_one({"_id": doc_id}, HIDE_OUTBOX)

        docs = await asyncio.gather(*(one(doc_id) for doc_id in ids))
        return [
            doc
            for doc in docs
            if doc is not None
            and (self.workspace_id is None or doc.get("workspace_id") == self.workspace_id)
        ]

    async def find(
        self,
        where: Filter = ALL,
        *,
        order: Order = BY_ID,
        after: Cursor | None = None,
        limit: int | None = None,
    ) -> list[E]:
        query = self._scoped(And(where, order.after(after))).to_mongo()
        cursor = self._collection.find(query, HIDE_OUTBOX).sort(order.mongo_sort())
        if limit is not None:
            cursor = cursor.limit(limit)
        return [self.kind.from_doc(doc) async for doc in cursor]

    async def count(self, where: Filter = ALL) -> int:
        return await self._collection.count_documents(self._scoped(where).to_mongo())

    async def scan(self, where: Filter = ALL) -> AsyncIterator[E]:
        async for doc in self._collection.find(self._scoped(where).to_mongo(), HIDE_OUTBOX):
            yield self.kind.from_doc(doc)

    async def ids(
        self, where: Filter = ALL, *, order: Order = BY_ID, limit: int | None = None
    ) -> list[Any]:
        cursor = self._collection.find(self._scoped(where).to_mongo(), {"_id": 1}).sort(
            order.mongo_sort()
        )
        if limit is not None:
            cursor = cursor.limit(limit)
        return [doc["_id"] async for doc in cursor]

    async def insert(self, record: E) -> None:
        doc = self._document(record)
        try:
            await self.writer.insert(
                self.kind.collection, doc, pending_events(record), record=record
            )
        except DuplicateKeyError:
            raise await self._duplicate(doc, inserting=True) from None
        events_written(record)

    async def insert_many(
        self,
        records: Sequence[E],
        *,
        hold_audit: list[dict[str, Any]] | None = None,
        ordered: bool = False,
    ) -> list[E]:
        docs = [self._document(record) for record in records]
        refused = await self.writer.insert_many(
            self.kind.collection,
            docs,
            [pending_events(record) for record in records],
            records=records,
            held_audit=hold_audit,
            ordered=ordered,
        )
        for doc, record in zip(docs, records, strict=True):
            if doc["_id"] not in refused:
                events_written(record)
        return [record for doc, record in zip(docs, records, strict=True) if doc["_id"] in refused]

    def prepare_batch(self, records: Sequence[E], *, batch_collection: str, batch_id: str) -> None:
        self.writer.prepare_batch(
            self.kind.collection,
            [self._document(record) for record in records],
            [pending_events(record) for record in records],
            batch_collection=batch_collection,
            batch_id=batch_id,
        )

    async def insert_batch(
        self, records: Sequence[E], *, batch_collection: str, batch_id: str
    ) -> list[E]:
        docs = [self._document(record) for record in records]
        refused = await self.writer.insert_batch(
            self.kind.collection,
            docs,
            [pending_events(record) for record in records],
            batch_collection=batch_collection,
            batch_id=batch_id,
            records=records,
        )
        for doc, record in zip(docs, records, strict=True):
            if doc["_id"] not in refused:
                events_written(record)
        return [record for doc, record in zip(docs, records, strict=True) if doc["_id"] in refused]

    async def put(self, record: E) -> None:
        await self.writer.replace(
            self.kind.collection, self._document(record), upsert=True, record=record
        )

    async def save(
        self,
        record: E,
        *,
        verified: bool = False,
        expect: Mapping[str, Any] | None = None,
        before: Mapping[str, Any] | None = None,
    ) -> bool:
        fields, conditions = self._versioned_update(record, expect)
        doc_id = self._id_of(record)
        # The write hooks hear the record as written (its new version), as in memory.
        self._bump(record, 1)
        try:
            applied = await self.writer.update(
                self.kind.collection,
                doc_id,
                changed_update(fields, before),
                pending_events(record),
                workspace_id=self.workspace_id,
                expect=conditions,
                # Conditions beyond the version were not checked by `change`'s read.
                verified=verified and not expect,
                record=record,
                before=before,
            )
        except DuplicateKeyError:
            self._bump(record, -1)
            raise await self._duplicate({"_id": doc_id, **fields}) from None
        except BaseException:
            self._bump(record, -1)
            raise
        if applied:
            events_written(record)
        else:
            self._bump(record, -1)
        return applied

    async def update(
        self,
        record_id: str,
        update: Mapping[str, Any],
        events: Sequence[object] = (),
        *,
        expect: Mapping[str, Any] | None = None,
        upsert: bool = False,
        verified: bool = False,
        record: E | None = None,
        audit: Sequence[Mapping[str, Any]] = (),
    ) -> bool:
        check_update(update)
        body = dict(update)
        if upsert:  # a record created by the upsert belongs to the workspace too
            body["$set"] = {**body.get("$set", {}), "workspace_id": self._writable()}
        try:
            return await self.writer.update(
                self.kind.collection,
                record_id,
                body,
                events,
                workspace_id=self._writable(),
                expect=expect,
                verified=verified,
                upsert=upsert,
                record=record,
                audit=audit,
            )
        except DuplicateKeyError:
            if upsert and await self._elsewhere(record_id):
                return False  # the id is another workspace's: not this one's to create
            raise await self._duplicate({"_id": record_id, **body.get("$set", {})}) from None

    async def delete(self, record_id: str, *, expect: Mapping[str, Any] | None = None) -> bool:
        return await self.writer.delete(
            self.kind.collection, record_id, workspace_id=self._writable(), expect=expect
        )

    async def _markers(self, record_id: str) -> list[str]:
        doc = await self._collection.find_one({"_id": record_id}, {OPS_FIELD: 1})
        return list((doc or {}).get(OPS_FIELD) or [])

    async def _heard_again(self, record: E) -> None:
        doc_id = self._id_of(record)
        self.writer.wake(self.kind.collection, doc_id)
        await self.writer.hooks.emit(
            Written(self.kind.collection, doc_id, self.workspace_id, record)
        )

    async def _elsewhere(self, record_id: str) -> bool:
        """Whether a document with this id belongs to another workspace."""
        doc = await self._collection.find_one({"_id": record_id}, {"workspace_id": 1})
        return doc is not None and doc.get("workspace_id") != self.workspace_id

    async def _duplicate(self, doc: Mapping[str, Any], *, inserting: bool = False) -> Duplicate:
        """Which unique field refused `doc`, and who holds the value (a query that scans
        on FerretDB, but only after a refusal). An insert refused for its `_id` costs one
        `_id` look-up instead."""
        if inserting and await self._collection.find_one({"_id": doc["_id"]}, {"_id": 1}):
            return Duplicate("_id", doc["_id"])
        for name in self.kind.unique:
            query = self._scoped(Eq(name, doc.get(name))).to_mongo()
            holder = await self._collection.find_one(
                {**query, "_id": {"$ne": doc["_id"]}}, {"_id": 1}
            )
            if holder is not None:
                return Duplicate(name, holder["_id"])
        return Duplicate("_id", doc["_id"])


class RecordSource(Protocol):
    """Where records come from: `MongoSource` or `crm_kit.memory_db.MemoryDatabase`."""

    def records(self, kind: RecordType[E], workspace_id: str | None) -> Records[E]: ...


@dataclass(frozen=True)
class MongoSource:
    """Records on MongoDB (or FerretDB), written through `writer`."""

    writer: DocumentWriter

    def records(self, kind: RecordType[E], workspace_id: str | None) -> MongoRecords[E]:
        return MongoRecords(self.writer, kind, workspace_id)
