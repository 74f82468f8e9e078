"""The store port. A `WorkspaceStore` is bound to one workspace and scopes every read and
write to it; only the scheduler's claims (`TasksStore.claim_*`) span workspaces, because
reminders fire for every workspace."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from crm_contracts.envelope import CloudEvent

from ..domain.model import Rule, RuleRun, Task, Team

if TYPE_CHECKING:
    from .index_entry import TaskEntry

# Sort key for tasks without a due date: after every real date, so keyset cursors never
# compare against null.
NO_DUE = datetime(9999, 12, 31, tzinfo=UTC)

SORT_FIELDS = ("due_at", "created_at", "updated_at", "priority_rank")

# Collections whose documents carry outbox events: after writing one, the use case names
# it to `notify_outbox(collection, doc_id)` so the relay publishes that document by `_id`.
TASKS = "tasks"
FIRES = "scheduled_fires"
RUN_RESULTS = "rule_run_results"
# One small document per deal listing its task ids (`deal_list_id`); a playbook's
# task.created events ride in it (see `insert_deal_tasks`).
DEAL_TASKS = "deal_tasks"
OUTBOX_COLLECTIONS = (TASKS, FIRES, RUN_RESULTS, DEAL_TASKS)


def deal_list_id(workspace_id: str, deal_id: str) -> str:
    return f"{workspace_id}:{deal_id}"


# Which time each scheduler flag fires at.
FLAG_TIME = {"reminder_sent": "remind_at", "overdue_sent": "due_at"}


class DuplicateKey(Exception):
    """A unique key already exists; `existing_id` names the record holding it."""

    def __init__(self, what: str, existing_id: str | None = None) -> None:
        super().__init__(f"duplicate {what}")
        self.what = what
        self.existing_id = existing_id


@dataclass
class TaskFilter:
    ids: Sequence[str] | None = None
    assignee_id: str | None = None
    team_id: str | None = None
    statuses: Sequence[str] | None = None
    due_before: datetime | None = None
    due_after: datetime | None = None
    overdue: bool | None = None  # evaluated against `now` at query time
    deal_ids: Sequence[str] | None = None
    contact_ids: Sequence[str] | None = None
    source_kind: str | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None


@dataclass
class TaskPageRequest:
    sort_field: str = "due_at"
    descending: bool = False
    after: tuple[Any, str] | None = None
    limit: int = 20


@dataclass
class DealOutcome:
    deal_id: str
    outcome: str  # won | lost
    closed_at: datetime
    extra: dict[str, Any] = field(default_factory=dict)


EventsFor = Callable[[Task], list[CloudEvent]]


def fire_id(flag: str, task: Task) -> str:
    """Id of the `scheduled_fires` document that fires `flag` (reminder_sent /
    overdue_sent) of `task` at its current time: unique, so only one replica fires it."""
    at: datetime = getattr(task, FLAG_TIME[flag])
    return f"{flag}:{task.id}:{at.isoformat()}"


class WorkspaceStore(Protocol):
    workspace_id: str

    # tasks
    async def insert_task(self, task: Task, events: list[CloudEvent]) -> None:
        """Raises DuplicateKey when its id or natural key exists."""
        ...

    async def insert_tasks(self, items: Sequence[tuple[Task, list[CloudEvent]]]) -> set[str]:
        """Insert several tasks at once; returns the ids of those that existed already (by
        id or natural key), which are left as they are."""
        ...

    async def insert_deal_tasks(
        self, deal_id: str, tasks: Sequence[Task], events: list[CloudEvent]
    ) -> set[str]:
        """Tasks of one deal (a playbook's), their `events` stored in the deal's task list
        document (`DEAL_TASKS`, `deal_list_id`) by the write that lists the tasks, after
        the tasks: one outbox document per playbook instead of one per task. Returns the
        ids that existed already; the events are stored in any case (the caller's event
        ids are deterministic, so a repeat is a duplicate JetStream drops)."""
        ...

    async def get_task(self, task_id: str) -> Task | None: ...
    async def get_task_by_idem(self, idem_key: str) -> Task | None: ...
    async def update_task(
        self,
        task_id: str,
        changes: dict[str, Any],
        events_for: EventsFor,
        *,
        expect: dict[str, Any] | None = None,
    ) -> Task | None: ...
    async def find_tasks(
        self, flt: TaskFilter, now: datetime, page: TaskPageRequest | None = None
    ) -> list[Task]: ...
    async def count_tasks(self, flt: TaskFilter, now: datetime) -> int: ...
    async def open_counts(self, member_ids: Sequence[str]) -> dict[str, int]: ...
    async def task_rows(self, flt: TaskFilter, now: datetime) -> Sequence[TaskEntry]:
        """The matching tasks' index entries (what analytics groups), without reading the
        documents: projected on the database, from memory through the read index."""
        ...

    # the read index's own reads (store/indexed.py)
    def index_docs(self) -> AsyncIterator[dict[str, Any]]:
        """Every task of the workspace, projected with `index_entry.PROJECTION`."""
        ...

    async def index_doc(self, task_id: str) -> dict[str, Any] | None: ...

    # teams
    async def insert_team(self, team: Team) -> None: ...
    async def get_teams(self, ids: Sequence[str]) -> list[Team]: ...
    async def get_team_by_name(self, name: str) -> Team | None: ...
    async def list_teams(self) -> list[Team]: ...
    async def update_team(self, team_id: str, changes: dict[str, Any]) -> Team | None: ...
    async def reserve_round_robin(self, team: Team, key: str | None) -> int:
        """The team's next round-robin position (1, 2, ...); with a `key`, the position
        that key holds if it took one already."""
        ...

    # automation rules and their runs
    async def insert_rule(self, rule: Rule) -> None: ...
    async def get_rule(self, rule_id: str) -> Rule | None: ...
    async def list_rules(
        self, trigger: str | None = None, enabled: bool | None = None
    ) -> list[Rule]: ...
    async def update_rule(self, rule_id: str, changes: dict[str, Any]) -> Rule | None: ...
    async def delete_rule(self, rule_id: str) -> bool: ...
    async def start_run(self, run: RuleRun) -> RuleRun | None: ...
    async def finish_run(self, run: RuleRun, events: list[CloudEvent]) -> bool: ...
    async def list_runs(self, rule_id: str, after: str | None, limit: int) -> list[RuleRun]: ...

    # deal outcomes (from won/lost events), for playbook effectiveness
    async def record_deal_outcome(self, outcome: DealOutcome) -> None: ...
    async def delete_deal_outcome(self, deal_id: str) -> None: ...
    async def deal_outcomes(
        self, closed_from: datetime, closed_to: datetime
    ) -> list[DealOutcome]: ...


class TasksStore(Protocol):
    async def ensure_indexes(self) -> None: ...
    def for_workspace(self, workspace_id: str) -> WorkspaceStore: ...
    async def claim_due(
        self, now: datetime, limit: int, reminder_events: EventsFor, overdue_events: EventsFor
    ) -> tuple[list[Task], list[Task]]: ...
    async def claim_reminders(
        self, now: datetime, limit: int, events_for: EventsFor
    ) -> list[Task]: ...
    async def claim_overdue(
        self, now: datetime, limit: int, events_for: EventsFor
    ) -> list[Task]: ...
