"""A piece of work for a person or a team, and the events its changes raise.

Enumerated values are stored lowercase (as the events carry them); the GraphQL layer maps
them to its upper-case enums.
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from crm_kit.entity import Entity

from .transitions import check_transition

TASK_TYPES = ("call", "email", "meeting", "todo", "follow_up")
PRIORITIES = ("low", "normal", "high", "urgent")
STATUSES = ("open", "in_progress", "done", "cancelled")
ACTIVE_STATUSES = ("open", "in_progress")
SOURCE_KINDS = ("manual", "playbook", "rule")
# The order of "by priority".
PRIORITY_RANK = {"low": 0, "normal": 1, "high": 2, "urgent": 3}
# The sort value of "by due date" for a task without one: after every real date, so keyset
# cursors never compare against null.
NO_DUE = datetime(9999, 12, 31, tzinfo=UTC)
# Orders a task list can take (attributes whose `sort_value` pages are keyed by).
ORDER_FIELDS = ("due_at", "created_at", "updated_at", "priority_rank")

# Attributes clients may change, with the names they know them by (`changedFields`).
FIELD_NAMES = {
    "title": "title",
    "description": "description",
    "type": "type",
    "priority": "priority",
    "due_at": "dueAt",
    "remind_at": "remindAt",
    "assignee_id": "assigneeId",
    "team_id": "teamId",
    "deal_id": "dealId",
    "contact_id": "contactId",
    "company_id": "companyId",
    "status": "status",
    "outcome": "outcome",
}


@dataclass
class TaskSource:
    kind: str = "manual"  # manual | playbook | rule | import
    template_key: str | None = None
    rule_id: str | None = None
    stage_change_id: str | None = None
    # The stage change's place in the deal's stage history: a close cancels the playbook
    # tasks of the changes before it, never those of a reopen after it.
    stage_sequence: int | None = None


@dataclass
class Task(Entity):
    id: str
    workspace_id: str
    title: str
    type: str
    created_at: datetime
    # Natural idempotency key, unique per workspace (scalar, so FerretDB enforces it):
    # `playbook:<stage change>:<template>`, `rule:<rule>:<event>:<action>`, `manual:<id>`.
    idem_key: str
    status: str = "open"
    priority: str = "normal"
    source: TaskSource = field(default_factory=TaskSource)
    description: str | None = None
    due_at: datetime | None = None
    remind_at: datetime | None = None
    assignee_id: str | None = None
    team_id: str | None = None
    deal_id: str | None = None
    contact_id: str | None = None
    company_id: str | None = None
    created_by: str | None = None
    updated_at: datetime | None = None
    completed_at: datetime | None = None
    completed_by: str | None = None
    outcome: str | None = None
    on_time: bool | None = None
    cancel_reason: str | None = None
    # Scheduler claims: each flips once, in the same pass as the event it causes
    # (`domain.reminders`); True from the start when there is no time to fire at.
    reminder_sent: bool = False
    overdue_sent: bool = False
    # Bumped by every save; a save is conditional on the version read.
    version: int = 0
    # The import job that created it (`crm_contracts.import_batches`: its undo cancels it).
    import_job: str | None = None

    @classmethod
    def create(cls, **values: Any) -> Task:
        """A new task (`values` validated by the caller); raises TaskCreated."""
        task = cls(**values)
        task.reminder_sent = task.reminder_sent or task.remind_at is None
        task.overdue_sent = task.overdue_sent or task.due_at is None
        task.raise_event(TaskCreated(task))
        return task

    @property
    def active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    def is_overdue(self, now: datetime) -> bool:
        return self.active and self.due_at is not None and self.due_at < now

    @property
    def due_sort(self) -> datetime:
        """The sort value of "by due date" (undated last)."""
        return self.due_at or NO_DUE

    @property
    def priority_rank(self) -> int:
        return PRIORITY_RANK.get(self.priority, 1)

    def sort_value(self, order_field: str) -> Any:
        """The value a page in `order_field` order is keyed by (its cursor holds it)."""
        if order_field == "due_at":
            return self.due_sort
        return getattr(self, order_field)

    def change(self, values: Mapping[str, Any], *, at: datetime) -> list[str]:
        """Apply validated `values` (attribute -> value); a new reminder or due time
        re-arms its notice. Returns the changed fields (client names, sorted), empty when
        nothing changed (then nothing is stamped or raised)."""
        wanted = dict(values)
        if "remind_at" in wanted:
            wanted["reminder_sent"] = wanted["remind_at"] is None
        if "due_at" in wanted:
            wanted["overdue_sent"] = wanted["due_at"] is None
        changed = [name for name, value in wanted.items() if getattr(self, name) != value]
        if not changed:
            return []
        for name in changed:
            setattr(self, name, wanted[name])
        self.updated_at = at
        named = sorted(FIELD_NAMES[name] for name in changed if name in FIELD_NAMES)
        self.raise_event(TaskUpdated(self, named))
        return named

    def move_to(
        self,
        status: str,
        *,
        at: datetime,
        by: str | None,
        outcome: str | None = None,
        reason: str | None = None,
    ) -> None:
        """Along the lifecycle (`transitions`; InvalidTransition otherwise): completing
        records who, when, the outcome and whether it was on time; cancelling, why."""
        check_transition(self.status, status)
        self.status, self.updated_at = status, at
        if status == "done":
            self.completed_at, self.completed_by, self.outcome = at, by, outcome
            self.on_time = on_time(at, self.due_at)
            self.raise_event(TaskCompleted(self))
        elif status == "cancelled":
            self.cancel_reason = reason
            self.raise_event(TaskCancelled(self))
        else:
            self.raise_event(TaskUpdated(self, ["status"]))

    def summary(self) -> TaskSummary:
        """What lists, counts and analytics need of the task."""
        return TaskSummary(
            id=self.id,
            status=_shared(self.status),
            type=_shared(self.type),
            priority_rank=self.priority_rank,
            assignee_id=_shared(self.assignee_id),
            team_id=_shared(self.team_id),
            deal_id=_shared(self.deal_id),
            contact_id=_shared(self.contact_id),
            source_kind=_shared(self.source.kind),
            due_at=self.due_at,
            created_at=self.created_at,
            updated_at=self.updated_at,
            completed_at=self.completed_at,
            on_time=self.on_time,
            version=self.version,
            created_by=_shared(self.created_by),
        )


@dataclass(slots=True, eq=True)
class TaskSummary:
    """A task without its text: what lists select, sort and count by, and what analytics
    group (a per-process read index keeps one per task, so it stays small)."""

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
    # The task's version: a summary never replaces one of a later version.
    version: int
    # With the assignee, who holds the task (record sharing, `crm_kit.sharing`).
    created_by: str | None = None

    @property
    def active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    def is_overdue(self, now: datetime) -> bool:
        return self.active and self.due_at is not None and self.due_at < now


def _shared(value: Any) -> Any:
    # Statuses, types, assignees, teams, deals and contacts repeat across many tasks: one
    # string object each instead of one per summary (a large part of a summary's size).
    return sys.intern(value) if type(value) is str else value


def on_time(completed_at: datetime, due_at: datetime | None) -> bool:
    return due_at is None or completed_at <= due_at


def keyed_id(workspace_id: str, key: str) -> str:
    """An id derived from a natural key: a redelivered playbook or rule event maps to the
    same id, so the duplicate is refused by the primary key and found by it cheaply."""
    return hashlib.sha256(f"{workspace_id}\x00{key}".encode()).hexdigest()[:24]


@dataclass(frozen=True)
class TaskCreated:
    task: Task


@dataclass(frozen=True)
class TaskUpdated:
    task: Task
    changed: list[str]


@dataclass(frozen=True)
class TaskCompleted:
    task: Task


@dataclass(frozen=True)
class TaskCancelled:
    task: Task
