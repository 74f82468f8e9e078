"""A deal's tasks on the embedded database (the `ferretdb` profile only).

FerretDB's SQLite backend serves only `{_id: value}` from an index, so "the tasks of this
deal" (`Deal.tasks`, closing a deal, a handover, `rpc.tasks.task.list_open`) would scan
every task. `deal_tasks` is a read model: one small document per deal (`_id`
`<workspace>:<deal>`) listing its task ids, written before the tasks it lists (a crash in
between leaves an id whose task is missing, which readers skip), so a deal's tasks are one
`_id` look-up for the list and one per task; filters, order and page are then applied in
memory with the store's own filters (`crm_kit.memory_db.select`). Entries are never
removed: readers re-check each task's deal. Tasks by id are `_id` look-ups the same way.

A playbook's `task.created` events ride in the deal's list document, written after the
tasks (events must not announce what is not stored): one outbox document, one write
statement for all of a stage change's tasks, instead of one per task. The stage changes
handled together (`usecases.playbooks.apply_playbooks`) insert all their tasks in one
statement and arm their schedule entries in one, then write each deal's list. Their ids derive
from the task ids, so writing them again (a redelivered stage change) publishes
duplicates the stream drops. The tasks' audit entries ride there too (the relay moves
them to the audit log with the events' clean-up), instead of an intent written before the
tasks and removed after them: two write statements fewer per stage change. They are named
by the tasks' inserts (`crm_kit.audit.held_entry_id`), so a redelivery after a crash
between the two writes carries the same entries, which the audit log keeps once.

On MongoDB (the `mongodb` profile) none of this runs: the `deal` index answers, and a
playbook's tasks carry their own events (one `insert_many` either way).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from crm_kit.change_log import appends_together
from crm_kit.filters import stored_field
from crm_kit.memory_db import select
from crm_kit.pagination import BY_ID, Cursor, Page
from crm_kit.records import Duplicate, RecordSource, RecordType, pending_events

from ..config import DEAL_TASKS
from ..domain.queries import TaskFilter, TaskOrder
from ..domain.task import Task, TaskSummary
from .documents import TASK
from .filters import order_of, tasks_matching
from .schedule import ScheduleHint
from .store import RecordStore, WorkspaceRecordStore


@dataclass
class DealTaskList:
    id: str  # "<workspace>:<deal>"
    workspace_id: str
    deal_id: str
    task_ids: list[str] = field(default_factory=list)


def _to_doc(listed: DealTaskList) -> dict[str, Any]:
    return {
        "_id": listed.id,
        "workspace_id": listed.workspace_id,
        "deal_id": listed.deal_id,
        "task_ids": list(listed.task_ids),
    }


def _from_doc(doc: Mapping[str, Any]) -> DealTaskList:
    return DealTaskList(
        doc["_id"], doc["workspace_id"], doc["deal_id"], list(doc.get("task_ids") or [])
    )


DEAL_LIST = RecordType(DEAL_TASKS, _to_doc, _from_doc)


def deal_list_id(workspace_id: str, deal_id: str) -> str:
    return f"{workspace_id}:{deal_id}"


def _fields(task: Task) -> Any:
    return stored_field(TASK.to_doc(task))


class DealListStore(RecordStore):
    def __init__(self, source: RecordSource, *, schedule_hint: ScheduleHint | None = None) -> None:
        super().__init__(source, schedule_hint=schedule_hint)

    def for_workspace(self, workspace_id: str) -> DealListWorkspaceStore:
        return DealListWorkspaceStore(self, workspace_id)


class DealListWorkspaceStore(WorkspaceRecordStore):
    def __init__(self, root: RecordStore, workspace_id: str) -> None:
        super().__init__(root, workspace_id)
        self.lists = root.source.records(DEAL_LIST, workspace_id)

    # writes: the lists first -----------------------------------------------------------
    async def add_tasks(self, tasks: Sequence[Task]) -> list[Task]:
        await self.root.schedule.arm(self.workspace_id, tasks)
        await self._list_by_deal(tasks)
        return await self.tasks.insert_many(tasks)

    async def import_tasks(self, tasks: Sequence[Task], batch_id: str) -> list[Task]:
        await self.root.schedule.arm(self.workspace_id, tasks)
        await self._list_by_deal(tasks)
        return await self._insert_imported(tasks, batch_id)

    async def _list_by_deal(self, tasks: Sequence[Task]) -> None:
        """Each deal's list written once for all its tasks in `tasks`."""
        by_deal: dict[str, list[str]] = {}
        for task in tasks:
            if task.deal_id:
                by_deal.setdefault(task.deal_id, []).append(task.id)
        for deal_id, task_ids in by_deal.items():
            await self._list(deal_id, task_ids)

    async def add_playbook_tasks(self, by_deal: Mapping[str, Sequence[Task]]) -> list[Task]:
        """Schedule entries, the tasks (of every deal: one statement each), then each
        deal's list with its tasks' events and audit entries (the lists side by side:
        separate documents). A crash before a list leaves tasks their deal does not show
        yet; the stage change, not acknowledged, is delivered again and lists them (and
        writes the events) then."""
        tasks = [task for listed in by_deal.values() for task in listed]
        await self.root.schedule.arm(self.workspace_id, tasks)
        events: dict[str, list[object]] = {deal_id: [] for deal_id in by_deal}
        for deal_id, listed in by_deal.items():
            for task in listed:
                events[deal_id].extend(pending_events(task))
                task.events_written()  # they travel in the list, written below
        entries: list[dict[str, Any]] = []  # and so do their audit entries
        refused = await self.tasks.insert_many(tasks, hold_audit=entries)
        deal_of = {task.id: deal_id for deal_id, listed in by_deal.items() for task in listed}
        held: dict[str, list[dict[str, Any]]] = {deal_id: [] for deal_id in by_deal}
        for entry in entries:
            held[deal_of[entry["record_id"]]].append(entry)
        # The lists journalled together once all are written (one slot insert), and then
        # handed to the relay together: one pass publishes them all (one audit insert, one
        # clearing statement), instead of the first list alone and the rest in a second.
        with self.lists.notices_together():
            async with appends_together():
                written = await asyncio.gather(
                    *(
                        self._list(
                            deal_id, [task.id for task in listed], events[deal_id], held[deal_id]
                        )
                        for deal_id, listed in by_deal.items()
                    ),
                    return_exceptions=True,  # each list written or failed before a raise
                )
        for outcome in written:
            if isinstance(outcome, BaseException):
                raise outcome
        return refused

    async def _before_saving(
        self, task: Task, scheduled: tuple[object, ...], deal_id: str | None
    ) -> None:
        await super()._before_saving(task, scheduled, deal_id)
        if task.deal_id and task.deal_id != deal_id:
            await self._list(task.deal_id, [task.id])

    async def _list(
        self,
        deal_id: str,
        task_ids: Sequence[str],
        events: Sequence[object] = (),
        entries: Sequence[Mapping[str, Any]] = (),
    ) -> None:
        """Add tasks to their deal's list, with `events` and audit `entries` for the relay
        in the same write (one statement: created by it when absent)."""
        update = {
            "$set": {"deal_id": deal_id},
            "$addToSet": {"task_ids": {"$each": list(task_ids)}},
        }
        for attempt in range(2):
            try:
                # Its id names the workspace: nothing to read to check it.
                await self.lists.update(
                    deal_list_id(self.workspace_id, deal_id),
                    update,
                    events,
                    upsert=True,
                    verified=True,
                    audit=entries,
                )
                return
            except Duplicate:
                if attempt:  # another replica created the list meanwhile: add to it
                    raise

    # reads by id: `_id` look-ups, then the filter in memory ----------------------------
    async def _by_ids(self, where: TaskFilter) -> list[Task] | None:
        if where.ids is not None:
            return await self.tasks.get(where.ids)
        if where.deal_ids is None:
            return None
        lists = await self.lists.get([deal_list_id(self.workspace_id, d) for d in where.deal_ids])
        return await self.tasks.get([task_id for listed in lists for task_id in listed.task_ids])

    async def find_tasks(
        self,
        where: TaskFilter,
        now: datetime,
        order: TaskOrder | None = None,
        limit: int | None = None,
    ) -> list[Task]:
        found = await self._by_ids(where)
        if found is None:
            return await super().find_tasks(where, now, order, limit)
        query, by = tasks_matching(where, now), order_of(order) if order else BY_ID
        return select(found, _fields, query, by, None, limit)

    async def list_tasks(
        self, where: TaskFilter, now: datetime, order: TaskOrder, after: Cursor | None, first: int
    ) -> Page[Task]:
        found = await self._by_ids(where)
        if found is None:
            return await super().list_tasks(where, now, order, after, first)
        query = tasks_matching(where, now)
        total = len(select(found, _fields, query))
        rows = select(found, _fields, query, order_of(order), after, first + 1)
        return Page(rows[:first], total, len(rows) > first)

    async def count_tasks(self, where: TaskFilter, now: datetime) -> int:
        found = await self._by_ids(where)
        if found is None:
            return await super().count_tasks(where, now)
        return len(select(found, _fields, tasks_matching(where, now)))

    async def task_summaries(self, where: TaskFilter, now: datetime) -> list[TaskSummary]:
        found = await self._by_ids(where)
        if found is None:
            return await super().task_summaries(where, now)
        return [task.summary() for task in select(found, _fields, tasks_matching(where, now))]
