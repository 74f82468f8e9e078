"""Reminders and overdue notices: each fires once per time set on a task.

Firing is recorded as a `Firing` under the id `<flag>:<task>:<time>`: stored once (a
unique id), so two replicas never both fire it, and its events are written with it (a
crash after the write still publishes). A new time on the task is a new id: it fires
again.
"""

from __future__ import annotations

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


@dataclass(frozen=True)
class TaskOverdue:
    task: Task


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


def fire(task: Task, flag: str, now: datetime) -> Firing | None:
    """Fire `flag` of `task` at `now` if it is due: the task's flag is set, and the
    firing raises the event and a notification for the assignee (or the team). None when
    there is nothing to fire (done, cancelled, fired already, no time, not yet due)."""
    at = fire_time(task, flag)
    if not task.active or getattr(task, flag) or at is None or at > now:
        return None
    setattr(task, flag, True)
    firing = Firing(fire_id(flag, task.id, at), task.workspace_id, task.id, now, flag, at)
    if flag == REMINDER:
        firing.raise_event(ReminderDue(task))
        title, reason = f"Reminder: {task.title}", "reminder"
        body = f"Due {iso(task.due_at)}" if task.due_at else None
    else:
        firing.raise_event(TaskOverdue(task))
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
        )
    )
    return firing
