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

Memory and speed at 10^5 to 10^6 records a workspace: an entry holds its values alone, by
position (the names are the index's, once); the workspace id's and the posted fields'
strings are interned, so the many entries naming one owner or one contact share its id;
a filter with a text part (`Contains`) first narrows the entries with a substring search
over their joined text (`crm_kit.text_column`), then runs whole over what it found.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import compress, repeat
from operator import attrgetter, contains, eq, itemgetter
from typing import Any, Generic, TypeVar

from .change_log import ChangeLog
from .filters import ALL, And, Contains, Eq, Filter, Get, In, Or
from .index_entries import Entries
from .index_snapshot import SnapshotCodec
from .memory_db import select, sort_key
from .order_column import OrderColumn, Ranked
from .pagination import Cursor, Order
from .read_index import ReadIndex
from .records import RecordSource, RecordType
from .text_column import TextColumn
from .writer import WriteHooks, Written

E = TypeVar("E")
# Selections in all when rows read by `_id` show entries behind them.
SELECT_ATTEMPTS = 3
# Bump when an entry is derived from a document differently: older snapshots go unused.
ENTRY_VERSION = 1
# (posted field, acceptable values) a filter implies: where a selection starts.
Narrow = Sequence[tuple[str, Iterable[Hashable]]]


class UnindexedField(LookupError):
    """A filter or order names a field the index does not keep."""


class Layout:
    """The kept fields' names and positions, shared by every entry of an index."""

    def __init__(self, names: Sequence[str]) -> None:
        self.names = tuple(names)
        self.positions = {name: i for i, name in enumerate(self.names)}


@dataclass(frozen=True, slots=True)
class IndexedDoc:
    """A record's kept fields, by position in its index's layout (compared whole: equal
    entries are not re-posted)."""

    id: str
    values: tuple[Any, ...]
    layout: Layout = field(compare=False, repr=False)

    def get(self) -> Get:
        return self.value

    def value(self, name: str) -> Any:
        try:
            value = self.values[self.layout.positions[name]]
        except KeyError:
            raise UnindexedField(f"the read index keeps no field {name!r}") from None
        # Arrays are held as tuples (hashable); the filters know arrays as lists.
        return list(value) if isinstance(value, tuple) else value


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
        searched: Sequence[Sequence[str]] = (),
        sorted_by: Sequence[str] = (),
        hold_all: bool = False,
    ) -> None:
        """`fields`: the stored fields the lists filter and sort by (`_id` always kept);
        `posted`: those with an equality filter that picks few records among many (each
        gets a posting list, value -> ids); `changes`: the collection's change log (the
        index then holds whole documents). `searched` (the fields of a `Contains`, as its
        filters name them) and `sorted_by` (fields of an `Order`): the joined texts and
        kept orders a workspace's entries get as they are installed (the warm-up, a
        rebuild), so that no request pays their build (~0.3 and ~0.5 s over 200,000
        contacts); others are built on first use. `hold_all` (with `changes`): every
        document held from the start, loaded with the entries from the scans and the
        snapshots (`ReadIndex`'s `hold_all`), so a start from the snapshots reads none by
        `_id` afterwards: for a small collection that most pages read."""
        self.source = source
        self.kind = kind
        # A versioned kind's entries carry the version: an inserted record is installed as
        # the insert wrote it (no read by `_id`), never over a newer state another
        # replica's change already put there (`older`).
        version = (kind.version_field,) if kind.versioned else ()
        self.fields = tuple(dict.fromkeys(("_id", *fields, *version)))
        self.posted = tuple(posted)
        self.layout = Layout(self.fields)
        # Values many entries repeat: held once (`sys.intern`).
        self._shared = frozenset(("workspace_id", *self.posted))
        self._posted_at = [(name, self.layout.positions.get(name)) for name in self.posted]
        self.index: ReadIndex[IndexedDoc, Entries[IndexedDoc]] = ReadIndex(
            scan=self._scan,
            scan_all=self._scan_all,
            read=self._read,
            read_many=self._read_many,
            entry_of=self._entry_of_doc,
            new_entries=lambda: Entries(self._postings),
            name=name,
            live=live,
            changes=changes,
            snapshot_codec=self._snapshot_codec(),
            older=self._older_version() if kind.versioned else None,
            prepare=self._prepared(searched, sorted_by) if searched or sorted_by else None,
            hold_all=hold_all,
        )
        hooks.subscribe(self._written)

    def _prepared(
        self, searched: Sequence[Sequence[str]], sorted_by: Sequence[str]
    ) -> Callable[[Entries[IndexedDoc]], None]:
        texts = [tuple(names) for names in searched]
        orders = list(sorted_by)
        for name in {*(n for names in texts for n in names), *orders}:
            if name not in self.layout.positions:
                raise UnindexedField(f"the read index keeps no field {name!r}")

        def prepare(entries: Entries[IndexedDoc]) -> None:
            columns = []
            for names in texts:
                column = _text_column(entries, names)
                if column is not None:
                    # The postings of the searches these fields get (case-sensitive: a
                    # service folds its searched text itself), built in steps.
                    column.index(ignore_case=False)
                    columns.append(column)
            for name in orders:
                order = _order_column(entries, self.layout, name)
                for column in columns:
                    order.align(column)  # a search's first page pays none of it

        return prepare

    def _older_version(self) -> Callable[[IndexedDoc, IndexedDoc], bool]:
        at = self.layout.positions[self.kind.version_field]

        def older(incoming: IndexedDoc, held: IndexedDoc) -> bool:
            return int(incoming.values[at] or 0) < int(held.values[at] or 0)

        return older

    def _snapshot_codec(self) -> SnapshotCodec[IndexedDoc]:
        """An entry in a snapshot: its id and values (the layout is the index's own)."""
        layout = self.layout

        def unpack(packed: tuple[Any, ...]) -> IndexedDoc:
            return IndexedDoc(packed[0], packed[1], layout)

        return SnapshotCodec(
            key=f"doc:{self.kind.collection}:{','.join(self.fields)}:v{ENTRY_VERSION}",
            pack=lambda entry: (entry.id, entry.values),
            unpack=unpack,
        )

    def entry_of(self, record: E | None) -> IndexedDoc | None:
        if record is None:
            return None
        return self._entry_of_doc(self.kind.to_doc(record))

    def _entry_of_doc(self, doc: Mapping[str, Any] | None) -> IndexedDoc | None:
        # The index itself holds stored documents (`records`), not domain objects.
        if doc is None:
            return None
        shared = self._shared
        kept = tuple(
            _interned(doc.get(name)) if name in shared else _held(doc.get(name))
            for name in self.fields
        )
        return IndexedDoc(str(doc["_id"]), kept, self.layout)

    def _postings(self, entry: IndexedDoc) -> Iterable[tuple[str, Iterable[Hashable]]]:
        values = entry.values
        for name, at in self._posted_at:
            value = values[at] if at is not None else None
            yield name, (value if isinstance(value, tuple) else (value,))

    async def _scan(self, workspace_id: str) -> AsyncIterator[dict[str, Any]]:
        async for record in self.source.records(self.kind, workspace_id).scan():
            yield self.kind.to_doc(record)

    async def _scan_all(self) -> AsyncIterator[tuple[str, dict[str, Any]]]:
        # Every workspace's records (the warm-up and rebuilds: one scan for all).
        async for record in self.source.records(self.kind, None).scan():
            doc = self.kind.to_doc(record)
            yield str(doc["workspace_id"]), doc

    async def _read(self, workspace_id: str, record_id: str) -> dict[str, Any] | None:
        found = await self.source.records(self.kind, workspace_id).get([record_id])
        return self.kind.to_doc(found[0]) if found else None

    async def _read_many(self, workspace_id: str, ids: list[str]) -> dict[str, dict[str, Any]]:
        found = await self.source.records(self.kind, workspace_id).get(ids)
        return {str(doc["_id"]): doc for doc in map(self.kind.to_doc, found)}

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
        if written.collection != self.kind.collection or written.workspace_id is None:
            return
        known = None
        if written.kind == "insert" and written.stored is not None and self.kind.versioned:
            # An import batch's record as inserted (`insert_batch`: the whole document, made
            # once for the database), installed at once without a lock, a task and a
            # ticket each (`ReadIndex.install`; ~10 % of the contacts service's CPU in a
            # companies import went to a refresh per company); a record a refresh is
            # working on takes its turn under the lock.
            known = {written.doc_id: dict(written.stored)}
            left = self.index.install(written.workspace_id, known)
            if left:
                await self.index.refresh(written.workspace_id, left, known=known)
            return
        if written.kind == "insert" and written.record is not None and self.kind.versioned:
            # What the insert wrote (an import batch's thousand records: a read by `_id`
            # each before). Taken now: the caller may change its object next.
            known = {written.doc_id: self.kind.to_doc(written.record)}
        await self.index.refresh(written.workspace_id, [written.doc_id], known=known)

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
                return rows.first(limit)
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
        return DocIndex._selected(entries, where, narrow).rows

    @staticmethod
    def _selected(entries: Entries[IndexedDoc], where: Filter, narrow: Narrow) -> _Selected:
        def compute() -> _Selected:
            text = _text_hits(entries, where)
            if text is None:
                candidates = entries.candidates(narrow)
                return _Selected(tuple(e for e in candidates if where.matches(e.get())))
            # The joined-text search is exact (the column is told of every change): only
            # the rest of the filter runs over what it found.
            rest, column, found, at = text
            sure = found
            allowed = entries.candidate_ids(narrow)
            if allowed is not None:
                sure = [e for e in sure if e.id in allowed]
            rows = tuple(_kept(rest, sure))
            if len(rows) != len(found):
                # The rows are a subsequence of the hits (every filter keeps the order):
                # their positions by identity, in C.
                chosen = set(map(id, rows))
                at = list(compress(at, map(chosen.__contains__, map(id, found))))
            return _Selected(rows, column, at)

        # Keyed by the filter's repr: equal filters can differ in type (`1 == True`).
        return entries.memo(repr(where), compute)

    def _ordered(
        self, entries: Entries[IndexedDoc], where: Filter, narrow: Narrow, order: Order
    ) -> Ranked[IndexedDoc]:
        """The entries `where` selects in `order`, kept until the entries change: between
        writes a page is a slice, not a sort of every match per request. A selection of
        many entries is put in order by a walk of the kept order of every entry
        (`crm_kit.order_column`), lazily (a first page walks only as far as its rows),
        instead of a sort of its own."""

        def compute() -> Ranked[IndexedDoc]:
            selected = self._selected(entries, where, narrow)
            matching = selected.rows
            if OrderColumn.worth_walking(len(matching), len(entries)):
                column = _order_column(entries, self.layout, order.field)
                if selected.column is not None:
                    # A search's hits: ordered by the rank held per text position.
                    return Ranked(
                        column.ordered_at(
                            matching,
                            selected.column,
                            selected.positions,
                            descending=order.descending,
                        )
                    )
                return Ranked(column.ordered(matching, descending=order.descending))
            return Ranked(select(matching, IndexedDoc.get, ALL, order))

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
        held = self.index.holds_records
        if held:
            docs = await self.index.records(workspace_id, ids)
        else:
            found = await self.source.records(self.kind, workspace_id).get(ids)
            docs = {str(doc["_id"]): doc for doc in map(self.kind.to_doc, found)}
        rows: list[E] = []
        behind: list[str] = []
        for entry in chosen:
            doc = docs.get(entry.id)
            # A held document is the one its entry was made from (`ReadIndex.records`):
            # never behind it, so not compared.
            if doc is None or (not held and self._entry_of_doc(doc) != entry):
                behind.append(entry.id)
            if doc is not None:
                rows.append(self.kind.from_doc(doc))
        return rows, behind


