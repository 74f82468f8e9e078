"""CloudEvents built from the `crm_contracts.tasks` payload models. `encode` turns a
domain event into one; the store writes it into the outbox with the change that raised
it (the kit's writer calls `encode`) and the relay publishes it."""

from __future__ import annotations

import hashlib

from crm_contracts import tasks as contract
from crm_contracts.base import Payload
from crm_contracts.envelope import CloudEvent, new_event

from ..config import SOURCE
from ..domain import events
from ..domain.access import AccessSettingsChanged, WorkspaceAccess
from ..domain.notification import Notification
from ..domain.task import Task
from ..domain.team import Team, TeamChanged


def snapshot(task: Task) -> contract.TaskSnapshot:
    return contract.TaskSnapshot(
        id=task.id,
        title=task.title,
        type=task.type,
        status=task.status,
        priority=task.priority,
        due_at=task.due_at,
        remind_at=task.remind_at,
        assignee_id=task.assignee_id,
        created_by=task.created_by,
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
    event_type: str, task: Task, payload: Payload, event_id: str | None = None
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
    if task.completed_at is None:
        raise ValueError(f"task {task.id} is not completed")
    payload = contract.TaskCompleted(
        task=snapshot(task),
        completed_at=task.completed_at,
        completed_by=task.completed_by,
        outcome=task.outcome,
        on_time=bool(task.on_time),
    )
    return _event(contract.TASK_COMPLETED, task, payload)


def task_cancelled(task: Task) -> CloudEvent:
    payload = contract.TaskCancelled(task=snapshot(task), reason=task.cancel_reason)
    return _event(contract.TASK_CANCELLED, task, payload)


def task_reminder_due(task: Task, event_id: str | None = None) -> CloudEvent:
    payload = contract.TaskReminderDue(task=snapshot(task))
    return _event(contract.TASK_REMINDER_DUE, task, payload, event_id)


def task_overdue(task: Task, event_id: str | None = None) -> CloudEvent:
    payload = contract.TaskOverdue(task=snapshot(task))
    return _event(contract.TASK_OVERDUE, task, payload, event_id)


def notification(note: Notification) -> CloudEvent:
    payload = contract.NotificationCreated(
        id=note.id,
        recipient_user_id=note.user_id,
        recipient_team_id=note.team_id,
        title=note.title,
        body=note.body,
        reason=note.reason,
        task_id=note.task_id,
        deal_id=note.deal_id,
        rule_id=note.rule_id,
    )
    # One event per notification: the same notification written again (a firing's,
    # stored twice) is a duplicate JetStream drops.
    event_id = hashlib.sha256(f"{contract.NOTIFICATION_CREATED}:{note.id}".encode()).hexdigest()
    return new_event(
        event_type=contract.NOTIFICATION_CREATED,
        source=SOURCE,
        workspace=note.workspace_id,
        subject=note.id,
        data=payload.wire(),
        event_id=event_id[:32],
    )


def team_changed(team: Team) -> CloudEvent:
    if team.updated_at is None:
        raise ValueError(f"team {team.id} has no updated_at")
    payload = contract.TeamChanged(
        id=team.id,
        name=team.name,
        manager_id=team.manager_id,
        member_ids=list(team.member_ids),
        updated_at=team.updated_at,
    )
    return new_event(
        event_type=contract.TEAM_CHANGED,
        source=SOURCE,
        workspace=team.workspace_id,
        subject=team.id,
        data=payload.wire(),
    )


def access_settings_changed(access: WorkspaceAccess) -> CloudEvent:
    settings = access.settings
    payload = contract.AccessSettingsChanged(
        sharing=dict(settings.sharing),
        field_roles=[
            contract.FieldRoles(field=name, roles=sorted(roles))
            for name, roles in settings.field_roles.items()
        ],
        version=settings.version,
        audit_retention_days=settings.audit_retention_days,
    )
    return new_event(
        event_type=contract.ACCESS_SETTINGS_CHANGED,
        source=SOURCE,
        workspace=access.workspace_id,
        subject=access.workspace_id,
        data=payload.wire(),
    )


def encode(event: object) -> CloudEvent:
    """The writer's `encode`: a domain event of this service as its CloudEvent."""
    match event:
        case events.TaskCreated(task):
            return task_created(task)
        case events.TaskUpdated(task, changed):
            return task_updated(task, changed)
        case events.TaskCompleted(task):
            return task_completed(task)
        case events.TaskCancelled(task):
            return task_cancelled(task)
        case events.ReminderDue(task, event_id):
            return task_reminder_due(task, event_id)
        case events.TaskOverdue(task, event_id):
            return task_overdue(task, event_id)
        case Notification():
            return notification(event)
        case TeamChanged(team):
            return team_changed(team)
        case AccessSettingsChanged(access):
            return access_settings_changed(access)
    raise TypeError(f"not a tasks domain event: {type(event).__name__}")
