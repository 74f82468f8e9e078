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

from datetime import datetime
from typing import Any

from crm_contracts import tasks as contract
from crm_kit.clock import iso, parse_iso
from crm_kit.context import RequestContext
from crm_kit.errors import BadUserInput, CRMError, NotFound
from crm_kit.rpc import READ, WRITE, Endpoint, RpcError

from ..domain.task import Task
from ..events.publish import snapshot
from ..usecases import lookups
from ..usecases.inputs import TaskInput
from ..usecases.scope import Scopes
from ..usecases.tasks import create_task

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
        return parse_iso(value)
    except ValueError:
        raise RpcError("BAD_REQUEST", f"'{key}' must be an ISO 8601 date-time") from None


def task_reply(task: Task) -> dict[str, Any]:
    return {**snapshot(task).wire(), "createdAt": iso(task.created_at)}


def endpoints(scopes: Scopes) -> list[Endpoint]:
    async def task_create(caller: RequestContext, payload: dict[str, Any]) -> dict[str, Any]:
        created_by = _text(payload, "createdBy")
        if created_by is not None and created_by != caller.subject:
            raise RpcError("BAD_REQUEST", "'createdBy' is the caller the assertion names")
        fields = {attr: _text(payload, key) for key, attr in _TEXT_FIELDS.items()}
        title = fields["title"]
        if not title:
            raise RpcError("BAD_REQUEST", "'title' must be a non-empty string")
        data = TaskInput(
            title=title,
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
                scopes(caller),
                data,
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
        found, truncated = await lookups.open_tasks_of(
            scopes(caller), deal_id=deal_id, contact_id=contact_id
        )
        return {"tasks": [task_reply(task) for task in found], "truncated": truncated}

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
