"""CloudEvents built from the `crm_contracts.tasks` payload models."""

from __future__ import annotations

import hashlib
from datetime import datetime

from crm_contracts import tasks as contract
from crm_contracts.envelope import CloudEvent, new_event
from crm_kit.ids import new_id

from ..domain.model import Task

SOURCE = "crm/tasks"


def iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


def snapshot(task: Task) -> contract.TaskSnapshot:
    return contract.TaskSnapshot(
        id=task.id,
        title=task.title,
        type=task.type,
        status=task.status,
        priority=task.priority,
        due_at=iso(task.due_at),
        remind_at=iso(task.remind_at),
        assignee_id=task.assignee_id,
        team_id=task.team_id,
        deal_id=task.deal_id,
        contact_id=task.contact_id,
        company_id=task.company_id,
        source=contract.TaskSource(
            kind=task.source.kind,
            template_key=task.source.template_key,
            rule_id=task.source.rule_id,
            stage_change_id=task.source.stage_change_id,
        ),
    )


def _event(
    event_type: str, task: Task, payload: contract.Payload, event_id: str | None = None
) -> CloudEvent:
    return new_event(
        event_type=event_type,
        source=SOURCE,
        workspace=task.workspace_id,
        subject=task.id,
        data=payload.wire(),
        event_id=event_id,
    )


def task_created(task: Task) -> CloudEvent:
    """A task is created once, so its creation event's id derives from the task's: storing
    the event again (a redelivered playbook) publishes a duplicate JetStream drops."""
    event_id = hashlib.sha256(f"{contract.TASK_CREATED}:{task.id}".encode()).hexdigest()[:32]
    payload = contract.TaskCreated(task=snapshot(task))
    return _event(contract.TASK_CREATED, task, payload, event_id)


def task_updated(task: Task, changed_fields: list[str]) -> CloudEvent:
    payload = contract.TaskUpdated(task=snapshot(task), changed_fields=changed_fields)
    return _event(contract.TASK_UPDATED, task, payload)


def task_completed(task: Task) -> CloudEvent:
    assert task.completed_at is not None
    payload = contract.TaskCompleted(
        task=snapshot(task),
        completed_at=iso(task.completed_at) or "",
        completed_by=task.completed_by,
        outcome=task.outcome,
        on_time=bool(task.on_time),
    )
    return _event(contract.TASK_COMPLETED, task, payload)


def task_cancelled(task: Task) -> CloudEvent:
    payload = contract.TaskCancelled(task=snapshot(task), reason=task.cancel_reason)
    return _event(contract.TASK_CANCELLED, task, payload)


def task_reminder_due(task: Task) -> CloudEvent:
    return _event(contract.TASK_REMINDER_DUE, task, contract.TaskReminderDue(task=snapshot(task)))


def task_overdue(task: Task) -> CloudEvent:
    return _event(contract.TASK_OVERDUE, task, contract.TaskOverdue(task=snapshot(task)))


def notification(
    *,
    workspace: str,
    title: str,
    reason: str,
    user_id: str | None = None,
    team_id: str | None = None,
    body: str | None = None,
    task_id: str | None = None,
    deal_id: str | None = None,
    rule_id: str | None = None,
) -> CloudEvent:
    notification_id = new_id()
    payload = contract.NotificationCreated(
        id=notification_id,
        recipient_user_id=user_id,
        recipient_team_id=team_id,
        title=title,
        body=body,
        reason=reason,
        task_id=task_id,
        deal_id=deal_id,
        rule_id=rule_id,
    )
    return new_event(
        event_type=contract.NOTIFICATION_CREATED,
        source=SOURCE,
        workspace=workspace,
        subject=notification_id,
        data=payload.wire(),
    )


def reminder_events(task: Task) -> list[CloudEvent]:
    """What firing a reminder emits: the event, and a notification for the assignee."""
    return [
        task_reminder_due(task),
        notification(
            workspace=task.workspace_id,
            title=f"Reminder: {task.title}",
            reason="reminder",
            user_id=task.assignee_id,
            team_id=None if task.assignee_id else task.team_id,
            body=f"Due {iso(task.due_at)}" if task.due_at else None,
            task_id=task.id,
            deal_id=task.deal_id,
        ),
    ]


def overdue_events(task: Task) -> list[CloudEvent]:
    """What a task passing its due time emits: the event, and a notification."""
    return [
        task_overdue(task),
        notification(
            workspace=task.workspace_id,
            title=f"Overdue: {task.title}",
            reason="overdue",
            user_id=task.assignee_id,
            team_id=None if task.assignee_id else task.team_id,
            body=f"Was due {iso(task.due_at)}",
            task_id=task.id,
            deal_id=task.deal_id,
        ),
    ]
