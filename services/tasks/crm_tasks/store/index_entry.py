"""One task as the read index keeps it (`index_data.py`): what the list filters, sorts,
totals, `myTasks`, open counts and analytics need, read with a projection (no title,
description, outbox...). Analytics read these entries directly (`task_rows`), so they
also carry `type`, `completed_at` and `on_time`.

Every value is the STORED one (`priority_rank` is derived at write time, see
`codec.derived_task_fields`), so the index answers what `filtering.matches` / `page_docs`
answer over the documents.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..domain.model import ACTIVE_STATUSES
from .protocol import NO_DUE

Doc = dict[str, Any]

# The projection of the index's scan and re-reads (`_id` comes anyway; `workspace_id` is
# what the by-`_id` read checks).
PROJECTION: dict[str, int] = {
    name: 1
    for name in (
        "workspace_id",
        "status",
        "type",
        "priority_rank",
        "assignee_id",
        "team_id",
        "deal_id",
        "contact_id",
        "source",
        "due_at",
        "created_at",
        "updated_at",
        "completed_at",
        "on_time",
        "version",
    )
}


@dataclass(slots=True, eq=True)
class TaskEntry:
    id: str
    status: str
    type: str | None
    priority_rank: int | None
    assignee_id: str | None
    team_id: str | None
    deal_id: str | None
    contact_id: str | None
    source_kind: str | None
    due_at: datetime | None
    created_at: datetime | None
    updated_at: datetime | None
    completed_at: datetime | None
    on_time: bool | None
    # Bumped by every update: a state returned by a write never replaces a newer one.
    version: int

    @property
    def active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    def is_overdue(self, now: datetime) -> bool:
        """As `Task.is_overdue`."""
        return self.active and self.due_at is not None and self.due_at < now

    def sort_value(self, field: str) -> Any:
        """The page's sort value, as `filtering.sort_value` reads it from a document
        (`due_at` sorts by the stored `due_sort`: the due time, undated last)."""
        if field == "due_at":
            return self.due_at or NO_DUE
        return getattr(self, field)


def _shared(value: Any) -> Any:
    # Statuses, types, assignees, teams, deals and contacts repeat across many tasks: one
    # string object each instead of one per task (a large part of an entry's size).
    return sys.intern(value) if type(value) is str else value


def entry_of(doc: Doc) -> TaskEntry:
    """The entry of a stored task document (full, or projected with PROJECTION)."""
    get = doc.get
    return TaskEntry(
        id=doc["_id"],
        status=_shared(get("status")),
        type=_shared(get("type")),
        priority_rank=get("priority_rank"),
        assignee_id=_shared(get("assignee_id")),
        team_id=_shared(get("team_id")),
        deal_id=_shared(get("deal_id")),
        contact_id=_shared(get("contact_id")),
        source_kind=_shared((get("source") or {}).get("kind")),
        due_at=get("due_at"),
        created_at=get("created_at"),
        updated_at=get("updated_at"),
        completed_at=get("completed_at"),
        on_time=get("on_time"),
        version=get("version") or 0,
    )


def older(incoming: TaskEntry, held: TaskEntry) -> bool:
    return incoming.version < held.version
