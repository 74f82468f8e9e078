"""One workspace's tasks in the read index (`indexed.py`): a `TaskSummary` per task
(`crm_kit.index_entries.Entries`), posting lists by assignee, team and contact, and the
selections the lists need.

A selection evaluates the store's own filter and order (`filters.py`) over the summaries
with the kit's in-memory evaluation (`crm_kit.memory_db.select`, as the in-memory
database and MongoDB answer): the summaries' fields are read under the stored documents'
names, so there is nothing to keep in step with the database queries.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from datetime import datetime
from typing import Any

from crm_kit.filters import Get
from crm_kit.index_entries import Entries
from crm_kit.memory_db import select
from crm_kit.pagination import BY_ID, Cursor

from ..domain.queries import TaskFilter, TaskOrder
from ..domain.task import NO_DUE, TaskSummary
from .filters import order_of, tasks_matching

# The stored field -> the summary's attribute (`due_sort` is derived from `due_at`).
_ATTRIBUTE = {
    "_id": "id",
    "status": "status",
    "type": "type",
    "priority_rank": "priority_rank",
    "assignee_id": "assignee_id",
    "team_id": "team_id",
    "deal_id": "deal_id",
    "contact_id": "contact_id",
    "source.kind": "source_kind",
    "due_at": "due_at",
    "created_at": "created_at",
    "updated_at": "updated_at",
    "completed_at": "completed_at",
    "on_time": "on_time",
    "version": "version",
    "created_by": "created_by",
}


def stored_fields(summary: TaskSummary) -> Get:
    """The summary's fields by their stored names (a filter naming a field the summary
    lacks fails loudly: the index cannot serve it)."""

    def get(name: str) -> Any:
        if name == "due_sort":
            return summary.due_at or NO_DUE
        return getattr(summary, _ATTRIBUTE[name])

    return get


def _posted(summary: TaskSummary) -> Iterable[tuple[str, Iterable[Hashable]]]:
    # The equality filters that pick a few tasks among many. Status is not posted: four
    # values, each a large share of the tasks, so a posting would cost memory and narrow
    # little.
    return (
        ("assignee_id", (summary.assignee_id,)),
        ("team_id", (summary.team_id,)),
        ("contact_id", (summary.contact_id,)),
    )


class TaskEntries(Entries[TaskSummary]):
    def __init__(self) -> None:
        super().__init__(_posted)

    def _candidates(self, where: TaskFilter) -> list[TaskSummary]:
        constraints: list[tuple[str, Sequence[Hashable]]] = []
        if where.assignee_id is not None:
            constraints.append(("assignee_id", (where.assignee_id,)))
        if where.team_id is not None:
            constraints.append(("team_id", (where.team_id,)))
        if where.contact_ids is not None:
            constraints.append(("contact_id", tuple(where.contact_ids)))
        return self.candidates(constraints)

    def select(
        self,
        where: TaskFilter,
        now: datetime,
        order: TaskOrder | None = None,
        after: Cursor | None = None,
        limit: int | None = None,
    ) -> list[TaskSummary]:
        """The matching summaries in the order, after the cursor, cut to the limit (in no
        particular order without one: analytics and per-contact lists need no sort)."""
        query = tasks_matching(where, now)
        if order is None and after is None:
            found = [s for s in self._candidates(where) if query.matches(stored_fields(s))]
            return found[:limit]
        by = order_of(order) if order else BY_ID
        return select(self._candidates(where), stored_fields, query, by, after, limit)

    def count(self, where: TaskFilter, now: datetime) -> int:
        query = tasks_matching(where, now)
        return sum(1 for s in self._candidates(where) if query.matches(stored_fields(s)))

    def open_counts(self, member_ids: Sequence[str]) -> dict[str, int]:
        """OPEN and IN_PROGRESS tasks per assignee among `member_ids` (fewest_open)."""
        counts: dict[str, int] = {}
        for member in dict.fromkeys(member_ids):
            n = sum(1 for i in self.posting("assignee_id", member) if self.entries[i].active)
            if n:
                counts[member] = n
        return counts
