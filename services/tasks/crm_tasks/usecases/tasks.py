"""Creating, changing and completing tasks."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from crm_kit import bounds
from crm_kit.access import require_change, require_change_visible
from crm_kit.clock import to_millis
from crm_kit.errors import BadUserInput, NotFound, PreconditionFailed
from crm_kit.ids import is_id, new_id
from crm_kit.unset import Unset, or_default

from ..domain.task import PRIORITIES, TASK_TYPES, Task, TaskSource, keyed_id
from ..domain.transitions import InvalidTransition
from ..store.port import Change, ChangedMeanwhile, Named
from .inputs import TaskChanges, TaskInput
from .scope import Scope
from .teams import get_team, pick_member
from .visibility import visible_tasks

MAX_TITLE = 500
# Optional texts of a task and their maximums: attribute -> (client field, limit).
_TEXT_LIMITS = {
    "description": ("description", bounds.MAX_TEXT),
    "assignee_id": ("assigneeId", bounds.MAX_ID),
    "team_id": ("teamId", bounds.MAX_ID),
    "deal_id": ("dealId", bounds.MAX_ID),
    "contact_id": ("contactId", bounds.MAX_ID),
    "company_id": ("companyId", bounds.MAX_ID),
}


def _check_texts(data: TaskInput | TaskChanges, prefix: str) -> None:
    for attribute, (name, limit) in _TEXT_LIMITS.items():
        given = getattr(data, attribute)
        if isinstance(given, str):  # not UNSET nor None
            bounds.text(given, limit, f"{prefix}.{name}")


def _check(title: str, type_: str, priority: str, prefix: str) -> None:
    if not title or not title.strip():
        raise BadUserInput("must not be empty", field=f"{prefix}.title")
    if len(title) > MAX_TITLE:
        raise BadUserInput(f"at most {MAX_TITLE} characters", field=f"{prefix}.title")
    if type_ not in TASK_TYPES:
        raise BadUserInput(f"must be one of {', '.join(TASK_TYPES)}", field=f"{prefix}.type")
    if priority not in PRIORITIES:
        raise BadUserInput(f"must be one of {', '.join(PRIORITIES)}", field=f"{prefix}.priority")


def _check_times(remind_at: datetime | None, due_at: datetime | None, prefix: str) -> None:
    if remind_at and due_at and remind_at > due_at:
        raise BadUserInput("must not be after dueAt", field=f"{prefix}.remindAt")


def _millis(value: datetime | None) -> datetime | None:
    return to_millis(value) if value is not None else None


async def new_task(
    scope: Scope,
    data: TaskInput,
    *,
    source: TaskSource | None = None,
    idem_key: str | None = None,
    default_to_actor: bool = True,
    prefix: str = "input",
    team_checked: bool = False,
) -> Task:
    """Validate what a caller asks for and make the task (assignee picked, id derived from
    `idem_key` when given), without storing it: see `store_tasks`."""
    _check(data.title, data.type, data.priority, prefix)
    _check_texts(data, prefix)
    _check_times(data.remind_at, data.due_at, prefix)
    assignee_id, team_id = data.assignee_id, data.team_id
    if team_id is not None:
        if assignee_id is None:
            assignee_id = await pick_member(scope, team_id, f"{prefix}.teamId", idem_key)
        elif not team_checked:
            await get_team(scope, team_id, f"{prefix}.teamId")
    if assignee_id is None and default_to_actor and not scope.is_service:
        assignee_id = scope.actor
    now = scope.now()
    task_id = keyed_id(scope.workspace_id, idem_key) if idem_key else new_id()
    return Task.create(
        id=task_id,
        workspace_id=scope.workspace_id,
        title=data.title.strip(),
        type=data.type,
        priority=data.priority,
        description=data.description,
        created_at=now,
        updated_at=now,
        created_by=scope.actor,
        idem_key=idem_key or f"manual:{task_id}",
        source=source or TaskSource(kind="manual"),
        due_at=_millis(data.due_at),
        remind_at=_millis(data.remind_at),
        assignee_id=assignee_id,
        team_id=team_id,
        deal_id=data.deal_id,
        contact_id=data.contact_id,
        company_id=data.company_id,
    )


async def store_tasks(scope: Scope, tasks: Sequence[Task]) -> list[Task]:
    """Store new tasks together. A task whose id or natural key exists already is returned
    as stored (the natural idempotency of playbooks, rules and keyed requests)."""
    refused = await scope.store.add_tasks(tasks)
    return await _as_stored(scope, tasks, refused)


async def store_playbook_tasks(scope: Scope, by_deal: Mapping[str, Sequence[Task]]) -> list[Task]:
    """`store_tasks` for the tasks of deals created together (playbooks), by deal."""
    refused = await scope.store.add_playbook_tasks(by_deal)
    return await _as_stored(scope, [task for tasks in by_deal.values() for task in tasks], refused)


async def _as_stored(scope: Scope, tasks: Sequence[Task], refused: Sequence[Task]) -> list[Task]:
    existing = {task.id for task in refused}
    stored: list[Task] = []
    for task in tasks:
        if task.id in existing:
            found = await scope.store.get_tasks([task.id])
            held = found[0] if found else await scope.store.task_by_key(task.idem_key)
            if held is None:  # deleted meanwhile; nothing sensible to return
                raise PreconditionFailed(
                    f"task {task.idem_key} exists under another id", unmet=["idemKey"]
                )
            task = held
        stored.append(task)
    return stored


async def create_task(
    scope: Scope,
    data: TaskInput,
    *,
    idem_key: str | None = None,
    default_to_actor: bool = True,
    prefix: str = "input",
) -> Task:
    """Create a task (source MANUAL). With an `idem_key` that exists already, returns the
    existing task. Without an assignee or a team it goes to the caller, a person, unless
    `default_to_actor` is false."""
    scope.require_write()
    task = await new_task(
        scope, data, idem_key=idem_key, default_to_actor=default_to_actor, prefix=prefix
    )
    await check_references(
        scope, Named(task.deal_id, task.contact_id, task.company_id), prefix=prefix
    )
    return (await store_tasks(scope, [task]))[0]


_CLIENT_NAMES = {"deal_id": "dealId", "contact_id": "contactId", "company_id": "companyId"}


async def check_references(scope: Scope, named: Named, *, prefix: str = "input") -> None:
    """The deal, contact and company a user names must be live records of the workspace:
    BAD_USER_INPUT naming the first that is not. Users only: the service acting on its own
    (a playbook, a rule) writes ids its events gave it."""
    if scope.references is None or scope.is_service:
        return
    if named == Named():
        return
    missing = await scope.references.missing(scope.caller, named)
    if missing:
        name = missing[0]
        raise BadUserInput(
            f"no {name.removesuffix('_id')} {getattr(named, name)!r} in this workspace",
            field=f"{prefix}.{_CLIENT_NAMES[name]}",
        )


async def get_task(scope: Scope, task_id: str, field: str = "id") -> Task:
    """NOT_FOUND for a task the caller may not see (record sharing), as for none."""
    found = await scope.store.get_tasks([task_id]) if is_id(task_id) else []
    found = await visible_tasks(scope, found)
    if not found:
        raise NotFound(f"no task {task_id}", field=field)
    return found[0]


async def _values(scope: Scope, data: TaskChanges) -> dict[str, Any]:
    """The validated attributes `data` gives (attribute -> value). A team without an
    assignee takes its next member here, once, not in the change (which may run again)."""
    values: dict[str, Any] = {
        item.name: value
        for item in dataclasses.fields(data)
        if not isinstance(value := getattr(data, item.name), Unset)
    }
    for name in ("due_at", "remind_at"):
        if name in values:
            values[name] = _millis(values[name])
    team_id = values.get("team_id")
    if team_id and not values.get("assignee_id"):
        values["assignee_id"] = await pick_member(scope, team_id)
    elif team_id:
        await get_team(scope, team_id, "input.teamId")
    return values


def _require_holder(scope: Scope, task: Task) -> None:
    """A rep changes only the tasks assigned to them or created by them (crm_kit.access)."""
    require_change(scope.caller, [task.assignee_id, task.created_by], kind="task")


def _editable(task: Task, expect: Mapping[str, Any] | None) -> None:
    if not task.active:
        raise PreconditionFailed(
            f"a {task.status} task cannot be edited", unmet=["status"], field="id"
        )
    unmet = [name for name, value in (expect or {}).items() if getattr(task, name) != value]
    if unmet:
        raise PreconditionFailed("the task changed meanwhile", unmet=unmet, field="id")


async def update_task(
    scope: Scope,
    task_id: str,
    data: TaskChanges,
    *,
    expect: Mapping[str, Any] | None = None,
) -> Task:
    """Change editable fields (not the status: see `set_status`). `expect` (attribute ->
    value) must hold on the task as stored when it is written (PRECONDITION_FAILED naming
    the fields otherwise): a conditional update such as a handover's."""
    scope.require_write()
    current = await get_task(scope, task_id)
    # Before a team's turn is taken for it; again on the write.
    _require_holder(scope, current)
    _editable(current, expect)
    _check_texts(data, "input")
    if any(isinstance(given, str) for given in (data.title, data.type, data.priority)):
        _check(
            or_default(data.title, current.title),
            or_default(data.type, current.type),
            or_default(data.priority, current.priority),
            "input",
        )
    values = await _values(scope, data)
    # Only what the change names anew.
    await check_references(
        scope,
        Named(
            *(
                values[name]
                if values.get(name) and values[name] != getattr(current, name)
                else None
                for name in ("deal_id", "contact_id", "company_id")
            )
        ),
    )

    async def change(task: Task) -> bool:
        _editable(task, expect)
        _check_times(
            values.get("remind_at", task.remind_at), values.get("due_at", task.due_at), "input"
        )
        return bool(task.change(values, at=scope.now()))

    return await _changed(scope, task_id, change, ["status", *(expect or {})])


