"""Creating, changing and completing tasks."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from crm_kit.errors import BadUserInput, NotFound, PreconditionFailed
from crm_kit.ids import is_id, new_id

from ..domain.model import (
    PRIORITIES,
    TASK_TYPES,
    NewTask,
    Task,
    TaskSource,
    keyed_task_id,
    on_time,
    to_ms,
)
from ..domain.transitions import InvalidTransition, check_transition
from ..events import publish
from ..store.protocol import DEAL_TASKS, TASKS, deal_list_id
from .base import Scope
from .teams import get_team, pick_member

MAX_TITLE = 500
_GRAPHQL_FIELDS = {
    "title": "title",
    "description": "description",
    "type": "type",
    "priority": "priority",
    "due_at": "dueAt",
    "remind_at": "remindAt",
    "assignee_id": "assigneeId",
    "team_id": "teamId",
    "deal_id": "dealId",
    "contact_id": "contactId",
    "company_id": "companyId",
    "status": "status",
    "outcome": "outcome",
}


def _validate(draft: NewTask, prefix: str = "input") -> None:
    if not draft.title or not draft.title.strip():
        raise BadUserInput("must not be empty", field=f"{prefix}.title")
    if len(draft.title) > MAX_TITLE:
        raise BadUserInput(f"at most {MAX_TITLE} characters", field=f"{prefix}.title")
    if draft.type not in TASK_TYPES:
        raise BadUserInput(f"must be one of {', '.join(TASK_TYPES)}", field=f"{prefix}.type")
    if draft.priority not in PRIORITIES:
        raise BadUserInput(f"must be one of {', '.join(PRIORITIES)}", field=f"{prefix}.priority")
    if draft.remind_at and draft.due_at and draft.remind_at > draft.due_at:
        raise BadUserInput("must not be after dueAt", field=f"{prefix}.remindAt")


async def prepare_task(
    scope: Scope,
    draft: NewTask,
    *,
    source: TaskSource | None = None,
    idem_key: str | None = None,
    default_to_actor: bool = True,
    prefix: str = "input",
    team_checked: bool = False,
) -> Task:
    """Validate a draft and make the task (assignee picked, id derived from `idem_key` when
    given), without storing it: see `create_tasks`."""
    _validate(draft, prefix)
    assignee_id, team_id = draft.assignee_id, draft.team_id
    if team_id is not None:
        if assignee_id is None:
            assignee_id = await pick_member(scope, team_id, f"{prefix}.teamId", idem_key)
        elif not team_checked:
            await get_team(scope, team_id, f"{prefix}.teamId")
    if (
        assignee_id is None
        and default_to_actor
        and scope.actor
        and not scope.actor.startswith("service:")
    ):
        assignee_id = scope.actor
    now = scope.now()
    task_id = keyed_task_id(scope.workspace_id, idem_key) if idem_key else new_id()
    due_at, remind_at = to_ms(draft.due_at), to_ms(draft.remind_at)
    return Task(
        id=task_id,
        workspace_id=scope.workspace_id,
        title=draft.title.strip(),
        type=draft.type,
        priority=draft.priority,
        description=draft.description,
        created_at=now,
        updated_at=now,
        created_by=scope.actor,
        idem_key=idem_key or f"manual:{task_id}",
        source=source or TaskSource(kind="manual"),
        due_at=due_at,
        remind_at=remind_at,
        assignee_id=assignee_id,
        team_id=team_id,
        deal_id=draft.deal_id,
        contact_id=draft.contact_id,
        company_id=draft.company_id,
        # Nothing to fire for a missing time: mark it as done so no claim ever matches.
        reminder_sent=remind_at is None,
        overdue_sent=due_at is None,
    )


async def create_tasks(scope: Scope, tasks: Sequence[Task]) -> list[Task]:
    """Store prepared tasks together. A task whose id or natural key exists already is
    returned as stored (the natural idempotency of playbooks and rules)."""
    existing_ids = await scope.store.insert_tasks(
        [(task, [publish.task_created(task)]) for task in tasks]
    )
    created = await _as_stored(scope, tasks, existing_ids)
    for task in created:
        # For an existing task too: its events may still wait (a crash after the insert).
        scope.notify_outbox(TASKS, task.id)
    return created


async def create_deal_tasks(scope: Scope, deal_id: str, tasks: Sequence[Task]) -> list[Task]:
    """`create_tasks` for tasks of one deal (a playbook's): their events travel in the
    deal's task list document, one outbox document for all of them."""
    events = [publish.task_created(task) for task in tasks]
    existing_ids = await scope.store.insert_deal_tasks(deal_id, tasks, events)
    scope.notify_outbox(DEAL_TASKS, deal_list_id(scope.workspace_id, deal_id))
    return await _as_stored(scope, tasks, existing_ids)


async def _as_stored(scope: Scope, tasks: Sequence[Task], existing_ids: set[str]) -> list[Task]:
    stored: list[Task] = []
    for task in tasks:
        if task.id in existing_ids:
            existing = await scope.store.get_task(task.id)
            if existing is None:
                existing = await scope.store.get_task_by_idem(task.idem_key)
            if existing is None:  # deleted meanwhile; nothing sensible to return
                raise PreconditionFailed(
                    f"task {task.idem_key} exists under another id", unmet=["idemKey"]
                )
            task = existing
        stored.append(task)
    return stored


async def create_task(
    scope: Scope,
    draft: NewTask,
    *,
    source: TaskSource | None = None,
    idem_key: str | None = None,
    default_to_actor: bool = True,
    prefix: str = "input",
    team_checked: bool = False,
) -> Task:
    """Create a task. With an `idem_key` that exists already, returns the existing task."""
    task = await prepare_task(
        scope,
        draft,
        source=source,
        idem_key=idem_key,
        default_to_actor=default_to_actor,
        prefix=prefix,
        team_checked=team_checked,
    )
    return (await create_tasks(scope, [task]))[0]


async def get_task(scope: Scope, task_id: str, field: str = "id") -> Task:
    task = await scope.store.get_task(task_id) if is_id(task_id) else None
    if task is None:
        raise NotFound(f"no task {task_id}", field=field)
    return task


def _events_for_update(changed: list[str]) -> Any:
    return lambda task: [publish.task_updated(task, changed)]


async def update_task(
    scope: Scope, task_id: str, changes: dict[str, Any], *, expect: dict[str, Any] | None = None
) -> Task:
    """Change editable fields (not status: see `set_status`). `expect` (field -> value)
    must hold on the task, checked again under its lock at the write (PRECONDITION_FAILED
    naming the fields otherwise): a conditional update such as a handover's."""
    current = await get_task(scope, task_id)
    if not current.active:
        raise PreconditionFailed(
            f"a {current.status} task cannot be edited", unmet=["status"], field="id"
        )
    unmet = [key for key, value in (expect or {}).items() if getattr(current, key) != value]
    if unmet:
        raise PreconditionFailed("the task changed meanwhile", unmet=unmet, field="id")
    if "title" in changes or "type" in changes or "priority" in changes:
        _validate(
            NewTask(
                title=changes.get("title", current.title),
                type=changes.get("type", current.type),
                priority=changes.get("priority", current.priority),
            )
        )
    for key in ("due_at", "remind_at"):
        if key in changes:
            changes[key] = to_ms(changes[key])
    due = changes.get("due_at", current.due_at)
    remind = changes.get("remind_at", current.remind_at)
    if due and remind and remind > due:
        raise BadUserInput("must not be after dueAt", field="input.remindAt")
    if changes.get("team_id") and not changes.get("assignee_id"):
        changes["assignee_id"] = await pick_member(scope, changes["team_id"])
    elif changes.get("team_id"):
        await get_team(scope, changes["team_id"], "input.teamId")
    # A new time re-arms its reminder / overdue notice.
    if "remind_at" in changes:
        changes["reminder_sent"] = changes["remind_at"] is None
    if "due_at" in changes:
        changes["overdue_sent"] = changes["due_at"] is None
    changes = {k: v for k, v in changes.items() if getattr(current, k) != v}
    if not changes:
        return current
    changes["updated_at"] = scope.now()
    changed = sorted(_GRAPHQL_FIELDS[k] for k in changes if k in _GRAPHQL_FIELDS)
    task = await scope.store.update_task(
        task_id,
        changes,
        _events_for_update(changed),
        expect={**(expect or {}), "status": current.status},
    )
    if task is None:
        raise PreconditionFailed(
            "the task changed meanwhile; retry", unmet=["status", *(expect or {})]
        )
    scope.notify_outbox(TASKS, task.id)
    return task


async def set_status(
    scope: Scope,
    task_id: str,
    status: str,
    *,
    outcome: str | None = None,
    reason: str | None = None,
) -> Task:
    """Move a task along its lifecycle; an invalid transition is PRECONDITION_FAILED."""
    current = await get_task(scope, task_id)
    try:
        check_transition(current.status, status)
    except InvalidTransition as error:
        raise PreconditionFailed(
            str(error),
            field="status",
            unmet=["status"],
            currentStatus=error.current.upper(),
            allowed=[s.upper() for s in error.allowed],
        ) from None
    now = scope.now()
    changes: dict[str, Any] = {"status": status, "updated_at": now}
    if status == "done":
        changes.update(
            completed_at=now,
            completed_by=scope.actor,
            outcome=outcome,
            on_time=on_time(now, current.due_at),
        )
        events_for: Any = lambda task: [publish.task_completed(task)]  # noqa: E731
    elif status == "cancelled":
        changes["cancel_reason"] = reason
        events_for = lambda task: [publish.task_cancelled(task)]  # noqa: E731
    else:
        events_for = _events_for_update(["status"])
    task = await scope.store.update_task(
        task_id, changes, events_for, expect={"status": current.status}
    )
    if task is None:
        latest = await get_task(scope, task_id)
        raise PreconditionFailed(
            f"the task is now {latest.status}; reload and retry",
            field="status",
            unmet=["status"],
            currentStatus=latest.status.upper(),
        )
    scope.notify_outbox(TASKS, task.id)
    return task


async def complete_task(scope: Scope, task_id: str, outcome: str | None = None) -> Task:
    return await set_status(scope, task_id, "done", outcome=outcome)


async def cancel_task(scope: Scope, task_id: str, reason: str | None = None) -> Task:
    return await set_status(scope, task_id, "cancelled", reason=reason)
