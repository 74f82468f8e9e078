"""The live deals of one workspace in memory: entries by id, posting lists for equality
filters, and the selections, totals and pages the queries need."""

from __future__ import annotations

import heapq
from typing import Any

from .index_entry import Entry
from .index_query import POSTED, Predicate, Sort, narrowing, ordered

Doc = dict[str, Any]


class WorkspaceDeals:
    def __init__(self) -> None:
        self.entries: dict[str, Entry] = {}
        self._postings: dict[str, dict[Any, set[str]]] = {name: {} for name in POSTED}

    def __len__(self) -> int:
        return len(self.entries)

    def put(self, entry: Entry) -> None:
        old = self.entries.get(entry.id)
        if old == entry:
            return
        if old is not None:
            self._unpost(old)
        self.entries[entry.id] = entry
        for name, values in self._posted(entry):
            postings = self._postings[name]
            for value in values:
                postings.setdefault(value, set()).add(entry.id)

    def drop(self, deal_id: str) -> None:
        old = self.entries.pop(deal_id, None)
        if old is not None:
            self._unpost(old)

    def _unpost(self, entry: Entry) -> None:
        for name, values in self._posted(entry):
            postings = self._postings[name]
            for value in values:
                ids = postings.get(value)
                if ids is not None:
                    ids.discard(entry.id)
                    if not ids:
                        del postings[value]

    @staticmethod
    def _posted(entry: Entry) -> list[tuple[str, tuple[Any, ...]]]:
        return [
            ("pipeline_id", (entry.pipeline_id,)),
            ("stage_key", (entry.stage_key,)),
            ("owner_id", (entry.owner_id,)),
            ("company_id", (entry.company_id,)),
            ("contact_ids", entry.contact_ids),
        ]

    # --- reads ---------------------------------------------------------------------------

    def candidates(self, query: Doc) -> list[Entry]:
        """The entries that can match `query`: the smallest posting union among its
        equality constraints, or every entry."""
        best: set[str] | None = None
        for name, values in narrowing(query):
            postings = self._postings[name]
            ids: set[str] = set()
            for value in values:
                ids |= postings.get(value, set())
            if best is None or len(ids) < len(best):
                best = ids
        if best is None:
            return list(self.entries.values())
        entries = self.entries
        return [entries[i] for i in best]

    def select(
        self, query: Doc, predicate: Predicate, sort: Sort, limit: int | None
    ) -> list[Entry]:
        return ordered((e for e in self.candidates(query) if predicate(e)), sort, limit)

    def count(self, query: Doc, predicate: Predicate) -> int:
        return sum(1 for e in self.candidates(query) if predicate(e))

    def board(
        self, pipeline_id: str, stage_keys: list[str], per_stage: int
    ) -> tuple[list[Doc], dict[str, list[Entry]]]:
        """As `store.mongo.board_from_docs`: totals per (stage, currency) over the
        pipeline's deals, and each listed stage's first `per_stage` (amount desc, _id desc)."""
        groups: dict[tuple[Any, Any], Doc] = {}
        by_stage: dict[str, list[Entry]] = {key: [] for key in stage_keys}
        for entry in self.candidates({"pipeline_id": pipeline_id}):
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
