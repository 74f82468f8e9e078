"""The live deals of one workspace in memory (`crm_kit.index_entries.Entries` of `Entry`:
entries by id, posting lists for equality filters) and the selections, totals and pages
the queries need. A selection evaluates the store's own filter (`filters.py`) over the
entries' fields, named as in the documents, so it answers what the database would."""

from __future__ import annotations

import heapq
from bisect import bisect_left, bisect_right, insort
from collections.abc import Callable, Hashable, Iterable, Sequence
from itertools import islice
from typing import Any, TypeVar

from crm_kit.filters import And, Eq, Filter, Get, In, Or
from crm_kit.index_entries import MEMO_LIMIT, Entries
from crm_kit.memory_db import sort_key
from crm_kit.pagination import Cursor, Order

from ..domain.queries import StageTotal
from .index_entry import ALWAYS_NULL, ARRAY_FIELDS, FIELDS, Entry

R = TypeVar("R")
# Who holds a deal (`owner_id`; None: nobody, and every caller sees it).
Owner = str | None

# Fields with a posting list (value -> deal ids): an equality filter on one of them
# narrows the candidates before the filter runs (a company's deals, a board column).
POSTED = ("pipeline_id", "stage_key", "owner_id", "company_id", "contact_ids")


class Unsupported(Exception):
    """The filter or order names a field the index does not hold."""


def _posted(entry: Entry) -> Iterable[tuple[str, Iterable[Hashable]]]:
    return (
        ("pipeline_id", (entry.pipeline_id,)),
        ("stage_key", (entry.stage_key,)),
        ("owner_id", (entry.owner_id,)),
        ("company_id", (entry.company_id,)),
        ("contact_ids", entry.contact_ids),
    )


def field_of(entry: Entry) -> Get:
    """An entry's fields by their document names (arrays as lists, as stored)."""

    def get(name: str) -> Any:
        attribute = FIELDS.get(name)
        if attribute is None:
            if name in ALWAYS_NULL:
                return None
            raise Unsupported(name)
        value = getattr(entry, attribute)
        return list(value) if name in ARRAY_FIELDS else value

    return get


def narrowing(where: Filter) -> list[tuple[str, list[Any]]]:
    """Equality conditions every match meets (at the top level or inside `And`), on posted
    fields: (field, the values one of which it must equal). An `Or` whose every branch
    narrows the same one field narrows it to their values together: a caller's visibility
    (`In(owner_id, holders) | Eq(owner_id, None)`) selects the holders' postings and the
    unowned deals', not every deal of the pipeline. (None is posted like any value, and
    equals only None.)"""
    found: list[tuple[str, list[Any]]] = []
    if isinstance(where, And):
        for part in where.parts:
            found.extend(narrowing(part))
    elif isinstance(where, Eq) and where.field in POSTED and _postable(where.value):
        found.append((where.field, [where.value]))
    elif isinstance(where, In) and where.field in POSTED:
        found.append((where.field, [v for v in where.values if _postable(v)]))
    elif isinstance(where, Or) and where.parts:
        branches = [narrowing(part) for part in where.parts]
        if all(len(b) == 1 for b in branches) and len({b[0][0] for b in branches}) == 1:
            found.append((branches[0][0][0], [v for b in branches for v in b[0][1]]))
    return found


def _postable(value: Any) -> bool:
    return value is None or isinstance(value, str)


def sorter(order: Order) -> Callable[[Entry], tuple[Any, Any]]:
    """MongoDB's order of (field, _id), as the records' backends sort."""
    if order.field != "_id" and order.field not in FIELDS:
        raise Unsupported(order.field)

    def key(entry: Entry) -> tuple[Any, Any]:
        return (sort_key(field_of(entry)(order.field)), sort_key(entry.id))

    return key


def _key_of(order: Order, cursor: Cursor) -> tuple[Any, Any]:
    """The cursor's place in `sorter(order)`'s order."""
    value, doc_id = cursor
    return (sort_key(doc_id if order.field == "_id" else value), sort_key(doc_id))


# A deal's place in its column: amount, then id (the board's order, both descending).
Ranked = tuple[int, str]


def _rank_of(entry: Entry) -> Ranked:
    return (entry.amount_minor or 0, entry.id)


