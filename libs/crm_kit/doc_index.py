"""A read index (`crm_kit.read_index`) of one kind of record, holding each record's stored
fields that its lists filter and sort by, and answering a `crm_kit.filters` filter with a
page of records or a count: for records without a summary type of their own (a service
with summaries, like tasks, builds its entries itself).

Why: on FerretDB's SQLite backend any filter but `{_id: value}` reads the whole
collection under the single writer, so each list and count costs a scan. Here a list is
selected in memory with the same filter and order the database would run
(`crm_kit.memory_db.select` over the stored fields, `RecordType.to_doc`), and only the
rows chosen are read, by `_id`.

Consistency is the read index's (loaded lazily by one scan; this process's writes re-read
before they return, through the write hooks; other replicas' writes through the event
feed, `crm_kit.index_feed`; periodic rebuilds). A row read by `_id` whose fields differ
from its entry (another replica wrote it, the event is not in yet) is re-read into the
index and the selection runs again, so a page is always filtered and ordered by the rows
it returns.

With a change log (`changes`, `crm_kit.change_log`) the index holds whole stored documents
and a page takes its rows from them instead of reading each by `_id`: every request first
follows the log (one `_id` look-up when nothing changed), which names each document any
replica changed since.

A filter or order naming a field the index does not keep raises `UnindexedField` (add
the field to `fields`): evaluating it as missing would answer wrongly.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from .change_log import ChangeLog
from .filters import ALL, Filter, Get
from .index_entries import Entries
from .memory_db import select
from .pagination import Cursor, Order
from .read_index import ReadIndex
from .records import RecordSource, RecordType
from .writer import WriteHooks, Written

E = TypeVar("E")
# Selections in all when rows read by `_id` show entries behind them.
SELECT_ATTEMPTS = 3
# (posted field, acceptable values) a filter implies: where a selection starts.
Narrow = Sequence[tuple[str, Iterable[Hashable]]]


class UnindexedField(LookupError):
    """A filter or order names a field the index does not keep."""


@dataclass(frozen=True)
class IndexedDoc:
    """A record's kept fields (compared whole: equal entries are not re-posted)."""

    id: str
    fields: tuple[tuple[str, Any], ...]

    def get(self) -> Get:
        values = dict(self.fields)

        def get(name: str) -> Any:
            try:
                value = values[name]
            except KeyError:
                raise UnindexedField(f"the read index keeps no field {name!r}") from None
            # Arrays are held as tuples (hashable); the filters know arrays as lists.
            return list(value) if isinstance(value, tuple) else value

        return get


