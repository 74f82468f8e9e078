"""The store port: what the use cases ask of storage, in domain objects. A
`WorkspaceStore` serves one workspace and scopes every read and write to it; only the
scheduler's `fire_due` spans workspaces, because reminders fire for every workspace.

Read-modify-write goes through `change_*`: the store reads the record and calls the use
case's function, which changes it (raising errors as needed) and returns whether to
write. The store keeps this process's changes of one record from interleaving and makes
the write conditional on what was read; a change that keeps losing to other replicas
raises `ChangedMeanwhile`. The function may run again on a fresh read, so it must depend
only on what it is given and on reads it makes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, TypeVar

from crm_kit.audit_read import AuditTrail
from crm_kit.context import RequestContext
from crm_kit.pagination import Cursor, Page
from crm_kit.records import Stale as ChangedMeanwhile

from ..domain.access import WorkspaceAccess
from ..domain.outcome import DealOutcome
from ..domain.queries import TaskFilter, TaskOrder
from ..domain.reminders import Firing
from ..domain.rule import Rule, RuleRun, RunResult
from ..domain.task import Task, TaskSummary
from ..domain.team import Team

T = TypeVar("T")
Change = Callable[[T], Awaitable[bool]]

__all__ = ["Change", "ChangedMeanwhile", "NameTaken", "TasksStore", "WorkspaceStore"]


class DealMoveRefused(Exception):
    """The deals service refused a stage move for good (unmet exit criteria, an unknown deal
    or stage, a role it does not accept): asking again changes nothing."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class DealsUnavailable(Exception):
    """The deals service did not answer, or failed: the move may succeed if asked again."""


@dataclass(frozen=True)
class SeenStage:
    """Where a mover saw a deal: its stage and how many stage changes it had had then."""

    stage_key: str
    sequence: int | None


class DealMoves(Protocol):
    """Stage moves asked of the deals service (it owns deals; this service never writes
    them): `caller` is the identity the move is made as (an automation rule's)."""

    async def where(self, caller: RequestContext, deal_id: str) -> SeenStage:
        """The deal's stage now; DealMoveRefused (NOT_FOUND, ...) or DealsUnavailable."""

    async def move(
        self, caller: RequestContext, deal_id: str, stage_key: str, seen: SeenStage
    ) -> None:
        """Move the deal if it is still where `seen` says (else DealMoveRefused with
        STAGE_CHANGED); DealMoveRefused for a refusal, DealsUnavailable when it may be
        retried."""


class NameTaken(Exception):
    """Another team of the workspace has this name."""

    def __init__(self, existing_id: str | None) -> None:
        super().__init__(f"name already used by {existing_id}")
        self.existing_id = existing_id


@dataclass(frozen=True)
class NamedReferences:
    """What the other services know of what an import batch names, as asked -> id."""

    deals: dict[str, str] = field(default_factory=dict)  # by external id
    contacts: dict[str, str] = field(default_factory=dict)  # by email
    companies: dict[str, str] = field(default_factory=dict)  # by name


class DirectoryUnavailable(Exception):
    """Deals or contacts did not answer (the batch may be sent again)."""


class Directory(Protocol):
    """What the tasks service asks deals and contacts (NATS request/reply)."""

    async def references(
        self,
        caller: RequestContext,
        deal_external_ids: Sequence[str],
        emails: Sequence[str],
        company_names: Sequence[str],
    ) -> NamedReferences:
        """Raises DirectoryUnavailable."""


