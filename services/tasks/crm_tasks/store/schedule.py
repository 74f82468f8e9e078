"""The scheduler's queue: one entry per unfired reminder or due time (`schedule`), so
finding what is due never reads every task ever made.

Entries are written before their task (a crash in between leaves an entry for a missing
task, which firing drops); an entry that exists already is moved to the new time. Firing
an entry inserts the `Firing` (unique id, events in its outbox: only one replica's insert
wins, and a crash after it still publishes), then sets the task's flag, then drops the
entry unless it was re-armed meanwhile. A pass inserts its firings of a workspace
together (one statement), then sets their flags and drops their entries (one statement
per 90 each: an import's tasks already due fire together): a crash in between leaves
entries whose firing exists, which the next pass refuses as fired and flags and drops.

On the embedded database (`ScheduleHint`, the `ferretdb` profile) any query of `schedule`
reads the whole collection, holding up writers: a scan also returns the next entries not
yet due, and the following ticks skip scanning until the earliest of them (entries this
process writes meanwhile wake it; other replicas' are seen within `SCHEDULE_QUIET_MAX`).
On MongoDB the due entries are an indexed range.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from crm_kit.filters import ALL, Range
from crm_kit.pagination import Order
from crm_kit.records import RecordSource, RecordType

from ..config import SCHEDULE
from ..domain.reminders import OVERDUE, REMINDER, Firing, fire, fire_time
from ..domain.task import Task
from .documents import FIRING, TASK

# How long the scheduler may skip scanning `schedule` when it knows nothing of its own is
# due: entries written by other replicas are seen at the latest this much later.
SCHEDULE_QUIET_MAX = timedelta(seconds=2.5)
BY_TIME = Order("at")


@dataclass
class ScheduleEntry:
    id: str  # "<flag>:<task id>"
    workspace_id: str
    task_id: str
    flag: str  # reminder_sent | overdue_sent
    at: datetime


def _to_doc(entry: ScheduleEntry) -> dict[str, Any]:
    return {
        "_id": entry.id,
        "workspace_id": entry.workspace_id,
        "task_id": entry.task_id,
        "flag": entry.flag,
        "at": entry.at,
    }


def _from_doc(doc: Mapping[str, Any]) -> ScheduleEntry:
    return ScheduleEntry(doc["_id"], doc["workspace_id"], doc["task_id"], doc["flag"], doc["at"])


ENTRY = RecordType(SCHEDULE, _to_doc, _from_doc)


class ScheduleHint:
    """Per process: no `schedule` entry is due before `until` (as of the scan at `scanned`),
    apart from entries written since, which this process reports (`note`) and other
    replicas' entries, found by a scan at most `SCHEDULE_QUIET_MAX` later."""

    def __init__(self) -> None:
        self.until: datetime | None = None
        self.scanned: datetime | None = None
        self._noted: datetime | None = None  # earliest entry written since the scan began

    def note(self, when: datetime) -> None:
        if self._noted is None or when < self._noted:
            self._noted = when
        if self.until is not None and when < self.until:
            self.until = when

    def quiet(self, now: datetime) -> bool:
        if self.until is None or self.scanned is None:
            return False
        return self.scanned <= now < min(self.until, self.scanned + SCHEDULE_QUIET_MAX)

    def scan_started(self) -> None:
        self._noted = None

    def scanned_at(self, now: datetime, until: datetime | None) -> None:
        if until is not None and self._noted is not None and self._noted < until:
            until = self._noted
        self.scanned, self.until = now, until


