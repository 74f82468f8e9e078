"""What task lists can be narrowed and ordered by: the specification the use cases take
and the store answers (`crm_tasks.store.filters` turns it into one filter for every
backend and for the read index)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class TaskFilter:
    ids: Sequence[str] | None = None
    assignee_id: str | None = None
    team_id: str | None = None
    statuses: Sequence[str] | None = None
    due_before: datetime | None = None
    due_after: datetime | None = None
    overdue: bool | None = None  # against the time of the query
    deal_ids: Sequence[str] | None = None
    contact_ids: Sequence[str] | None = None
    source_kind: str | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None
    # Record sharing (`crm_kit.sharing`): only tasks held (assigned to or created by)
    # one of these, or by nobody; None: every task. Set by the read use cases.
    visible_to: frozenset[str] | None = None


@dataclass(frozen=True)
class TaskOrder:
    """`field` is one of `task.ORDER_FIELDS`; ties go by id in the same direction."""

    field: str = "due_at"
    descending: bool = False


BY_DUE = TaskOrder()