class BoardState:
    """The unnarrowed board of every pipeline, kept as entries change: totals per (stage,
    currency) and each column's deals in order. Made once from the entries when a board
    is first asked for (a sort), then updated per change (a bisect), so a board between
    writes and after one costs its pages, not a pass over every deal of the pipeline."""

    def __init__(self, entries: Iterable[Entry]) -> None:
        self.totals: dict[str, dict[tuple[Any, Any], list[int]]] = {}
        self.columns: dict[tuple[str, str], list[Ranked]] = {}
        for entry in entries:
            self._count(entry, 1)
            self.columns.setdefault(self._column(entry), []).append(_rank_of(entry))
        for column in self.columns.values():
            column.sort()

    @staticmethod
    def _column(entry: Entry) -> tuple[str, str]:
        return (entry.pipeline_id or "", entry.stage_key or "")

    def _count(self, entry: Entry, sign: int) -> None:
        groups = self.totals.setdefault(entry.pipeline_id or "", {})
        row = groups.setdefault((entry.stage_key, entry.currency), [0, 0, 0])
        row[0] += sign
        row[1] += sign * (entry.amount_minor or 0)
        row[2] += sign * (entry.weighted_minor or 0)
        if not row[0]:
            del groups[(entry.stage_key, entry.currency)]

    def add(self, entry: Entry) -> None:
        self._count(entry, 1)
        insort(self.columns.setdefault(self._column(entry), []), _rank_of(entry))

    def remove(self, entry: Entry) -> None:
        self._count(entry, -1)
        column = self.columns.get(self._column(entry), [])
        at = bisect_left(column, _rank_of(entry))
        if at < len(column) and column[at] == _rank_of(entry):
            del column[at]

    def stage_totals(self, pipeline_id: str) -> list[StageTotal]:
        return [
            StageTotal(stage or "", currency or "", count, amount, weighted)
            for (stage, currency), (count, amount, weighted) in self.totals.get(
                pipeline_id, {}
            ).items()
        ]

    def first(self, pipeline_id: str, stage_key: str, n: int) -> list[str]:
        """The ids of the column's first `n` deals (largest amount, then largest id)."""
        column = self.columns.get((pipeline_id, stage_key), [])
        return [doc_id for _, doc_id in reversed(column[max(0, len(column) - n) :])]


