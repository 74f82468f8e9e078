"""Every event the tasks domain raises. Each module defines the events of its changes
(they name the entity as it is when written: events are encoded in the same write,
`crm_kit.entity`); the outbound adapter (`crm_tasks.events.publish`) turns them into the
public contract's CloudEvents."""

from __future__ import annotations

from .access import AccessSettingsChanged
from .notification import Notification
from .reminders import ReminderDue, TaskOverdue
from .task import TaskCancelled, TaskCompleted, TaskCreated, TaskUpdated
from .team import TeamChanged

DomainEvent = (
    TaskCreated
    | TaskUpdated
    | TaskCompleted
    | TaskCancelled
    | ReminderDue
    | TaskOverdue
    | Notification
    | TeamChanged
    | AccessSettingsChanged
)

__all__ = [
    "AccessSettingsChanged",
    "DomainEvent",
    "Notification",
    "ReminderDue",
    "TaskCancelled",
    "TaskCompleted",
    "TaskCreated",
    "TaskOverdue",
    "TaskUpdated",
    "TeamChanged",
]