async def set_status(
    scope: Scope,
    task_id: str,
    status: str,
    *,
    outcome: str | None = None,
    reason: str | None = None,
) -> Task:
    """Move a task along its lifecycle; an invalid transition is PRECONDITION_FAILED."""
    scope.require_write()
    _require_holder(scope, await get_task(scope, task_id))

    async def move(task: Task) -> bool:
        try:
            task.move_to(status, at=scope.now(), by=scope.actor, outcome=outcome, reason=reason)
        except InvalidTransition as error:
            raise PreconditionFailed(
                str(error),
                field="status",
                unmet=["status"],
                currentStatus=error.current.upper(),
                allowed=[s.upper() for s in error.allowed],
            ) from None
        return True

    return await _changed(scope, task_id, move, ["status"])


async def _changed(scope: Scope, task_id: str, change: Change[Task], unmet: list[str]) -> Task:
    seen = (await scope.access()).of("task")

    async def held(task: Task) -> bool:
        # As read for the write: a reassignment meanwhile counts, and one that hid the task
        # from the caller answers as for no task.
        require_change_visible(
            scope.caller,
            seen,
            [task.assignee_id, task.created_by],
            kind="task",
            not_found=NotFound(f"no task {task_id}", field="id"),
        )
        return await change(task)

    try:
        task = await scope.store.change_task(task_id, held)
    except ChangedMeanwhile:
        raise PreconditionFailed("the task changed meanwhile; retry", unmet=unmet) from None
    if task is None:
        raise NotFound(f"no task {task_id}", field="id")
    return task


async def complete_task(scope: Scope, task_id: str, outcome: str | None = None) -> Task:
    return await set_status(scope, task_id, "done", outcome=outcome)


async def cancel_task(scope: Scope, task_id: str, reason: str | None = None) -> Task:
    return await set_status(scope, task_id, "cancelled", reason=reason)