def _held(value: Any) -> Any:
    """A stored value as an entry holds it: arrays as tuples (hashable, comparable)."""
    return tuple(value) if isinstance(value, list) else value


def _interned(value: Any) -> Any:
    """`_held`, with strings (and arrays' strings) interned: one copy however many hold it."""
    if isinstance(value, str):
        return sys.intern(value)
    if isinstance(value, list):
        return tuple(sys.intern(v) if isinstance(v, str) else v for v in value)
    return value


def _strings(value: Any) -> Iterable[str]:
    """The strings a `Contains` looks in: the value, or any element of an array (a tuple
    at the top, lists inside)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, tuple | list):
        for element in value:
            yield from _strings(element)


def _order_keys(
    layout: Layout, field: str
) -> tuple[Callable[[IndexedDoc], tuple[int, Any]], Callable[[IndexedDoc], tuple[int, Any]]]:
    """An entry's key in an order by `field` and its tie-break by `_id`: the key
    `memory_db.select` sorts by (MongoDB's order of types), read by position (a sort of
    every entry)."""
    if field not in layout.positions:
        raise UnindexedField(f"the read index keeps no field {field!r}")
    at, id_at = layout.positions[field], layout.positions["_id"]

    def value_key(entry: IndexedDoc) -> tuple[int, Any]:
        value = entry.values[at]
        # Arrays are held as tuples; they sort as the lists they are stored as.
        return sort_key(list(value) if isinstance(value, tuple) else value)

    def id_key(entry: IndexedDoc) -> tuple[int, Any]:
        return sort_key(entry.values[id_at])

    return value_key, id_key


def _order_column(
    entries: Entries[IndexedDoc], layout: Layout, field: str
) -> OrderColumn[IndexedDoc]:
    return entries.order_column(("order", field), *_order_keys(layout, field))


def _text_column(
    entries: Entries[IndexedDoc], names: tuple[str, ...]
) -> TextColumn[IndexedDoc] | None:
    """The joined text of these fields over the entries (None when there is none: no
    entry, or a field not kept)."""
    sample = next(iter(entries.entries.values()), None)
    if sample is None or not all(name in sample.layout.positions for name in names):
        return None
    at = [sample.layout.positions[name] for name in names]

    def values(entry: IndexedDoc) -> Iterable[str]:
        for position in at:
            yield from _strings(entry.values[position])

    return entries.text_column(("text", names), values)


@dataclass(frozen=True)
class _Selected:
    """A selection's rows; for a text search also its text column and each row's
    position in it (aligned)."""

    rows: tuple[IndexedDoc, ...]
    column: TextColumn[IndexedDoc] | None = None
    positions: Sequence[int] = ()


def _text_hits(
    entries: Entries[IndexedDoc], where: Filter
) -> tuple[Filter, TextColumn[IndexedDoc], list[IndexedDoc], list[int]] | None:
    """For a `where` that requires a searchable text (a `Contains` among its parts): the
    rest of `where` (its other parts) and the entries the joined-text search finds (those
    that meet the text part, as held now). None when `where` requires no searchable
    text, or names a field the index does not keep."""
    parts = where.parts if isinstance(where, And) else (where,)
    text = next((p for p in parts if isinstance(p, Contains) and p.text), None)
    if text is None or not TextColumn.searchable(text.text):
        return None
    column = _text_column(entries, text.fields)
    if column is None:
        return None  # nothing to search, or a field not kept (the filter raises)
    # A hit lies inside one value (the separator is never searched) and `found` finds as
    # `Contains` does (the same substring, or the same case-insensitive pattern): exact.
    found, at = column.found_at(text.text, ignore_case=text.ignore_case)
    rest = And(*(p for p in parts if p is not text))
    return rest, column, found, at


def _kept(where: Filter, rows: list[IndexedDoc]) -> list[IndexedDoc]:
    """The rows `where` selects, the same as `where.matches(row.get())` row by row, with
    the parts a search's rest is made of (equality, membership, alternatives of those:
    `LIVE`, visibility) run over all the rows at once in C where their values allow: the
    rest runs over every hit of a search (5,000 to 30,000 contacts for a three-letter
    text)."""
    parts = where.parts if isinstance(where, And) else (where,)
    for part in parts:
        if not rows:
            break
        rows = _kept_by(part, rows)
    return rows


def _kept_by(part: Filter, rows: list[IndexedDoc]) -> list[IndexedDoc]:
    if isinstance(part, Or):
        # Each alternative over all the rows (in C where it allows: a rep's visibility,
        # `owner_id` in theirs or unset, over every hit of a search), then the rows any
        # kept, in their order.
        chosen: set[int] = set()
        for alternative in part.parts:
            chosen.update(map(id, _kept(alternative, rows)))
        return list(compress(rows, map(chosen.__contains__, map(id, rows))))
    at = rows[0].layout.positions.get(part.field) if isinstance(part, Eq | In) else None
    if at is not None and not (isinstance(part, Eq) and isinstance(part.value, list | tuple)):
        stored = list(map(itemgetter(at), map(_VALUES, rows)))
        if isinstance(part, Eq) and part.value is None and stored.count(None) == len(stored):
            # `LIVE` over a search's hits, none deleted (the usual case): no mask.
            return rows
        # An array (held as a tuple) matches by its elements: those rows go the slow way.
        if not any(issubclass(kind, tuple | list) for kind in set(map(type, stored))):
            if isinstance(part, Eq):
                return list(compress(rows, map(eq, stored, repeat(part.value))))
            assert isinstance(part, In)
            return list(compress(rows, map(contains, repeat(part.values), stored)))
    return [row for row in rows if part.matches(row.get())]


_VALUES = attrgetter("values")
