"""The live deals of one workspace in memory (`crm_kit.index_entries.Entries` of `Entry`:
entries by id, posting lists for equality filters) and the selections, totals and pages
the queries need."""

from __future__ import annotations

import heapq
from collections.abc import Hashable, Iterable
from typing import Any

from crm_kit.index_entries import Entries

from .index_entry import Entry
from .index_query import Predicate, Sort, compile_query, narrowing, ordered

Doc = dict[str, Any]


def _posted(entry: Entry) -> Iterable[tuple[str, Iterable[Hashable]]]:
    # As index_query.POSTED: the fields whose equality filters narrow the candidates.
    return (
        ("pipeline_id", (entry.pipeline_id,)),
        ("stage_key", (entry.stage_key,)),
        ("owner_id", (entry.owner_id,)),
        ("company_id", (entry.company_id,)),
        ("contact_ids", entry.contact_ids),
    )


class WorkspaceDeals(Entries[Entry]):
    def __init__(self) -> None:
        super().__init__(_posted)

    # --- reads ---------------------------------------------------------------------------

    def matching(self, query: Doc) -> list[Entry]:
        """The entries that can match `query`: the smallest posting union among its
        equality constraints (`index_query.narrowing`), or every entry."""
        return self.candidates(narrowing(query))

    def select(
        self, query: Doc, predicate: Predicate, sort: Sort, limit: int | None
    ) -> list[Entry]:
        return ordered((e for e in self.matching(query) if predicate(e)), sort, limit)

    def count(self, query: Doc, predicate: Predicate) -> int:
        return sum(1 for e in self.matching(query) if predicate(e))

    def board(
        self, pipeline_id: str, stage_keys: list[str], per_stage: int, where: Doc | None = None
    ) -> tuple[list[Doc], dict[str, list[Entry]]]:
        """As `store.mongo.board_from_docs`: totals per (stage, currency) over the
        pipeline's deals (those matching `where` too), and each listed stage's first
        `per_stage` (amount desc, _id desc)."""
        groups: dict[tuple[Any, Any], Doc] = {}
        by_stage: dict[str, list[Entry]] = {key: [] for key in stage_keys}
        query = {"pipeline_id": pipeline_id, **(where or {})}
        keep = compile_query(query) if where else None
        for entry in self.matching(query):
            if keep is not None and not keep(entry):
                continue
            row = groups.get((entry.stage_key, entry.currency))
            if row is None:
                row = groups[(entry.stage_key, entry.currency)] = {
                    "stage_key": entry.stage_key,
                    "currency": entry.currency,
                    "count": 0,
                    "amount_minor": 0,
                    "weighted_minor": 0,
                }
            row["count"] += 1
            row["amount_minor"] += entry.amount_minor or 0
            row["weighted_minor"] += entry.weighted_minor or 0
            column = by_stage.get(entry.stage_key)  # type: ignore[arg-type]
            if column is not None:
                column.append(entry)
        pages = {
            key: heapq.nlargest(per_stage, column, key=lambda e: (e.amount_minor or 0, e.id))
            for key, column in by_stage.items()
        }
        return list(groups.values()), pages
