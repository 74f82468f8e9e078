"""The tasks of one workspace in memory (`crm_kit.index_entries.Entries` of `TaskEntry`)
and the selections the queries need: a `TaskFilter` evaluated as `filtering.matches` does,
keyset pages ordered as `filtering.page_docs` orders them, counts and open counts."""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from datetime import datetime
from typing import Any

from crm_kit.index_entries import Entries

from .index_entry import TaskEntry
from .protocol import TaskFilter, TaskPageRequest

# Posted fields (value -> task ids): the equality filters that pick a few tasks among many
# (an assignee's, a team's, a contact's). Status is not posted: four values, each a large
# share of the tasks, so a posting would cost memory and narrow little.
POSTED = ("assignee_id", "team_id", "contact_id")


def _posted(entry: TaskEntry) -> Iterable[tuple[str, Iterable[Hashable]]]:
    return (
        ("assignee_id", (entry.assignee_id,)),
        ("team_id", (entry.team_id,)),
        ("contact_id", (entry.contact_id,)),
    )


def matches(e: TaskEntry, flt: TaskFilter, now: datetime) -> bool:
    """`filtering.matches` over an entry (same rules, field by field)."""
    return (
        (flt.ids is None or e.id in flt.ids)
        and (flt.assignee_id is None or e.assignee_id == flt.assignee_id)
        and (flt.team_id is None or e.team_id == flt.team_id)
        and (flt.statuses is None or e.status in flt.statuses)
        and (flt.deal_ids is None or e.deal_id in flt.deal_ids)
        and (flt.contact_ids is None or e.contact_id in flt.contact_ids)
        and (flt.source_kind is None or e.source_kind == flt.source_kind)
        and (flt.due_before is None or (e.due_at is not None and e.due_at < flt.due_before))
        and (flt.due_after is None or (e.due_at is not None and e.due_at >= flt.due_after))
        and (flt.overdue is None or e.is_overdue(now) == flt.overdue)
        and (
            flt.created_from is None
            or (e.created_at is not None and e.created_at >= flt.created_from)
        )
        and (flt.created_to is None or (e.created_at is not None and e.created_at < flt.created_to))
    )


def _key(value: Any, entry_id: str) -> tuple[Any, ...]:
    # Missing values sort first (as MongoDB sorts null), and never compare with a value.
    return (value is not None, value, entry_id)


class TaskEntries(Entries[TaskEntry]):
    def __init__(self) -> None:
        super().__init__(_posted)

    def _candidates(self, flt: TaskFilter) -> list[TaskEntry]:
        constraints: list[tuple[str, Sequence[Hashable]]] = []
        if flt.assignee_id is not None:
            constraints.append(("assignee_id", (flt.assignee_id,)))
        if flt.team_id is not None:
            constraints.append(("team_id", (flt.team_id,)))
        if flt.contact_ids is not None:
            constraints.append(("contact_id", tuple(flt.contact_ids)))
        return self.candidates(constraints)

    def rows(self, flt: TaskFilter, now: datetime) -> list[TaskEntry]:
        """Every matching entry, in no particular order."""
        return [e for e in self._candidates(flt) if matches(e, flt, now)]

    def count(self, flt: TaskFilter, now: datetime) -> int:
        return sum(1 for e in self._candidates(flt) if matches(e, flt, now))

    def select(
        self, flt: TaskFilter, now: datetime, page: TaskPageRequest | None
    ) -> list[TaskEntry]:
        """The matching entries of the page: ordered by (sort value, id), after the
        cursor, cut to the limit (as `filtering.page_docs`); all of them without a page."""
        found = self.rows(flt, now)
        if page is None:
            return found
        field = page.sort_field
        keyed = [(_key(e.sort_value(field), e.id), e) for e in found]
        if page.after is not None:
            cursor = _key(*page.after)
            if page.descending:
                keyed = [item for item in keyed if item[0] < cursor]
            else:
                keyed = [item for item in keyed if item[0] > cursor]
        keyed.sort(key=lambda item: item[0], reverse=page.descending)
        return [e for _, e in keyed[: page.limit]]

    def open_counts(self, member_ids: Sequence[str]) -> dict[str, int]:
        """Open and in-progress tasks per assignee among `member_ids` (fewest_open)."""
        counts: dict[str, int] = {}
        for member in dict.fromkeys(member_ids):
            n = sum(1 for i in self.posting("assignee_id", member) if self.entries[i].active)
            if n:
                counts[member] = n
        return counts
