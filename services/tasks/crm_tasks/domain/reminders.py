"""Reminders and overdue notices: each fires once per time set on a task.

Firing is recorded as a `Firing` under the id `<flag>:<task>:<time>`: stored once (a
unique id), so two replicas never both fire it, and its events are written with it (a
crash after the write still publishes). A new time on the task is a new id: it fires
again. The events' and the notification's ids derive from the firing's, so the same firing
written twice is one event on the stream (JetStream drops the repeat).

A task made with a time already passed (a playbook template due the day of the stage
change) fires with its creation instead (`fire_on_creation`): the events ride in the write
that stores the task, which is inserted once (its id and natural key are unique).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from crm_kit.clock import iso
from crm_kit.entity import Entity

from .notification import Notification
from .task import Task

REMINDER = "reminder_sent"
OVERDUE = "overdue_sent"
# The task attribute each flag fires at.
FLAG_TIME = {REMINDER: "remind_at", OVERDUE: "due_at"}


@dataclass(frozen=True)
class ReminderDue:
    task: Task
    event_id: str | None = None  # derived from the firing's id (`fire`)


@dataclass(frozen=True)
class TaskOverdue:
    task: Task
    event_id: str | None = None  # derived from the firing's id (`fire`)


# What each flag's firings are called in the scheduler's lag metric (`job`).
JOB = {REMINDER: "reminder", OVERDUE: "overdue"}


@dataclass
class Firing(Entity):
    id: str
    workspace_id: str
    task_id: str
    at: datetime  # when it fired
    flag: str  # reminder_sent | overdue_sent
    due: datetime  # the task's time it fired for

    @property
    def job(self) -> str:
        return JOB[self.flag]

    @property
    def lag_seconds(self) -> float:
        """How late it fired: the scheduler's tick, a busy replica or one that was down."""
        return (self.at - self.due).total_seconds()


def fire_time(task: Task, flag: str) -> datetime | None:
    at: datetime | None = getattr(task, FLAG_TIME[flag])
    return at


def fire_id(flag: str, task_id: str, at: datetime) -> str:
    return f"{flag}:{task_id}:{at.isoformat()}"


def _derived(kind: str, firing_id: str, length: int) -> str:
    return hashlib.sha256(f"{kind}\x00{firing_id}".encode()).hexdigest()[:length]


def fire(task: Task, flag: str, now: datetime) -> Firing | None:
    """Fire `flag` of `task` at `now` if it is due: the task's flag is set, and the
    firing raises the event and a notification for the assignee (or the team). None when
    there is nothing to fire (done, cancelled, fired already, no time, not yet due)."""
    at = fire_time(task, flag)
    if not task.active or getattr(task, flag) or at is None or at > now:
        return None
    setattr(task, flag, True)
    firing = Firing(fire_id(flag, task.id, at), task.workspace_id, task.id, now, flag, at)
    event_id = _derived(flag, firing.id, 32)
    if flag == REMINDER:
        firing.raise_event(ReminderDue(task, event_id))
        title, reason = f"Reminder: {task.title}", "reminder"
        body = f"Due {iso(task.due_at)}" if task.due_at else None
    else:
        firing.raise_event(TaskOverdue(task, event_id))
        title, reason = f"Overdue: {task.title}", "overdue"
        body = f"Was due {iso(at)}"
    firing.raise_event(
        Notification(
            workspace_id=task.workspace_id,
            title=title,
            reason=reason,
            user_id=task.assignee_id,
            team_id=None if task.assignee_id else task.team_id,
            body=body,
            task_id=task.id,
            deal_id=task.deal_id,
            # A 24-hex id (as `new_id` makes), the same for the same firing.
            id=_derived("notification", firing.id, 24),
        )
    )
    return firing


def fire_on_creation(task: Task, now: datetime) -> None:
    """Fire what of a new task is due already, with its creation: the flag set and the
    firing's events raised on the task, after its `TaskCreated`, so they are written with
    it. No schedule entry is armed for a flag set so (`store/schedule.py`), which spares
    the entry, the firing record, the flag's update, the entry's removal and the firing's
    outbox clean-up: four writes and two reads per task on the embedded database."""
    for flag in (REMINDER, OVERDUE):
        firing = fire(task, flag, now)
        if firing is not None:
            for event in firing.pending_events:
                task.raise_event(event)