class Schedule:
    def __init__(self, source: RecordSource, hint: ScheduleHint | None) -> None:
        self.source = source
        self.hint = hint

    async def arm(self, workspace_id: str, tasks: Sequence[Task]) -> None:
        """An entry per unfired time of these tasks, inserted together (one statement);
        an entry that exists already is moved to the new time."""
        entries = [
            ScheduleEntry(f"{flag}:{task.id}", workspace_id, task.id, flag, at)
            for task in tasks
            for flag in (REMINDER, OVERDUE)
            if (at := fire_time(task, flag)) is not None and not getattr(task, flag)
        ]
        if not entries:
            return
        if self.hint is not None:
            for entry in entries:
                self.hint.note(entry.at)
        records = self.source.records(ENTRY, workspace_id)
        for entry in await records.insert_many(entries):
            # Its id names a task of this workspace: no need to read it to check.
            await records.update(entry.id, {"$set": {"at": entry.at}}, verified=True)

    async def fire_due(self, now: datetime, limit: int) -> list[Firing]:
        """Fire what is due: each due entry's firing is made, the firings of a workspace
        are stored together (one statement for the pass, not one each), then each task's
        flag is set and its entry dropped (see the module's docstring for a crash)."""
        ready = [
            made for entry in await self._due(now, limit) if (made := await self._made(entry, now))
        ]
        stored: set[str] = set()
        by_workspace: dict[str, list[Firing]] = {}
        for _, _, firing in ready:
            by_workspace.setdefault(firing.workspace_id, []).append(firing)
        for workspace_id, firings in by_workspace.items():
            records = self.source.records(FIRING, workspace_id)
            # Refused: another replica (or an earlier pass) fired it.
            refused = {firing.id for firing in await records.insert_many(firings)}
            stored.update(firing.id for firing in firings if firing.id not in refused)
        for workspace_id in by_workspace:
            await self._flag_and_drop(
                workspace_id, [(e, t) for e, t, f in ready if f.workspace_id == workspace_id]
            )
        return [firing for _, _, firing in ready if firing.id in stored]

    async def _made(
        self, entry: ScheduleEntry, now: datetime
    ) -> tuple[ScheduleEntry, Task, Firing] | None:
        """The entry's firing, not yet stored (None: nothing to fire; an entry of a task
        gone, done or fired is dropped, one whose time moved follows it)."""
        found = await self.source.records(TASK, entry.workspace_id).get([entry.task_id])
        task = found[0] if found else None
        at = fire_time(task, entry.flag) if task is not None else None
        if task is None or not task.active or getattr(task, entry.flag) or at is None:
            await self._drop(entry)
            return None
        if at != entry.at:  # re-armed meanwhile: follow the task
            if self.hint is not None:
                self.hint.note(at)
            entries = self.source.records(ENTRY, entry.workspace_id)
            await entries.update(entry.id, {"$set": {"at": at}}, verified=True)
            return None
        firing = fire(task, entry.flag, now)
        return (entry, task, firing) if firing is not None else None

    async def _flag_and_drop(
        self, workspace_id: str, fired: Sequence[tuple[ScheduleEntry, Task]]
    ) -> None:
        """The tasks' flags, then their entries dropped: one statement each for a pass's
        firings of a workspace (an import's tasks already due fire together), not two each."""
        # The flags alone, by `_id` (the tasks were just read in this workspace): the rest
        # of a task may be changing meanwhile elsewhere.
        flags: dict[str, dict[str, bool]] = {}
        tasks_by_id: dict[str, Task] = {}
        for entry, task in fired:
            flags.setdefault(task.id, {})[entry.flag] = True
            tasks_by_id[task.id] = task
        for task_id, flag in flags.items():  # what the write hooks hear: both, if both fired
            for name in flag:
                setattr(tasks_by_id[task_id], name, True)
        tasks = self.source.records(TASK, workspace_id)
        await tasks.update_batch(
            [(task_id, {"$set": flag}, tasks_by_id[task_id]) for task_id, flag in flags.items()]
        )
        # Each unless it was re-armed (moved) meanwhile.
        entries = self.source.records(ENTRY, workspace_id)
        await entries.delete_batch([(entry.id, {"at": entry.at}) for entry, _ in fired])

    async def _due(self, now: datetime, limit: int) -> list[ScheduleEntry]:
        every = self.source.records(ENTRY, None)
        if self.hint is None:
            return await every.find(Range("at", lte=now), order=BY_TIME, limit=limit)
        if self.hint.quiet(now):
            return []
        self.hint.scan_started()
        entries = await every.find(ALL, order=BY_TIME, limit=limit)
        later = [entry.at for entry in entries if entry.at > now]
        if later:
            until: datetime | None = later[0]
        else:  # all due: more may wait beyond the limit; none left: quiet for the cap
            until = None if len(entries) >= limit else now + SCHEDULE_QUIET_MAX
        self.hint.scanned_at(now, until)
        return [entry for entry in entries if entry.at <= now]

    async def _drop(self, entry: ScheduleEntry) -> None:
        """Delete the entry unless it was re-armed (moved) meanwhile."""
        entries = self.source.records(ENTRY, entry.workspace_id)
        await entries.delete(entry.id, expect={"at": entry.at})
