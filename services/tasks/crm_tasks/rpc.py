"""NATS request/reply endpoints (micro protocol) for other internal services.

Subjects (outside every JetStream stream): `rpc.tasks.task.create` (rep, manager or
admin) and `rpc.tasks.task.list_open` (any role). Every request carries the caller's signed
assertion (`crm_kit.rpc`) and acts in its workspace only, as the user or service it names:
that identity, never a field of the body, is the task's creator. Replies are
`{"data": ...}`; errors carry the micro-protocol error headers and
`{"error": {"code", "message"}}` with code UNAUTHENTICATED (no valid assertion), FORBIDDEN
(a role that may not call it), BAD_REQUEST (body not a JSON object, invalid field: the
message names it), NOT_FOUND (an unknown team) or INTERNAL.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from crm_contracts import tasks as contract
from crm_kit.context import RequestContext
from crm_kit.errors import BadUserInput, CRMError, NotFound
from crm_kit.rpc import READ, WRITE, Endpoint, RpcError

from .domain.model import ACTIVE_STATUSES, NewTask, Task, as_utc, utcnow
from .events.publish import iso, snapshot
from .store.protocol import TaskFilter, TaskPageRequest, TasksStore
from .usecases.base import Notify, Scope
from .usecases.tasks import create_task

LIST_LIMIT = 500
_TEXT_FIELDS = {
    "title": "title",
    "type": "type",
    "priority": "priority",
    "description": "description",
    "assigneeId": "assignee_id",
    "teamId": "team_id",
    "dealId": "deal_id",
    "contactId": "contact_id",
    "companyId": "company_id",
}


def _text(payload: dict[str, Any], key: str) -> str | None:
    value = payload.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise RpcError("BAD_REQUEST", f"'{key}' must be a string")
    return value.strip() or None


def _time(payload: dict[str, Any], key: str) -> datetime | None:
    value = _text(payload, key)
    if value is None:
        return None
    try:
        return as_utc(datetime.fromisoformat(value.replace("Z", "+00:00")))
    except ValueError:
        raise RpcError("BAD_REQUEST", f"'{key}' must be an ISO 8601 date-time") from None


def task_reply(task: Task) -> dict[str, Any]:
    return {**snapshot(task).wire(), "createdAt": iso(task.created_at)}


def endpoints(
    store: TasksStore,
    notify_outbox: Notify,
    clock: Callable[[], datetime] = utcnow,
) -> list[Endpoint]:
    def scope(caller: RequestContext) -> Scope:
        return Scope(store.for_workspace(caller.workspace_id), caller.subject, notify_outbox, clock)

    async def task_create(caller: RequestContext, payload: dict[str, Any]) -> dict[str, Any]:
        created_by = _text(payload, "createdBy")
        if created_by is not None and created_by != caller.subject:
            raise RpcError("BAD_REQUEST", "'createdBy' is the caller the assertion names")
        fields = {attr: _text(payload, key) for key, attr in _TEXT_FIELDS.items()}
        if not fields["title"]:
            raise RpcError("BAD_REQUEST", "'title' must be a non-empty string")
        draft = NewTask(
            title=fields["title"],
            type=(fields["type"] or "todo").lower(),
            priority=(fields["priority"] or "normal").lower(),
            description=fields["description"],
            due_at=_time(payload, "dueAt"),
            remind_at=_time(payload, "remindAt"),
            assignee_id=fields["assignee_id"],
            team_id=fields["team_id"],
            deal_id=fields["deal_id"],
            contact_id=fields["contact_id"],
            company_id=fields["company_id"],
        )
        key = _text(payload, "idempotencyKey")
        try:
            task = await create_task(
                scope(caller),
                draft,
                idem_key=f"rpc:{key}" if key else None,
                default_to_actor=False,
                prefix="body",
            )
        except BadUserInput as error:
            raise RpcError("BAD_REQUEST", f"{error.field}: {error.message}") from None
        except NotFound as error:
            raise RpcError("NOT_FOUND", error.message) from None
        except CRMError as error:
            raise RpcError(error.code, error.message) from None
        return task_reply(task)

    async def task_list_open(caller: RequestContext, payload: dict[str, Any]) -> dict[str, Any]:
        deal_id, contact_id = _text(payload, "dealId"), _text(payload, "contactId")
        if bool(deal_id) == bool(contact_id):
            raise RpcError("BAD_REQUEST", "give exactly one of 'dealId' or 'contactId'")
        flt = TaskFilter(
            statuses=ACTIVE_STATUSES,
            deal_ids=[deal_id] if deal_id else None,
            contact_ids=[contact_id] if contact_id else None,
        )
        found = await store.for_workspace(caller.workspace_id).find_tasks(
            flt, clock(), TaskPageRequest(sort_field="due_at", limit=LIST_LIMIT)
        )
        return {"tasks": [task_reply(t) for t in found], "truncated": len(found) == LIST_LIMIT}

    return [
        Endpoint(
            name="task-create",
            subject=contract.RPC_TASK_CREATE,
            handler=task_create,
            description="Create a task: {title, type, dueAt, assigneeId|teamId, dealId, ...}",
            roles=WRITE,
        ),
        Endpoint(
            name="task-list-open",
            subject=contract.RPC_TASKS_OPEN_FOR,
            handler=task_list_open,
            description="Open and in-progress tasks of a deal or contact: {dealId}|{contactId}",
            roles=READ,
        ),
    ]
