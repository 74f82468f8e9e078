"""An in-memory database for unit tests: documents per collection, the same records API and
semantics as on MongoDB (`crm_kit.records`), unique fields enforced per workspace as the
unique indexes do, write hooks told of every write, and the outbox kept as a list of the
CloudEvents written (to assert on).

Documents are stored as the codec writes them (`RecordType.to_doc`), so filters, sorting
and derived fields behave as they do on the database (`crm_kit.filters`). A keyed operation
(`crm_kit.operation`) is honoured as the kit's writer honours it: derived event ids, an
insert of the operation's own existing id and an update whose marker the document holds
taken as applied.
"""

from __future__ import annotations

import asyncio
import copy
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from operator import itemgetter
from typing import Any, TypeVar

from crm_contracts.envelope import CloudEvent

from .audit import AUDIT, AuditPolicy, entry, packed_changes
from .filters import ALL, And, Filter, Get, stored_field
from .locks import DocLocks, hold_locks
from .operation import OPS_FIELD, current_operation, keep_markers
from .pagination import BY_ID, Cursor, Order
from .records import (
    Duplicate,
    E,
    Records,
    RecordType,
    check_update,
    events_written,
    pending_events,
)
from .update_operators import apply_update
from .writer import Encode, Kind, WriteHooks, Written, as_cloud_event

R = TypeVar("R")

# MongoDB's order of types, for sorting values of mixed types the way it does.
_TYPE_ORDER: tuple[tuple[type, int], ...] = (
    (bool, 6),  # before int: bool is an int in Python
    (int, 1),
    (float, 1),
    (str, 2),
    (dict, 3),
    (list, 4),
    (datetime, 7),
)


# The same by exact type: read models sort thousands of values per query.
_RANK_OF_TYPE: dict[type, int] = {kind: rank for kind, rank in _TYPE_ORDER}


def sort_key(value: Any) -> tuple[int, Any]:
    if value is None:
        return (0, 0)
    rank = _RANK_OF_TYPE.get(type(value))
    if rank is not None:
        return (rank, value)
    for kind, rank in _TYPE_ORDER:  # a subclass
        if isinstance(value, kind):
            return (rank, value)
    return (9, str(value))


def select(
    rows: Iterable[R],
    fields: Callable[[R], Get],
    where: Filter = ALL,
    order: Order = BY_ID,
    after: Cursor | None = None,
    limit: int | None = None,
) -> list[R]:
    """The rows `where` and the cursor select, in `order` (ties by `_id`), cut to `limit`:
    what MongoDB answers, evaluated in memory. `fields(row)` reads a row's stored fields.
    The in-memory database runs this; so can a read model over rows of its own."""
    beyond = order.after(after)
    query = where if beyond is None else And(where, beyond)
    field = order.field
    # (sort value, id) keys are unique, so the sort never compares the rows themselves.
    keyed = [
        ((sort_key(get(field)), sort_key(get("_id"))), row)
        for row in rows
        if query.matches(get := fields(row))
    ]
    keyed.sort(key=itemgetter(0), reverse=order.descending)
    return [row for _, row in keyed[:limit]]


# Values a stored document holds that no reader can change: shared, not copied.
_IMMUTABLE: frozenset[type] = frozenset(
    {str, int, float, bool, type(None), bytes, datetime, date, Decimal}
)


def stored_copy(value: Any) -> Any:
    """A copy of a stored value that shares nothing mutable with it (what `copy.deepcopy`
    makes of a document's values), by type for what documents hold: every record read
    from the fake is copied, and `deepcopy`'s generic dispatch and memo cost the unit
    tests' and the in-process benchmarks' reads more than the code they measure (two
    fifths of a tasks `_entities` fetch, `bench/load/entities.py`). Anything else goes to
    `deepcopy`."""
    kind = type(value)
    if kind in _IMMUTABLE:
        return value
    if kind is dict:
        return {k: stored_copy(v) for k, v in value.items()}
    if kind is list:
        return [stored_copy(v) for v in value]
    return copy.deepcopy(value)