class WorkspaceDeals(Entries[Entry]):
    def __init__(self) -> None:
        super().__init__(_posted)
        self._board: BoardState | None = None
        # Reports' parts by the deals' owner (`report`): a change empties its owner's
        # (the old and the new one's, when it changes hands).
        self._parts: dict[Owner, dict[Hashable, Any]] = {}

    def put(self, entry: Entry) -> None:
        old = self.entries.get(entry.id)
        if old == entry:
            return
        super().put(entry)
        self._parts.pop(entry.owner_id, None)
        if old is not None:
            self._parts.pop(old.owner_id, None)
        if self._board is not None:
            if old is not None:
                self._board.remove(old)
            self._board.add(entry)

    def drop(self, entry_id: str) -> None:
        old = self.entries.get(entry_id)
        super().drop(entry_id)
        if old is not None:
            self._parts.pop(old.owner_id, None)
        if self._board is not None and old is not None:
            self._board.remove(old)

    def owners(self, holders: frozenset[str] | None) -> list[Owner]:
        """The owners of held deals a caller who sees those of `holders` (None: every
        deal) sees: nobody's first, then by name."""
        held = self._postings.get("owner_id", {})
        wanted: Iterable[Any] = held if holders is None else (None, *holders)
        found = [owner for owner in wanted if owner in held]
        return sorted(found, key=lambda owner: (owner is not None, owner or ""))

    def report(
        self,
        pipeline_id: str,
        holders: frozenset[str] | None,
        key: Hashable,
        compute: Callable[[Sequence[Entry]], R],
        merge: Callable[[Sequence[R]], R] | None = None,
    ) -> R:
        """`compute` over the pipeline's entries that a caller seeing the deals of
        `holders` sees (as `crm_kit.sharing.Visibility`: those a holder owns and those
        nobody owns; None: every deal), kept until an entry changes. With `merge` (the
        report of several disjoint sets of deals from theirs: `domain.report_parts`) it is
        kept per owner as well, and the parts are shared by every caller who sees that
        owner's deals: after a change only its owner's part is computed again (a rep's
        deals, ~1/30 of the demo's), and a rep's dashboard merges the parts of the owners
        they see instead of passing every deal of the pipeline through their visibility.
        (Parts by a hash of the ids, before: under the load's mix every dashboard found
        all of them emptied by the writes since its caller's last one, and a rep's
        filtered all 8,800 deals.)"""
        memo_key = ("report", pipeline_id, holders, key)

        def of_owner(owner: Owner) -> list[Entry]:
            entries = self.entries
            found = (entries[deal_id] for deal_id in self.posting("owner_id", owner))
            return [e for e in found if e.pipeline_id == pipeline_id]

        if merge is None:
            return self.memo(
                memo_key,
                lambda: compute([e for o in self.owners(holders) for e in of_owner(o)]),
            )
        parts_merge = merge
        part_key = ("report", pipeline_id, key)

        def merged() -> R:
            parts: list[R] = []
            for owner in self.owners(holders):
                kept = self._parts.setdefault(owner, {})
                if part_key not in kept:
                    if len(kept) >= MEMO_LIMIT:
                        del kept[next(iter(kept))]
                    kept[part_key] = compute(of_owner(owner))
                parts.append(kept[part_key])
            return parts_merge(parts or [compute([])])

        return self.memo(memo_key, merged)

    def matching(self, where: Filter) -> Sequence[Entry]:
        """The entries `where` selects (kept until the entries change: do not modify).
        Raises Unsupported for a field not held."""

        def compute() -> tuple[Entry, ...]:
            candidates = self.candidates(narrowing(where))
            return tuple(e for e in candidates if where.matches(field_of(e)))

        # Keyed by the filter's repr: equal filters can differ in type (`1 == True`).
        return self.memo(repr(where), compute)

    def select(
        self, where: Filter, order: Order, after: Cursor | None, limit: int | None
    ) -> list[Entry]:
        """The entries `where` selects after the cursor in `order`, cut to `limit`. The
        sorted matches are kept until the entries change, so a page between writes is a
        binary search and a slice; the cursor's own filter still decides each row (a null
        or another type is never after a cursor, as on MongoDB)."""
        key = sorter(order)

        def ordered() -> tuple[Entry, ...]:
            return tuple(sorted(self.matching(where), key=key))

        rows = self.memo(("ordered", repr(where), order.field), ordered)
        beyond = order.after(after)
        if order.descending:
            end = len(rows) if after is None else bisect_left(rows, _key_of(order, after), key=key)
            walk: Iterable[Entry] = (rows[i] for i in range(end - 1, -1, -1))
        else:
            start = 0 if after is None else bisect_right(rows, _key_of(order, after), key=key)
            walk = islice(rows, start, None)
        chosen: list[Entry] = []
        for entry in walk:
            if beyond is None or beyond.matches(field_of(entry)):
                chosen.append(entry)
                if limit is not None and len(chosen) >= limit:
                    break
        return chosen

    def count(self, where: Filter) -> int:
        return len(self.matching(where))

    def of_pipeline(self, pipeline_id: str) -> list[Entry]:
        return self.candidates([("pipeline_id", [pipeline_id])])

    def board(
        self,
        pipeline_id: str,
        stage_keys: Sequence[str],
        per_stage: int,
        narrowed: Filter | None = None,
    ) -> tuple[list[StageTotal], dict[str, list[Entry]]]:
        """Totals per (stage, currency) over the pipeline's deals (those `narrowed`
        selects, when given: it names the pipeline too), and each listed stage's first
        `per_stage` entries (amount desc, _id desc). Raises Unsupported for a field not
        held."""
        if narrowed is None:
            # The whole board unnarrowed: kept as the entries change (`BoardState`).
            if self._board is None:
                self._board = BoardState(self.entries.values())
            board = self._board
            pages = {
                key: [self.entries[i] for i in board.first(pipeline_id, key, per_stage)]
                for key in stage_keys
            }
            return board.stage_totals(pipeline_id), pages
        groups: dict[tuple[Any, Any], StageTotal] = {}
        by_stage: dict[str, list[Entry]] = {key: [] for key in stage_keys}
        for entry in self.matching(narrowed):
            group = (entry.stage_key, entry.currency)
            row = groups.get(group)
            if row is None:
                row = groups[group] = StageTotal(entry.stage_key or "", entry.currency or "")
            row.count += 1
            row.amount_minor += entry.amount_minor or 0
            row.weighted_minor += entry.weighted_minor or 0
            column = by_stage.get(entry.stage_key or "")
            if column is not None:
                column.append(entry)
        pages = {
            key: heapq.nlargest(per_stage, column, key=lambda e: (e.amount_minor or 0, e.id))
            for key, column in by_stage.items()
        }
        return list(groups.values()), pages
