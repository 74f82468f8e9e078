"""The live deals of one workspace in memory (`crm_kit.index_entries.Entries` of `Entry`:
entries by id, posting lists for equality filters) and the selections, totals and pages
the queries need. A selection evaluates the store's own filter (`filters.py`) over the
entries' fields, named as in the documents, so it answers what the database would."""

from __future__ import annotations

import heapq
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Hashable, Iterable, Sequence
from itertools import islice
from typing import Any

from crm_kit.filters import And, Eq, Filter, Get, In
from crm_kit.index_entries import Entries
from crm_kit.memory_db import sort_key
from crm_kit.pagination import Cursor, Order

from ..domain.queries import StageTotal
from .index_entry import ALWAYS_NULL, ARRAY_FIELDS, FIELDS, Entry

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
    fields: (field, the values one of which it must equal)."""
    found: list[tuple[str, list[Any]]] = []
    if isinstance(where, And):
        for part in where.parts:
            found.extend(narrowing(part))
    elif isinstance(where, Eq) and where.field in POSTED and isinstance(where.value, str):
        found.append((where.field, [where.value]))
    elif isinstance(where, In) and where.field in POSTED:
        found.append((where.field, [v for v in where.values if isinstance(v, str)]))
    return found


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


class WorkspaceDeals(Entries[Entry]):
    def __init__(self) -> None:
        super().__init__(_posted)

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
        groups: dict[tuple[Any, Any], StageTotal] = {}
        by_stage: dict[str, list[Entry]] = {key: [] for key in stage_keys}
        # The whole board unnarrowed is the pipeline's posting list, no filter to run.
        chosen = self.of_pipeline(pipeline_id) if narrowed is None else self.matching(narrowed)
        for entry in chosen:
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
