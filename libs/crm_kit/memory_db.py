"""An in-memory database for unit tests: documents per collection, the same records API and
semantics as on MongoDB (`crm_kit.records`), unique fields enforced per workspace as the
unique indexes do, write hooks told of every write, and the outbox kept as a list of the
CloudEvents written (to assert on).

Documents are stored as the codec writes them (`RecordType.to_doc`), so filters, sorting
and derived fields behave as they do on the database (`crm_kit.filters`).
"""

from __future__ import annotations

import copy
from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from crm_contracts.envelope import CloudEvent

from .filters import ALL, And, Filter
from .locks import DocLocks, hold_locks
from .pagination import BY_ID, Cursor, Order
from .records import Duplicate, E, Records, RecordType, events_written, pending_events
from .writer import Encode, WriteHooks, Written, as_cloud_event

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


def sort_key(value: Any) -> tuple[int, Any]:
    if value is None:
        return (0, 0)
    for kind, rank in _TYPE_ORDER:
        if isinstance(value, kind):
            return (rank, value)
    return (9, str(value))


class MemoryDatabase:
    def __init__(self, *, encode: Encode = as_cloud_event) -> None:
        self.collections: defaultdict[str, dict[Any, dict[str, Any]]] = defaultdict(dict)
        self.outbox: list[CloudEvent] = []
        self.locks = DocLocks()
        self.hooks = WriteHooks()
        self.encode = encode

    def records(self, kind: RecordType[E], workspace_id: str | None) -> MemoryRecords[E]:
        return MemoryRecords(self, kind, workspace_id)

    def events_of_type(self, event_type: str) -> list[CloudEvent]:
        return [event for event in self.outbox if event.type == event_type]


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
        return self.kind.from_doc(copy.deepcopy(doc))

    def _select(self, where: Filter, order: Order, after: Cursor | None) -> list[dict[str, Any]]:
        query = self._scoped(And(where, order.after(after)))
        rows = [doc for doc in self._docs.values() if query.matches(doc.get)]
        rows.sort(
            key=lambda doc: (sort_key(doc.get(order.field)), sort_key(doc["_id"])),
            reverse=order.descending,
        )
        return rows

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
        return sum(1 for doc in self._docs.values() if query.matches(doc.get))

    async def ids(
        self, where: Filter = ALL, *, order: Order = BY_ID, limit: int | None = None
    ) -> list[Any]:
        return [doc["_id"] for doc in self._select(where, order, None)[:limit]]

    def _check_unique(self, doc: dict[str, Any]) -> None:
        for name in self.kind.unique:
            for other in self._docs.values():
                same_workspace = other.get("workspace_id") == doc.get("workspace_id")
                if other["_id"] != doc["_id"] and same_workspace and other.get(name) == doc[name]:
                    raise Duplicate(name, other["_id"])

    def _emit_events(self, record: E) -> list[CloudEvent]:
        encoded = [self.db.encode(event) for event in pending_events(record)]
        self.db.outbox.extend(encoded)
        return encoded

    async def _written(self, doc_id: Any, record: E, events: Sequence[CloudEvent] = ()) -> None:
        await self.db.hooks.emit(
            Written(self.kind.collection, doc_id, self.workspace_id, record, events=tuple(events))
        )

    async def insert(self, record: E) -> None:
        doc = self._document(record)
        async with self.lock(doc["_id"]):
            if doc["_id"] in self._docs:
                raise Duplicate("_id", doc["_id"])
            self._check_unique(doc)
            self._docs[doc["_id"]] = copy.deepcopy(doc)
            events = self._emit_events(record)
            events_written(record)
            await self._written(doc["_id"], record, events)

    async def insert_many(self, records: Sequence[E]) -> list[E]:
        refused: list[E] = []
        for record in records:
            try:
                await self.insert(record)
            except Duplicate:
                refused.append(record)
        return refused

    async def put(self, record: E) -> None:
        doc = self._document(record)
        async with self.lock(doc["_id"]):
            self._docs[doc["_id"]] = copy.deepcopy(doc)
            await self._written(doc["_id"], record)

    async def save(
        self, record: E, *, verified: bool = False, expect: Mapping[str, Any] | None = None
    ) -> bool:
        fields, expect = self._versioned_update(record, expect)
        doc_id = self._id_of(record)
        async with self.lock(doc_id):
            stored = self._docs.get(doc_id)
            if stored is None or not self._mine(stored):
                return False
            if any(stored.get(name) != value for name, value in expect.items()):
                return False
            updated = {**stored, **copy.deepcopy(fields)}
            self._check_unique(updated)
            self._docs[doc_id] = updated
            events = self._emit_events(record)
            # Hooks hear of the write before the record moves on (as on MongoDB).
            await self._written(doc_id, record, events)
            self._saved(record)
            return True

    async def delete(self, record_id: str) -> bool:
        async with self.lock(record_id):
            stored = self._docs.get(record_id)
            if stored is None or not self._mine(stored):
                return False
            del self._docs[record_id]
            await self.db.hooks.emit(
                Written(self.kind.collection, record_id, self.workspace_id, deleted=True)
            )
            return True
