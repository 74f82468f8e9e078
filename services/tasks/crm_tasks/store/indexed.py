"""The store with task lists served by the read index (`crm_kit.read_index` over
`TaskEntries`).

A decorator of any `TasksStore` (Mongo or the in-memory fake), so callers are unchanged:
task writes go to the store and then install the tasks as written into the index before
returning (read-your-writes; the version guard keeps a newer state another replica wrote
meanwhile), and tell the event feed to skip those writes' own events. `find_tasks`,
`count_tasks`, `open_counts` and `task_rows` select, sort and page over the index and
read only the chosen documents by `_id`. A workspace the index cannot load goes to the
store as before.

Filters by task ids or by deal stay with the store: they are `_id` lookups already (the
deal's `deal_tasks` list), and a deal's list is current on every replica at once, while
the index of another replica lags by an event's latency.

A fetched document whose entry differs from the one it was selected by (written by
another replica, its event not applied yet) is re-read into the index and the selection
runs again, so a page is always ordered and filtered by the documents it returns.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from typing import Any

from crm_contracts.envelope import CloudEvent
from crm_kit.read_index import ReadIndex

from ..domain.model import Rule, RuleRun, Task, Team
from .codec import task_to_doc
from .filtering import matches
from .index_data import TaskEntries
from .index_entry import TaskEntry, entry_of, older
from .protocol import (
    DealOutcome,
    EventsFor,
    TaskFilter,
    TaskPageRequest,
    TasksStore,
    WorkspaceStore,
)

TaskIndex = ReadIndex[TaskEntry, TaskEntries]
SELECT_ATTEMPTS = 3


def task_index(stores: TasksStore, *, live: bool = True) -> TaskIndex:
    """The read index over `stores` (undecorated: its reads go straight to the database)."""

    def scan(workspace: str) -> AsyncIterator[dict[str, Any]]:
        return stores.for_workspace(workspace).index_docs()

    async def read(workspace: str, task_id: str) -> dict[str, Any] | None:
        return await stores.for_workspace(workspace).index_doc(task_id)

    return ReadIndex(
        scan=scan,
        read=read,
        entry_of=entry_of,
        new_entries=TaskEntries,
        older=older,
        name="task index",
        live=live,
    )


def _served(flt: TaskFilter) -> bool:
    return flt.ids is None and flt.deal_ids is None


class IndexedTasksStore:
    def __init__(self, store: TasksStore, index: TaskIndex) -> None:
        self.store = store
        self.index = index

    async def ensure_indexes(self) -> None:
        await self.store.ensure_indexes()

    def for_workspace(self, workspace_id: str) -> IndexedWorkspaceStore:
        return IndexedWorkspaceStore(self.store.for_workspace(workspace_id), self.index)

    # The scheduler's claims flip `reminder_sent` / `overdue_sent` only: no index field.
    async def claim_due(
        self, now: datetime, limit: int, reminder_events: EventsFor, overdue_events: EventsFor
    ) -> tuple[list[Task], list[Task]]:
        return await self.store.claim_due(now, limit, reminder_events, overdue_events)

    async def claim_reminders(self, now: datetime, limit: int, events_for: EventsFor) -> list[Task]:
        return await self.store.claim_reminders(now, limit, events_for)

    async def claim_overdue(self, now: datetime, limit: int, events_for: EventsFor) -> list[Task]:
        return await self.store.claim_overdue(now, limit, events_for)


class IndexedWorkspaceStore:
    def __init__(self, store: WorkspaceStore, index: TaskIndex) -> None:
        self.store = store
        self.index = index
        self.workspace_id = store.workspace_id

    # --- task writes, then the index --------------------------------------------------------

    async def _refresh(
        self, task_ids: Sequence[str], written: Sequence[Task] = (), events: Sequence[str] = ()
    ) -> None:
        """Install the `written` tasks as the write returned them (no read) and re-read the
        other ids; the feed then skips `events` (their state is installed)."""
        self.index.expect_events(events)
        known = {task.id: task_to_doc(task) for task in written}
        await self.index.refresh(self.workspace_id, task_ids, known)

    async def insert_task(self, task: Task, events: list[CloudEvent]) -> None:
        try:
            await self.store.insert_task(task, events)
        except BaseException:
            await self._refresh([task.id])  # a duplicate: the entry may have been behind
            raise
        await self._refresh([task.id], [task], [e.id for e in events])

    async def insert_tasks(self, items: Sequence[tuple[Task, list[CloudEvent]]]) -> set[str]:
        existing = await self.store.insert_tasks(items)
        new = [(task, events) for task, events in items if task.id not in existing]
        await self._refresh(
            [task.id for task, _ in items],
            [task for task, _ in new],
            [e.id for _, events in new for e in events],
        )
        return existing

    async def insert_deal_tasks(
        self, deal_id: str, tasks: Sequence[Task], events: list[CloudEvent]
    ) -> set[str]:
        existing = await self.store.insert_deal_tasks(deal_id, tasks, events)
        new = [task for task in tasks if task.id not in existing]
        new_ids = {task.id for task in new}
        await self._refresh(
            [task.id for task in tasks], new, [e.id for e in events if e.subject in new_ids]
        )
        return existing

    async def update_task(
        self,
        task_id: str,
        changes: dict[str, Any],
        events_for: EventsFor,
        *,
        expect: dict[str, Any] | None = None,
    ) -> Task | None:
        made: list[str] = []

        def recording(task: Task) -> list[CloudEvent]:
            events = events_for(task)
            made.extend(e.id for e in events)
            return events

        updated = await self.store.update_task(task_id, changes, recording, expect=expect)
        if updated is None:
            # Re-read even when `expect` failed: the entry may have been behind the document.
            await self._refresh([task_id])
        else:
            await self._refresh([task_id], [updated], made)
        return updated

    # --- reads from the index -----------------------------------------------------------------

    async def find_tasks(
        self, flt: TaskFilter, now: datetime, page: TaskPageRequest | None = None
    ) -> list[Task]:
        data = await self.index.entries(self.workspace_id) if _served(flt) else None
        if data is None:
            return await self.store.find_tasks(flt, now, page)
        try:
            chosen = data.select(flt, now, page)
        except TypeError:  # a cursor value of another type than the field's
            return await self.store.find_tasks(flt, now, page)
        for _ in range(SELECT_ATTEMPTS - 1):
            tasks, behind = await self._fetch(chosen)
            if not behind:
                return tasks
            await self._refresh(behind)
            chosen = data.select(flt, now, page)
        tasks, _ = await self._fetch(chosen)
        return [task for task in tasks if matches(task, flt, now)]

    async def count_tasks(self, flt: TaskFilter, now: datetime) -> int:
        data = await self.index.entries(self.workspace_id) if _served(flt) else None
        if data is None:
            return await self.store.count_tasks(flt, now)
        return data.count(flt, now)

    async def open_counts(self, member_ids: Sequence[str]) -> dict[str, int]:
        data = await self.index.entries(self.workspace_id)
        if data is None:
            return await self.store.open_counts(member_ids)
        return data.open_counts(member_ids)

    async def task_rows(self, flt: TaskFilter, now: datetime) -> Sequence[TaskEntry]:
        data = await self.index.entries(self.workspace_id) if _served(flt) else None
        if data is None:
            return await self.store.task_rows(flt, now)
        return data.rows(flt, now)

    async def _fetch(self, chosen: list[TaskEntry]) -> tuple[list[Task], list[str]]:
        """The chosen tasks in order (one `_id` lookup each, bounded concurrency in the
        store), and the ids whose entry was behind its document."""
        if not chosen:
            return [], []
        found = {
            task.id: task
            for task in await self.store.find_tasks(TaskFilter(ids=[e.id for e in chosen]), _EPOCH)
        }
        tasks: list[Task] = []
        behind: list[str] = []
        for entry in chosen:
            task = found.get(entry.id)
            if task is None or entry_of(task_to_doc(task)) != entry:
                behind.append(entry.id)
            if task is not None:
                tasks.append(task)
        return tasks, behind

    # --- pass-through -------------------------------------------------------------------------

    def index_docs(self) -> AsyncIterator[dict[str, Any]]:
        return self.store.index_docs()

    async def index_doc(self, task_id: str) -> dict[str, Any] | None:
        return await self.store.index_doc(task_id)

    async def get_task(self, task_id: str) -> Task | None:
        return await self.store.get_task(task_id)

    async def get_task_by_idem(self, idem_key: str) -> Task | None:
        return await self.store.get_task_by_idem(idem_key)

    async def insert_team(self, team: Team) -> None:
        await self.store.insert_team(team)

    async def get_teams(self, ids: Sequence[str]) -> list[Team]:
        return await self.store.get_teams(ids)

    async def get_team_by_name(self, name: str) -> Team | None:
        return await self.store.get_team_by_name(name)

    async def list_teams(self) -> list[Team]:
        return await self.store.list_teams()

    async def update_team(self, team_id: str, changes: dict[str, Any]) -> Team | None:
        return await self.store.update_team(team_id, changes)

    async def reserve_round_robin(self, team: Team, key: str | None) -> int:
        return await self.store.reserve_round_robin(team, key)

    async def insert_rule(self, rule: Rule) -> None:
        await self.store.insert_rule(rule)

    async def get_rule(self, rule_id: str) -> Rule | None:
        return await self.store.get_rule(rule_id)

    async def list_rules(
        self, trigger: str | None = None, enabled: bool | None = None
    ) -> list[Rule]:
        return await self.store.list_rules(trigger, enabled)

    async def update_rule(self, rule_id: str, changes: dict[str, Any]) -> Rule | None:
        return await self.store.update_rule(rule_id, changes)

    async def delete_rule(self, rule_id: str) -> bool:
        return await self.store.delete_rule(rule_id)

    async def start_run(self, run: RuleRun) -> RuleRun | None:
        return await self.store.start_run(run)

    async def finish_run(self, run: RuleRun, events: list[CloudEvent]) -> bool:
        return await self.store.finish_run(run, events)

    async def list_runs(self, rule_id: str, after: str | None, limit: int) -> list[RuleRun]:
        return await self.store.list_runs(rule_id, after, limit)

    async def record_deal_outcome(self, outcome: DealOutcome) -> None:
        await self.store.record_deal_outcome(outcome)

    async def delete_deal_outcome(self, deal_id: str) -> None:
        await self.store.delete_deal_outcome(deal_id)

    async def deal_outcomes(self, closed_from: datetime, closed_to: datetime) -> list[DealOutcome]:
        return await self.store.deal_outcomes(closed_from, closed_to)


# A by-ids lookup does not depend on the clock (no `overdue` in its filter).
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
