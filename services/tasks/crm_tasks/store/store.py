"""The store port implemented once, over the kit's records: on MongoDB through the kit's
write path (`mongo.py`), in memory for unit tests (`memory.py`). Locks, `_id`-only
filters, the outbox and the relay's wake-up are the records' and the writer's business;
what is here is what the tasks service stores and how it asks for it.

This is the store as it runs on MongoDB. The embedded database's read models build on it
(`deal_lists.py`, `indexed.py`; `assemble.py` chooses).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from crm_kit.audit_read import AuditTrail
from crm_kit.filters import And, Eq, In, Range
from crm_kit.pagination import BY_ID, Cursor, Order, Page
from crm_kit.records import Duplicate, RecordSource

from ..config import IMPORT_BATCHES
from ..domain.access import WorkspaceAccess
from ..domain.outcome import DealOutcome
from ..domain.queries import TaskFilter, TaskOrder
from ..domain.reminders import Firing
from ..domain.rule import Rule, RuleRun, RunResult
from ..domain.task import Task, TaskSummary
from ..domain.team import Team
from .documents import ACCESS, OUTCOME, RESULT, RULE, RUN, TASK, TEAM, outcome_id
from .filters import ACTIVE, order_of, tasks_matching
from .port import Change, NameTaken
from .schedule import Schedule, ScheduleHint
from .turns import Turns

NEWEST_FIRST = Order("at", descending=True)
BY_NAME = Order("name")
# What a change of a task must write first: its schedule entries when these change.
_SCHEDULED = ("remind_at", "due_at", "reminder_sent", "overdue_sent")


class RecordStore:
    """The root store (every workspace): `for_workspace` scopes it."""

    def __init__(self, source: RecordSource, *, schedule_hint: ScheduleHint | None = None) -> None:
        self.source = source
        self.schedule = Schedule(source, schedule_hint)
        self.turns = Turns(source)

    def for_workspace(self, workspace_id: str) -> WorkspaceRecordStore:
        return WorkspaceRecordStore(self, workspace_id)

    async def fire_due(self, now: datetime, limit: int) -> list[Firing]:
        return await self.schedule.fire_due(now, limit)


class WorkspaceRecordStore:
    def __init__(self, root: RecordStore, workspace_id: str) -> None:
        self.root = root
        self.workspace_id = workspace_id
        source = root.source
        self.audit_trail = AuditTrail(source, workspace_id)
        self.tasks = source.records(TASK, workspace_id)
        self.teams = source.records(TEAM, workspace_id)
        self.access = source.records(ACCESS, workspace_id)
        self.rules = source.records(RULE, workspace_id)
        self.runs = source.records(RUN, workspace_id)
        self.results = source.records(RESULT, workspace_id)
        self.outcomes = source.records(OUTCOME, workspace_id)

    # tasks ----------------------------------------------------------------------------
    async def add_tasks(self, tasks: Sequence[Task]) -> list[Task]:
        # Schedule entries first: a crash before the tasks leaves an entry for a missing
        # task, which the scheduler drops; never a task whose reminder is lost.
        await self.root.schedule.arm(self.workspace_id, tasks)
        return await self.tasks.insert_many(tasks)

    async def add_playbook_tasks(self, by_deal: Mapping[str, Sequence[Task]]) -> list[Task]:
        return await self.add_tasks([task for tasks in by_deal.values() for task in tasks])

    async def import_tasks(self, tasks: Sequence[Task], batch_id: str) -> list[Task]:
        await self.root.schedule.arm(self.workspace_id, tasks)
        return await self._insert_imported(tasks, batch_id)

    async def _insert_imported(self, tasks: Sequence[Task], batch_id: str) -> list[Task]:
        return await self.tasks.insert_batch(
            tasks, batch_collection=IMPORT_BATCHES, batch_id=f"{self.workspace_id}:{batch_id}"
        )

    async def get_tasks(self, ids: Sequence[str]) -> list[Task]:
        return await self.tasks.get(ids)

    async def task_by_key(self, idem_key: str) -> Task | None:
        return await self.tasks.first(Eq("idem_key", idem_key))

    async def tasks_by_keys(self, idem_keys: Sequence[str]) -> list[Task]:
        return await self.tasks.find(In("idem_key", idem_keys)) if idem_keys else []

    async def imported_task_ids(self, job_id: str) -> list[str]:
        return [str(i) for i in await self.tasks.ids(Eq("import_job", job_id))]

    async def change_task(self, task_id: str, change: Change[Task]) -> Task | None:
        async def changed(task: Task) -> bool:
            scheduled, deal_id = _scheduled(task), task.deal_id
            if not await change(task):
                return False
            await self._before_saving(task, scheduled, deal_id)
            return True

        return await self.tasks.change(task_id, changed)

    async def _before_saving(
        self, task: Task, scheduled: tuple[object, ...], deal_id: str | None
    ) -> None:
        """What must be written before a changed task (`scheduled` and `deal_id` as they
        were): its new schedule entries. (The embedded database's deal lists add the new
        deal's: `deal_lists.py`.)"""
        if _scheduled(task) != scheduled:
            await self.root.schedule.arm(self.workspace_id, [task])

    async def find_tasks(
        self,
        where: TaskFilter,
        now: datetime,
        order: TaskOrder | None = None,
        limit: int | None = None,
    ) -> list[Task]:
        query = tasks_matching(where, now)
        return await self.tasks.find(query, order=order_of(order) if order else BY_ID, limit=limit)

    async def list_tasks(
        self, where: TaskFilter, now: datetime, order: TaskOrder, after: Cursor | None, first: int
    ) -> Page[Task]:
        query = tasks_matching(where, now)
        return await self.tasks.page(query, order=order_of(order), after=after, first=first)

    async def count_tasks(self, where: TaskFilter, now: datetime) -> int:
        return await self.tasks.count(tasks_matching(where, now))

    async def task_summaries(self, where: TaskFilter, now: datetime) -> list[TaskSummary]:
        return [task.summary() async for task in self.tasks.scan(tasks_matching(where, now))]

    async def open_counts(self, member_ids: Sequence[str]) -> dict[str, int]:
        # A count per member (a team is a handful): each an indexed count on MongoDB.
        counts: dict[str, int] = {}
        for member in dict.fromkeys(member_ids):
            n = await self.tasks.count(And(Eq("assignee_id", member), ACTIVE))
            if n:
                counts[member] = n
        return counts

    # teams ----------------------------------------------------------------------------
    async def add_team(self, team: Team) -> None:
        try:
            await self.teams.insert(team)
        except Duplicate as taken:
            raise NameTaken(str(taken.existing_id)) from None

    async def get_teams(self, ids: Sequence[str]) -> list[Team]:
        return await self.teams.get(ids)

    async def team_by_name(self, name: str) -> Team | None:
        return await self.teams.first(Eq("name", name))

    async def list_teams(self) -> list[Team]:
        return await self.teams.find(order=BY_NAME)

    async def change_team(self, team_id: str, change: Change[Team]) -> Team | None:
        try:
            return await self.teams.change(team_id, change)
        except Duplicate as taken:
            raise NameTaken(str(taken.existing_id)) from None

    async def take_turn(self, team: Team, key: str | None) -> int:
        return await self.root.turns.take(self.workspace_id, team, key)

    # sharing settings ---------------------------------------------------------------
    async def get_access(self) -> WorkspaceAccess:
        found = await self.access.get([self.workspace_id])
        return found[0] if found else WorkspaceAccess(self.workspace_id)

    async def change_access(self, change: Change[WorkspaceAccess]) -> WorkspaceAccess:
        changed = await self.access.change(self.workspace_id, change)
        if changed is not None:
            return changed
        fresh = WorkspaceAccess(self.workspace_id)
        if not await change(fresh):
            return fresh
        try:
            await self.access.insert(fresh)
        except Duplicate:  # another replica created it meanwhile: change theirs
            return await self.access.change(self.workspace_id, change) or fresh
        return fresh

    # rules and runs -------------------------------------------------------------------
    async def add_rule(self, rule: Rule) -> None:
        await self.rules.insert(rule)

    async def get_rule(self, rule_id: str) -> Rule | None:
        found = await self.rules.get([rule_id])
        return found[0] if found else None

    async def list_rules(
        self, trigger: str | None = None, enabled: bool | None = None
    ) -> list[Rule]:
        where = And(
            Eq("trigger", trigger) if trigger is not None else None,
            Eq("enabled", enabled) if enabled is not None else None,
        )
        return await self.rules.find(where)

    async def change_rule(self, rule_id: str, change: Change[Rule]) -> Rule | None:
        return await self.rules.change(rule_id, change)

    async def delete_rule(self, rule_id: str) -> bool:
        return await self.rules.delete(rule_id)

    async def start_run(self, run: RuleRun) -> RuleRun | None:
        try:
            await self.runs.insert(run)
        except Duplicate:
            found = await self.runs.get([run.id])
            if found:
                return found[0]
            # Recorded under another id (before run ids derived from the rule and event).
            return await self.runs.first(
                And(Eq("rule_id", run.rule_id), Eq("event_id", run.event_id))
            )
        return None

    async def finish_run(self, run: RuleRun, result: RunResult) -> bool:
        try:
            await self.results.insert(result)
            won = True
        except Duplicate:
            won = False
        settled = {
            "outcome": run.outcome,
            "error": run.error,
            "task_ids": list(run.task_ids),
            "notification_ids": list(run.notification_ids),
        }
        await self.runs.update(run.id, {"$set": settled}, expect={"outcome": "running"})
        return won

    async def keep_run_progress(self, run: RuleRun) -> None:
        progress = {
            "retries": run.retries,
            "expected_stage": run.expected_stage,
            "expected_sequence": run.expected_sequence,
        }
        await self.runs.update(run.id, {"$set": progress}, expect={"outcome": "running"})

    async def list_runs(self, rule_id: str, after: Cursor | None, limit: int) -> list[RuleRun]:
        return await self.runs.find(
            Eq("rule_id", rule_id), order=NEWEST_FIRST, after=after, limit=limit
        )

    # deal outcomes --------------------------------------------------------------------
    async def keep_deal_outcome(self, outcome: DealOutcome) -> bool:
        # Compare and set: insert, or replace exactly the fact read (two replicas handling
        # a close and a reopen of one deal at once: the newer one stays either way).
        record_id = outcome_id(self.workspace_id, outcome.deal_id)
        while True:
            known = await self._stored_outcome(outcome.deal_id)
            if known is not None and not outcome.newer_than(known):
                return False
            if known is None:
                try:
                    await self.outcomes.insert(outcome)
                    return True
                except Duplicate:
                    continue
            expect = {
                "outcome": known.outcome,
                "closed_at": known.closed_at,
                "sequence": known.sequence,
            }
            fields = {
                "outcome": outcome.outcome,
                "closed_at": outcome.closed_at,
                "sequence": outcome.sequence,
            }
            if await self.outcomes.update(record_id, {"$set": fields}, expect=expect):
                return True

    async def deal_outcome(self, deal_id: str) -> DealOutcome | None:
        return await self._stored_outcome(deal_id)

    async def outcomes_of(
        self, deal_ids: Sequence[str], *, current: bool = True
    ) -> dict[str, DealOutcome]:
        wanted = [outcome_id(self.workspace_id, deal_id) for deal_id in dict.fromkeys(deal_ids)]
        return {outcome.deal_id: outcome for outcome in await self.outcomes.get(wanted)}

    async def _stored_outcome(self, deal_id: str) -> DealOutcome | None:
        """As stored now (one `_id` look-up): what a compare-and-set compares against."""
        found = await self.outcomes.get([outcome_id(self.workspace_id, deal_id)])
        return found[0] if found else None

    async def deal_outcomes(self, closed_from: datetime, closed_to: datetime) -> list[DealOutcome]:
        found = await self.outcomes.find(Range("closed_at", gte=closed_from, lt=closed_to))
        return [outcome for outcome in found if outcome.closed]


def _scheduled(task: Task) -> tuple[object, ...]:
    return tuple(getattr(task, name) for name in _SCHEDULED)