class MemoryDatabase:
    def __init__(
        self, *, encode: Encode = as_cloud_event, audit: AuditPolicy | None = None
    ) -> None:
        self.collections: defaultdict[str, dict[Any, dict[str, Any]]] = defaultdict(dict)
        # The audit log (`crm_kit.audit`): entries go to its collection at once (no relay).
        self.audit = audit
        self.outbox: list[CloudEvent] = []
        self.locks = DocLocks()
        self.hooks = WriteHooks()
        self.encode = encode

    def records(self, kind: RecordType[E], workspace_id: str | None) -> MemoryRecords[E]:
        return MemoryRecords(self, kind, workspace_id)

    def events_of_type(self, event_type: str) -> list[CloudEvent]:
        return [event for event in self.outbox if event.type == event_type]

    def record_change(
        self,
        collection: str,
        doc_id: Any,
        before: Mapping[str, Any] | None,
        after: Mapping[str, Any] | None,
        place: str,
        held: list[dict[str, Any]] | None = None,
    ) -> None:
        """The audit entry of one write, as the writer makes it (`held`: added to that list
        instead, as `Records.insert_many(hold_audit=...)` asks)."""
        if self.audit is None:
            return
        workspace = (after or before or {}).get("workspace_id")
        made = entry(
            self.audit,
            collection,
            doc_id,
            workspace,
            before,
            after,
            place=place,
            derived=held is not None,
        )
        if made is not None and held is not None:
            held.append(packed_changes(made))  # as the writer holds them
        elif made is not None:
            self.store_entries([made])

    def store_entries(self, entries: Sequence[Mapping[str, Any]]) -> None:
        """Entries into the audit log (one already there is kept, as its unique `_id` does)."""
        for made in entries:
            self.collections[AUDIT].setdefault(made["_id"], dict(made))