class DocIndex(Generic[E]):
    """The read index of one kind of record, kept current by this process's writes."""

    def __init__(
        self,
        source: RecordSource,
        kind: RecordType[E],
        hooks: WriteHooks,
        *,
        fields: Sequence[str],
        posted: Sequence[str] = (),
        name: str,
        live: bool = True,
        changes: ChangeLog | None = None,
    ) -> None:
        """`fields`: the stored fields the lists filter and sort by (`_id` always kept);
        `posted`: those with an equality filter that picks few records among many (each
        gets a posting list, value -> ids); `changes`: the collection's change log (the
        index then holds whole documents)."""
        self.source = source
        self.kind = kind
        self.fields = tuple(dict.fromkeys(("_id", *fields)))
        self.posted = tuple(posted)
        self.index: ReadIndex[IndexedDoc, Entries[IndexedDoc]] = ReadIndex(
            scan=self._scan,
            read=self._read,
            entry_of=self._entry_of_doc,
            new_entries=lambda: Entries(self._postings),
            name=name,
            live=live,
            changes=changes,
        )
        hooks.subscribe(self._written)

    def entry_of(self, record: E | None) -> IndexedDoc | None:
        if record is None:
            return None
        return self._entry_of_doc(self.kind.to_doc(record))

    def _entry_of_doc(self, doc: Mapping[str, Any] | None) -> IndexedDoc | None:
        # The index itself holds stored documents (`records`), not domain objects.
        if doc is None:
            return None
        kept = tuple((name, _held(doc.get(name))) for name in self.fields)
        return IndexedDoc(str(doc["_id"]), kept)

    def _postings(self, entry: IndexedDoc) -> Iterable[tuple[str, Iterable[Hashable]]]:
        values = dict(entry.fields)
        for name in self.posted:
            value = values.get(name)
            yield name, (value if isinstance(value, tuple) else (value,))

    async def _scan(self, workspace_id: str) -> AsyncIterator[dict[str, Any]]:
        async for record in self.source.records(self.kind, workspace_id).scan():
            yield self.kind.to_doc(record)

    async def _read(self, workspace_id: str, record_id: str) -> dict[str, Any] | None:
        found = await self.source.records(self.kind, workspace_id).get([record_id])
        return self.kind.to_doc(found[0]) if found else None

    async def get(self, workspace_id: str, ids: Sequence[str]) -> list[E] | None:
        """The records with these ids, from the documents the index holds (in the order
        asked, absent ones left out); None when it holds none (no change log) or cannot
        serve: the caller reads the database. A workspace not loaded yet is not loaded for
        this (a look-up by id would pay the scan of a whole collection)."""
        if not self.index.holds_records or self.index.loaded(workspace_id) is None:
            return None
        if await self.index.entries(workspace_id) is None:  # follows the change log
            return None
        held = await self.index.records(workspace_id, ids)
        return [self.kind.from_doc(held[i]) for i in ids if i in held]

    async def _written(self, written: Written) -> None:
        # Said before anything here waits: the feed then skips these events' re-reads.
        self.index.expect_events(event.id for event in written.events)
        if written.collection == self.kind.collection and written.workspace_id is not None:
            await self.index.refresh(written.workspace_id, [written.doc_id])

    async def entries(self, workspace_id: str) -> Entries[IndexedDoc] | None:
        """None when the index cannot serve (the caller asks the database)."""
        return await self.index.entries(workspace_id)

    async def page(
        self,
        workspace_id: str,
        entries: Entries[IndexedDoc],
        where: Filter,
        *,
        order: Order,
        after: Cursor | None,
        limit: int,
        narrow: Narrow = (),
    ) -> list[E]:
        """The records `where` selects after the cursor in `order`, cut to `limit`, read
        by `_id`. `narrow`: constraints `where` implies on posted fields."""

        def choose() -> list[IndexedDoc]:
            rows = self._ordered(entries, where, narrow, order)
            beyond = order.after(after)
            if beyond is None:
                return list(rows[:limit])
            # The sorted matches walked from the start: the cursor's own filter decides
            # each row (a null or another type is never after a cursor, as on MongoDB).
            chosen: list[IndexedDoc] = []
            for entry in rows:
                if beyond.matches(entry.get()):
                    chosen.append(entry)
                    if len(chosen) >= limit:
                        break
            return chosen

        chosen = choose()
        for _ in range(SELECT_ATTEMPTS - 1):
            rows, behind = await self._fetch(workspace_id, chosen)
            if not behind:
                return rows
            await self.index.refresh(workspace_id, behind)
            chosen = choose()
        rows, _ = await self._fetch(workspace_id, chosen)
        # Still moving: return what still matches, as read.
        return [row for row in rows if where.matches(self._entry(row).get())]

    def count(self, entries: Entries[IndexedDoc], where: Filter, narrow: Narrow = ()) -> int:
        return len(self._matching(entries, where, narrow))

    @staticmethod
    def _matching(
        entries: Entries[IndexedDoc], where: Filter, narrow: Narrow
    ) -> tuple[IndexedDoc, ...]:
        """The entries `where` selects, kept until the entries change (the count and the
        page of one request, and every client's same list between writes, share it)."""

        def compute() -> tuple[IndexedDoc, ...]:
            return tuple(e for e in entries.candidates(narrow) if where.matches(e.get()))

        # Keyed by the filter's repr: equal filters can differ in type (`1 == True`).
        return entries.memo(repr(where), compute)

    def _ordered(
        self, entries: Entries[IndexedDoc], where: Filter, narrow: Narrow, order: Order
    ) -> tuple[IndexedDoc, ...]:
        """The entries `where` selects in `order`, kept until the entries change: between
        writes a page is a slice, not a sort of every match per request."""

        def compute() -> tuple[IndexedDoc, ...]:
            return tuple(select(self._matching(entries, where, narrow), IndexedDoc.get, ALL, order))

        return entries.memo(("ordered", repr(where), order.field, order.descending), compute)

    def _entry(self, record: E) -> IndexedDoc:
        entry = self.entry_of(record)
        assert entry is not None
        return entry

    async def _fetch(
        self, workspace_id: str, chosen: list[IndexedDoc]
    ) -> tuple[list[E], list[str]]:
        """The chosen records in order (held, or read by `_id`), and the ids whose entry
        was behind the database."""
        ids = [entry.id for entry in chosen]
        if self.index.holds_records:
            docs = await self.index.records(workspace_id, ids)
        else:
            found = await self.source.records(self.kind, workspace_id).get(ids)
            docs = {str(doc["_id"]): doc for doc in map(self.kind.to_doc, found)}
        rows: list[E] = []
        behind: list[str] = []
        for entry in chosen:
            doc = docs.get(entry.id)
            if doc is None or self._entry_of_doc(doc) != entry:
                behind.append(entry.id)
            if doc is not None:
                rows.append(self.kind.from_doc(doc))
        return rows, behind


def _held(value: Any) -> Any:
    """A stored value as an entry holds it: arrays as tuples (hashable, comparable)."""
    return tuple(value) if isinstance(value, list) else value
