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

import copy
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from crm_contracts.envelope import CloudEvent

from .filters import ALL, And, Filter
from .locks import DocLocks, hold_locks
from .operation import OPS_FIELD, current_operation, keep_markers
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
        return self.kind.from_doc({k: copy.deepcopy(v) for k, v in doc.items() if k != OPS_FIELD})

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

    def _emit_events(self, record: E, place: str) -> None:
        events = [self.db.encode(event) for event in pending_events(record)]
        operation = current_operation()
        if operation is not None:
            events = [
                event.model_copy(update={"id": operation.event_id(place, n)})
                for n, event in enumerate(events)
            ]
        self.db.outbox.extend(events)

    async def _written(self, doc_id: Any, record: E) -> None:
        await self.db.hooks.emit(Written(self.kind.collection, doc_id, self.workspace_id, record))

    async def insert(self, record: E) -> None:
        doc = self._document(record)
        async with self.lock(doc["_id"]):
            if doc["_id"] in self._docs:
                operation = current_operation()
                if operation is None or doc["_id"] not in operation.minted:
                    raise Duplicate("_id", doc["_id"])
                operation.meet(self.kind.collection, doc["_id"])
            else:  # not inserted by an earlier run of the operation
                self._check_unique(doc)
                self._docs[doc["_id"]] = copy.deepcopy(doc)
                self._emit_events(record, f"{self.kind.collection}/{doc['_id']}")
            events_written(record)
            await self._written(doc["_id"], record)

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

    async def save(self, record: E, *, verified: bool = False) -> bool:
        fields, expect = self._versioned_update(record)
        doc_id = self._id_of(record)
        async with self.lock(doc_id):
            stored = self._docs.get(doc_id)
            if stored is None or not self._mine(stored):
                return False
            operation = current_operation()
            marker = operation.update_marker(self.kind.collection, doc_id) if operation else None
            markers = stored.get(OPS_FIELD) or []
            if operation is not None and marker in markers:
                operation.meet(self.kind.collection, doc_id)
            else:
                if any(stored.get(name) != value for name, value in expect.items()):
                    return False
                updated = {**stored, **copy.deepcopy(fields)}
                if marker is not None:
                    updated[OPS_FIELD] = keep_markers(markers, marker)
                self._check_unique(updated)
                self._docs[doc_id] = updated
                self._emit_events(record, marker or f"{self.kind.collection}/{doc_id}")
            self._saved(record)
            await self._written(doc_id, record)
            return True
