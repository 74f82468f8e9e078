"""Events published by the tasks service and its request/reply endpoints."""

from __future__ import annotations

from .base import Payload, UtcDateTime
from .endpoints import COMMON_ERRORS, RpcEndpoint
from .envelope import event_subject
from .streams import rpc_subject

SERVICE = "tasks"

TASK_CREATED = event_subject(SERVICE, "task", "created")
TASK_UPDATED = event_subject(SERVICE, "task", "updated")
TASK_COMPLETED = event_subject(SERVICE, "task", "completed")
TASK_CANCELLED = event_subject(SERVICE, "task", "cancelled")
TASK_REMINDER_DUE = event_subject(SERVICE, "task", "reminder_due")
TASK_OVERDUE = event_subject(SERVICE, "task", "overdue")
NOTIFICATION_CREATED = event_subject(SERVICE, "notification", "created")
# Who is in which team, and the workspace's sharing settings: the other services keep a
# projection of both to decide which records a caller sees (`crm_kit.sharing`).
TEAM_CHANGED = event_subject(SERVICE, "team", "changed")
ACCESS_SETTINGS_CHANGED = event_subject(SERVICE, "access_settings", "changed")

RPC_TASK_CREATE = rpc_subject(SERVICE, "task", "create")
RPC_TASKS_OPEN_FOR = rpc_subject(SERVICE, "task", "list_open")


class TaskSource(Payload):
    kind: str  # manual | playbook | rule
    template_key: str | None = None
    rule_id: str | None = None
    stage_change_id: str | None = None


class TaskSnapshot(Payload):
    id: str
    title: str
    type: str
    status: str
    priority: str
    due_at: UtcDateTime | None = None
    remind_at: UtcDateTime | None = None
    assignee_id: str | None = None
    team_id: str | None = None
    deal_id: str | None = None
    contact_id: str | None = None
    company_id: str | None = None
    source: TaskSource
    # Who created it (a user, or `service:<name>`): with the assignee, who holds it.
    created_by: str | None = None


class TaskCreated(Payload):
    task: TaskSnapshot


class TaskUpdated(Payload):
    task: TaskSnapshot
    changed_fields: list[str]


class TaskCompleted(Payload):
    task: TaskSnapshot
    completed_at: UtcDateTime
    completed_by: str | None = None
    outcome: str | None = None
    on_time: bool


class TaskCancelled(Payload):
    task: TaskSnapshot
    reason: str | None = None


class TaskReminderDue(Payload):
    task: TaskSnapshot


class TaskOverdue(Payload):
    task: TaskSnapshot


class NotificationCreated(Payload):
    """A message for a person or a team; any delivery channel (email, chat, the web client)
    consumes these."""

    id: str
    recipient_user_id: str | None = None
    recipient_team_id: str | None = None
    title: str
    body: str | None = None
    reason: str  # rule | escalation | reminder | overdue
    task_id: str | None = None
    deal_id: str | None = None
    rule_id: str | None = None


class TeamChanged(Payload):
    """A team as it is now (created or changed); `updated_at` orders the versions."""

    id: str
    name: str
    manager_id: str | None = None
    member_ids: list[str]
    updated_at: UtcDateTime


class FieldRoles(Payload):
    """A sensitive field (deal.amount, contact.email, contact.phone) and the roles that may
    read it."""

    field: str
    roles: list[str]


class AccessSettingsChanged(Payload):
    """The workspace's sharing settings as they are now, whole; `version` orders them.

    `sharing`: record type (deal, contact, task) -> everyone | team | own (absent:
    everyone). `field_roles`: the sensitive fields only some roles read (absent: every
    role). `auditRetentionDays`: how long every service keeps the workspace's audit log
    (absent or null: the platform's setting)."""

    sharing: dict[str, str]
    field_roles: list[FieldRoles]
    version: int
    # Days the workspace's audit log is kept (null: the platform's AUDIT_RETENTION_DAYS).
    audit_retention_days: int | None = None


# --- request/reply bodies (JSON, camelCase; `crm_kit.rpc`) ------------------------------


class TaskCreateRequest(Payload):
    """The task's creator is the caller the assertion names (`createdBy`, if given, must
    be the same)."""

    title: str
    type: str | None = None  # call, email, meeting, todo (default), follow_up
    priority: str | None = None  # low, normal (default), high, urgent
    description: str | None = None
    due_at: str | None = None  # ISO 8601
    remind_at: str | None = None
    assignee_id: str | None = None
    team_id: str | None = None
    deal_id: str | None = None
    contact_id: str | None = None
    company_id: str | None = None
    # The same key again answers with the task the first request created.
    idempotency_key: str | None = None
    created_by: str | None = None


class TaskListOpenRequest(Payload):
    """Exactly one of the two."""

    deal_id: str | None = None
    contact_id: str | None = None


class TaskReply(TaskSnapshot):
    created_at: UtcDateTime


class OpenTasks(Payload):
    """Open and in-progress tasks, by due date; at most 500 (`truncated` beyond)."""

    tasks: list[TaskReply]
    truncated: bool


EVENTS: dict[str, type[Payload]] = {
    TASK_CREATED: TaskCreated,
    TASK_UPDATED: TaskUpdated,
    TASK_COMPLETED: TaskCompleted,
    TASK_CANCELLED: TaskCancelled,
    TASK_REMINDER_DUE: TaskReminderDue,
    TASK_OVERDUE: TaskOverdue,
    NOTIFICATION_CREATED: NotificationCreated,
    TEAM_CHANGED: TeamChanged,
    ACCESS_SETTINGS_CHANGED: AccessSettingsChanged,
}

ENDPOINTS: tuple[RpcEndpoint, ...] = (
    RpcEndpoint(
        RPC_TASK_CREATE,
        "Create a task, as the calling user or service.",
        TaskCreateRequest,
        TaskReply,
        roles="write",
        errors=(*COMMON_ERRORS, "NOT_FOUND", "CONFLICT"),
    ),
    RpcEndpoint(
        RPC_TASKS_OPEN_FOR,
        "The open and in-progress tasks of a deal or a contact.",
        TaskListOpenRequest,
        OpenTasks,
        roles="read",
    ),
)