class MemoryRecords(Records[E]):
    def __init__(self, db: MemoryDatabase, kind: RecordType[E], workspace_id: str | None) -> None:
        super().__init__(kind, workspace_id)
        self.db = db
        self._docs = db.collections[kind.collection]

    def lock(self, *ids: str) -> Any:
        return hold_locks(self.db.locks, [DocLocks.key(self.kind.collection, i) for i in ids])

    def _mine(self, doc: dict[str, Any]) -> bool:
        return self.workspace_id is None or doc.get("workspace_id") == self.workspace_id

    def _load(self, doc: dict[str, Any]) -> E:
        return self.kind.from_doc({k: stored_copy(v) for k, v in doc.items() if k != OPS_FIELD})

    async def _markers(self, record_id: str) -> list[str]:
        return list(self._docs.get(record_id, {}).get(OPS_FIELD) or [])

    def _select(self, where: Filter, order: Order, after: Cursor | None) -> list[dict[str, Any]]:
        return select(self._docs.values(), stored_field, self._scoped(where), order, after)

    async def get(self, ids: Sequence[str]) -> list[E]:
        docs = [self._docs.get(i) for i in dict.fromkeys(ids)]
        return [self._load(doc) for doc in docs if doc is not None and self._mine(doc)]

    async def find(
        self,
        where: Filter = ALL,
        *,
        order: Order = BY_ID,
        after: Cursor | None = None,
        limit: int | None = None,
    ) -> list[E]:
        rows = self._select(where, order, after)
        return [self._load(doc) for doc in rows[:limit]]

    async def count(self, where: Filter = ALL) -> int:
        query = self._scoped(where)
        return sum(1 for doc in self._docs.values() if query.matches(stored_field(doc)))

    async def scan(self, where: Filter = ALL) -> AsyncIterator[E]:
        for doc in self._select(where, BY_ID, None):
            await asyncio.sleep(0)  # a database cursor yields too: writes interleave
            yield self._load(doc)

    async def ids(
        self, where: Filter = ALL, *, order: Order = BY_ID, limit: int | None = None
    ) -> list[Any]:
        return [doc["_id"] for doc in self._select(where, order, None)[:limit]]

    def _check_unique(self, doc: dict[str, Any]) -> None:
        for name in self.kind.unique:
            for other in self._docs.values():
                same_workspace = other.get("workspace_id") == doc.get("workspace_id")
                if (
                    other["_id"] != doc["_id"]
                    and same_workspace
                    and other.get(name) == doc.get(name)
                ):
                    raise Duplicate(name, other["_id"])

    def _emit_events(self, events: Sequence[object], place: str) -> tuple[CloudEvent, ...]:
        """Encode and store a write's events; within a keyed operation their ids derive
        from the write (`place`), as the writer's do."""
        encoded = [self.db.encode(event) for event in events]
        operation = current_operation()
        if operation is not None:
            encoded = [
                event.model_copy(update={"id": operation.event_id(place, n)})
                for n, event in enumerate(encoded)
            ]
        self.db.outbox.extend(encoded)
        return tuple(encoded)

    async def _written(
        self,
        doc_id: Any,
        record: E | None,
        events: tuple[CloudEvent, ...] = (),
        kind: Kind = "update",
    ) -> None:
        await self.db.hooks.emit(
            Written(
                self.kind.collection, doc_id, self.workspace_id, record, events=events, kind=kind
            )
        )

    async def _heard_again(self, record: E) -> None:
        await self._written(self._id_of(record), record)

    async def insert(self, record: E) -> None:
        await self._insert(record, None)

    async def _insert(self, record: E, held: list[dict[str, Any]] | None) -> None:
        doc = self._document(record)
        async with self.lock(doc["_id"]):
            if held is not None:
                # Held entries are named by the insert: given for the refused too.
                place = f"{self.kind.collection}/{doc['_id']}/insert"
                self.db.record_change(self.kind.collection, doc["_id"], None, doc, place, held)
            if doc["_id"] in self._docs:
                operation = current_operation()
                if operation is None or doc["_id"] not in operation.minted:
                    raise Duplicate("_id", doc["_id"])
                operation.meet(self.kind.collection, doc["_id"])
                events: tuple[CloudEvent, ...] = ()
            else:  # not inserted by an earlier run of the operation
                self._check_unique(doc)
                self._docs[doc["_id"]] = copy.deepcopy(doc)
                place = f"{self.kind.collection}/{doc['_id']}"
                if held is None:
                    self.db.record_change(
                        self.kind.collection, doc["_id"], None, doc, f"{place}/insert"
                    )
                events = self._emit_events(pending_events(record), place)
            events_written(record)
            await self._written(doc["_id"], record, events, "insert")

    async def insert_many(
        self,
        records: Sequence[E],
        *,
        hold_audit: list[dict[str, Any]] | None = None,
        ordered: bool = False,
    ) -> list[E]:
        refused: list[E] = []
        for n, record in enumerate(records):
            try:
                await self._insert(record, hold_audit)
            except Duplicate:
                if ordered:  # the rest are not tried
                    return [record, *records[n + 1 :]]
                refused.append(record)
        return refused

    async def put(self, record: E) -> None:
        doc = self._document(record)
        async with self.lock(doc["_id"]):
            self._docs[doc["_id"]] = copy.deepcopy(doc)
            await self._written(doc["_id"], record)

    async def save(
        self,
        record: E,
        *,
        verified: bool = False,
        expect: Mapping[str, Any] | None = None,
        before: Mapping[str, Any] | None = None,
    ) -> bool:
        del before  # the entry diffs against the stored document itself
        fields, expect = self._versioned_update(record, expect)
        doc_id = self._id_of(record)
        async with self.lock(doc_id):
            stored = self._docs.get(doc_id)
            if stored is None or not self._mine(stored):
                return False
            operation = current_operation()
            marker = operation.update_marker(self.kind.collection, doc_id) if operation else None
            markers = stored.get(OPS_FIELD) or []
            events: tuple[CloudEvent, ...] = ()
            if operation is not None and marker in markers:
                operation.meet(self.kind.collection, doc_id)  # an earlier run saved it
            else:
                if any(stored.get(name) != value for name, value in expect.items()):
                    return False
                updated = {**stored, **copy.deepcopy(fields)}
                if marker is not None:
                    updated[OPS_FIELD] = keep_markers(markers, marker)
                self._check_unique(updated)
                self._docs[doc_id] = updated
                place = marker or f"{self.kind.collection}/{doc_id}"
                self.db.record_change(
                    self.kind.collection, doc_id, stored, updated, f"{place}/update"
                )
                events = self._emit_events(pending_events(record), place)
            self._bump(record, 1)
            events_written(record)
            await self._written(doc_id, record, events)
            return True

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
        del verified  # nothing to skip: the check costs no statement here
        check_update(update)
        if upsert and expect:
            raise ValueError("an upsert has nothing to check `expect` against")
        workspace_id = self._writable()
        async with self.lock(record_id):
            stored = self._docs.get(record_id)
            if stored is None and not upsert:
                return False
            if stored is not None and not self._mine(stored):
                return False
            operation = current_operation()
            marker = operation.update_marker(self.kind.collection, record_id) if operation else None
            markers = (stored or {}).get(OPS_FIELD) or []
            if operation is not None and marker in markers:
                operation.meet(self.kind.collection, record_id)  # an earlier run made it
                await self._written(record_id, record)
                return True
            if stored is not None and any(stored.get(k) != v for k, v in (expect or {}).items()):
                return False
            doc: dict[str, Any] = (
                copy.deepcopy(stored) if stored is not None else {"_id": record_id}
            )
            apply_update(doc, update, inserting=stored is None)
            doc["workspace_id"] = workspace_id
            if marker is not None:
                doc[OPS_FIELD] = keep_markers(markers, marker)
            self._check_unique(doc)
            self._docs[record_id] = doc
            place = marker or f"{self.kind.collection}/{record_id}"
            self.db.record_change(self.kind.collection, record_id, stored, doc, f"{place}/update")
            self.db.store_entries(audit)  # the relay's move, at once
            encoded = self._emit_events(events, place)
            await self._written(record_id, record, encoded)
            return True

    async def delete(self, record_id: str, *, expect: Mapping[str, Any] | None = None) -> bool:
        async with self.lock(record_id):
            stored = self._docs.get(record_id)
            if stored is None or not self._mine(stored):
                return False
            if any(stored.get(k) != v for k, v in (expect or {}).items()):
                return False
            del self._docs[record_id]
            place = f"{self.kind.collection}/{record_id}/delete"
            self.db.record_change(self.kind.collection, record_id, stored, None, place)
            await self.db.hooks.emit(
                Written(self.kind.collection, record_id, self.workspace_id, deleted=True)
            )
            return True