class WorkspaceStore(Protocol):
    @property
    def workspace_id(self) -> str: ...

    # The workspace's audit log (crm_kit.audit): the changes to its records.
    audit_trail: AuditTrail

    # tasks
    async def add_tasks(self, tasks: Sequence[Task]) -> list[Task]:
        """Store new tasks together (a few write statements whatever their number), each
        with its events; returns those refused because their id or natural key exists
        (left as stored)."""

    async def add_playbook_tasks(self, by_deal: Mapping[str, Sequence[Task]]) -> list[Task]:
        """`add_tasks` for the tasks of deals created together (the playbooks of one or
        several stage changes), by deal: the tasks of all in one statement, and each
        deal's events may travel in one document for all of that deal's. A refused task's
        creation event is written again: its id derives from the task's, so the stream
        drops it."""

    async def import_tasks(self, tasks: Sequence[Task], batch_id: str) -> list[Task]:
        """`add_tasks` for an import batch: the tasks' events and audit entries ride in one
        outbox document named `batch_id` (the same when the batch is sent again), not one
        relay pass per task."""

    async def get_tasks(self, ids: Sequence[str]) -> list[Task]: ...
    async def task_by_key(self, idem_key: str) -> Task | None: ...
    async def tasks_by_keys(self, idem_keys: Sequence[str]) -> list[Task]: ...
    async def imported_task_ids(self, job_id: str) -> list[str]:
        """Ids of the tasks import job `job_id` created."""

    async def change_task(self, task_id: str, change: Change[Task]) -> Task | None:
        """None when there is no such task."""

    async def find_tasks(
        self,
        where: TaskFilter,
        now: datetime,
        order: TaskOrder | None = None,
        limit: int | None = None,
    ) -> list[Task]:
        """Unordered without an `order`. `now` is the time `overdue` is judged at."""

    async def list_tasks(
        self, where: TaskFilter, now: datetime, order: TaskOrder, after: Cursor | None, first: int
    ) -> Page[Task]:
        """A keyset page: cursors hold (`Task.sort_value(order.field)`, id)."""

    async def count_tasks(self, where: TaskFilter, now: datetime) -> int: ...
    async def task_summaries(self, where: TaskFilter, now: datetime) -> list[TaskSummary]: ...
    async def open_counts(self, member_ids: Sequence[str]) -> dict[str, int]:
        """OPEN and IN_PROGRESS tasks per assignee among `member_ids` (none: absent)."""

    # teams
    async def add_team(self, team: Team) -> None:
        """Raises NameTaken."""

    async def get_teams(self, ids: Sequence[str]) -> list[Team]: ...
    async def team_by_name(self, name: str) -> Team | None: ...
    async def list_teams(self) -> list[Team]:
        """By name."""

    async def change_team(self, team_id: str, change: Change[Team]) -> Team | None:
        """None when there is no such team. Raises NameTaken."""

    async def take_turn(self, team: Team, key: str | None) -> int:
        """The team's next round-robin position (1, 2, ...), fair across replicas; with a
        natural `key`, the position that key holds if it took one already."""

    # sharing settings (one record per workspace)
    async def get_access(self) -> WorkspaceAccess:
        """The defaults (everyone sees everything) until first changed."""

    async def change_access(self, change: Change[WorkspaceAccess]) -> WorkspaceAccess: ...

    # automation rules and their runs
    async def add_rule(self, rule: Rule) -> None: ...
    async def get_rule(self, rule_id: str) -> Rule | None: ...
    async def list_rules(
        self, trigger: str | None = None, enabled: bool | None = None
    ) -> list[Rule]: ...
    async def change_rule(self, rule_id: str, change: Change[Rule]) -> Rule | None: ...
    async def delete_rule(self, rule_id: str) -> bool: ...
    async def start_run(self, run: RuleRun) -> RuleRun | None:
        """Record a run before its actions; None when it is new, else the run recorded
        for the same rule and event (finished, or interrupted: `running`)."""

    async def finish_run(self, run: RuleRun, result: RunResult) -> bool:
        """Settle the run once: the result (with its notifications) is stored under the
        run's id, so of two finishers only one sends; returns whether this one did. The
        run record takes the outcome unless another finisher settled it first."""

    async def keep_run_progress(self, run: RuleRun) -> None:
        """Record what a (still running) run must remember across deliveries of its event:
        how often it was put back, the deal stage its move expects."""

    async def list_runs(self, rule_id: str, after: Cursor | None, limit: int) -> list[RuleRun]:
        """Newest first; cursors hold (`at`, id)."""

    # deal outcomes (from won/lost/reopened events), for playbook effectiveness and to tell
    # a late close from a reopen after it
    async def keep_deal_outcome(self, outcome: DealOutcome) -> bool:
        """Store the deal's lifecycle fact unless the one stored is as new or newer
        (`DealOutcome.newer_than`); returns whether it was stored."""

    async def deal_outcome(self, deal_id: str) -> DealOutcome | None: ...
    async def outcomes_of(
        self, deal_ids: Sequence[str], *, current: bool = True
    ) -> dict[str, DealOutcome]:
        """The recorded outcomes of these deals by deal id (those without one left out):
        `deal_outcome` of each, read together (one query, not one per deal).
        `current=False`: a store that holds outcomes may answer with what it last knew
        (a close recorded elsewhere since may be missing), for a check that a caller
        repeats with `current=True` once it has written (the playbooks' close race)."""

    async def deal_outcomes(self, closed_from: datetime, closed_to: datetime) -> list[DealOutcome]:
        """Deals closed (and not reopened since) in [closed_from, closed_to)."""


class TasksStore(Protocol):
    def for_workspace(self, workspace_id: str) -> WorkspaceStore: ...

    async def fire_due(self, now: datetime, limit: int) -> list[Firing]:
        """Fire what is due by `now` in every workspace (`domain.reminders`), at most
        `limit`; returns what this process fired (another replica fires the rest)."""


# --- what a task references in other services (store/references.py) ---------------------


@dataclass(frozen=True)
class Named:
    """What a task names in other services (None: nothing)."""

    deal_id: str | None = None
    contact_id: str | None = None
    company_id: str | None = None


class References(Protocol):
    async def missing(self, caller: RequestContext, named: Named) -> list[str]:
        """The attributes of `named` (`deal_id`, `contact_id`, `company_id`) whose id
        names no live record in the caller's workspace."""
        ...
