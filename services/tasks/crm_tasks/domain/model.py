"""Tasks, teams, automation rules and their runs as plain dataclasses.

Enumerated values are stored lowercase (as the events carry them); the GraphQL layer maps
them to its upper-case enums.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

TASK_TYPES = ("call", "email", "meeting", "todo", "follow_up")
PRIORITIES = ("low", "normal", "high", "urgent")
STATUSES = ("open", "in_progress", "done", "cancelled")
ACTIVE_STATUSES = ("open", "in_progress")
SOURCE_KINDS = ("manual", "playbook", "rule")
STRATEGIES = ("round_robin", "fewest_open")


def utcnow() -> datetime:
    """Now in UTC, at the millisecond precision MongoDB stores (so reads equal writes)."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def to_ms(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    value = value.astimezone(UTC)
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


@dataclass
class TaskSource:
    kind: str = "manual"  # manual | playbook | rule
    template_key: str | None = None
    rule_id: str | None = None
    stage_change_id: str | None = None


@dataclass
class Task:
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
    # Scheduler claims: each flips once, in the same write as the event it causes.
    reminder_sent: bool = False
    overdue_sent: bool = False
    # Bumped on every update; updates are conditional on it (optimistic concurrency).
    version: int = 0

    @property
    def active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    def is_overdue(self, now: datetime) -> bool:
        return self.active and self.due_at is not None and self.due_at < now


@dataclass
class Team:
    id: str
    workspace_id: str
    name: str
    member_ids: list[str]
    strategy: str = "round_robin"
    manager_id: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    # Where the next round-robin slot probably is (a hint: slots themselves are unique).
    rr_hint: int = 0


@dataclass
class Condition:
    path: str
    op: str  # eq | neq | in | gt | lt | exists
    value: Any = None


@dataclass
class AssigneeRule:
    rule: str = "owner"  # owner | team | user
    team_id: str | None = None
    user_id: str | None = None


@dataclass
class TaskTemplate:
    title: str
    type: str = "todo"
    priority: str = "normal"
    description: str | None = None
    due_offset_days: int = 0
    due_offset_hours: int = 0
    assignee: AssigneeRule = field(default_factory=AssigneeRule)
    key: str | None = None


@dataclass
class Action:
    type: str  # create_task | notify | escalate
    task: TaskTemplate | None = None
    # notify
    user_id: str | None = None
    team_id: str | None = None
    title: str | None = None
    body: str | None = None
    # escalate: reassign the event's task to the team's manager, or notify the manager
    escalate_mode: str | None = None  # reassign | notify


@dataclass
class Rule:
    id: str
    workspace_id: str
    name: str
    trigger: str
    conditions: list[Condition]
    actions: list[Action]
    enabled: bool = True
    created_at: datetime | None = None
    updated_at: datetime | None = None
    created_by: str | None = None


@dataclass
class RuleRun:
    id: str
    workspace_id: str
    rule_id: str
    event_id: str
    event_type: str
    outcome: str  # running | succeeded | failed | skipped
    at: datetime
    error: str | None = None
    task_ids: list[str] = field(default_factory=list)
    notification_ids: list[str] = field(default_factory=list)


@dataclass
class NewTask:
    """What a caller asks for; assignment and source are decided by the use case."""

    title: str
    type: str = "todo"
    priority: str = "normal"
    description: str | None = None
    due_at: datetime | None = None
    remind_at: datetime | None = None
    assignee_id: str | None = None
    team_id: str | None = None
    deal_id: str | None = None
    contact_id: str | None = None
    company_id: str | None = None


def on_time(completed_at: datetime, due_at: datetime | None) -> bool:
    return due_at is None or completed_at <= due_at


def as_utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def keyed_task_id(workspace_id: str, idem_key: str) -> str:
    """A task id derived from its natural key: a redelivered playbook or rule event maps to
    the same id, so the duplicate is refused by the primary key and found by it cheaply."""
    return hashlib.sha256(f"{workspace_id}\x00{idem_key}".encode()).hexdigest()[:24]
