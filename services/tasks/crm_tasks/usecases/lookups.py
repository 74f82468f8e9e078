"""Reading tasks: lists, the caller's own, by id, of deals and contacts."""

from __future__ import annotations

from collections.abc import Sequence

from crm_kit.pagination import Cursor, Page

from ..domain.queries import BY_DUE, TaskFilter, TaskOrder
from ..domain.task import ACTIVE_STATUSES, Task
from .scope import Scope
from .visibility import narrowed, visible_tasks

MY_TASKS_LIMIT = 500
OPEN_LIMIT = 500


async def list_tasks(
    scope: Scope, where: TaskFilter, order: TaskOrder, after: Cursor | None, first: int
) -> Page[Task]:
    where = await narrowed(scope, where)
    return await scope.store.list_tasks(where, scope.now(), order, after, first)


async def my_tasks(scope: Scope) -> list[Task]:
    """The caller's open and in-progress tasks (at most 500): overdue first, then by due
    date (undated last)."""
    now = scope.now()
    # Assigned to the caller: held by them, so visible under every sharing level.
    mine = TaskFilter(assignee_id=scope.actor, statuses=ACTIVE_STATUSES)
    found = await scope.store.find_tasks(mine, now, BY_DUE, MY_TASKS_LIMIT)
    found.sort(key=lambda task: (not task.is_overdue(now), task.due_sort, task.id))
    return found


async def tasks_by_id(scope: Scope, ids: Sequence[str]) -> list[Task]:
    return await visible_tasks(scope, await scope.store.get_tasks(ids))


async def tasks_of(
    scope: Scope,
    *,
    deal_ids: Sequence[str] | None = None,
    contact_ids: Sequence[str] | None = None,
    statuses: Sequence[str] | None = None,
) -> list[Task]:
    """The tasks of these deals or contacts, by due date (undated last, by creation)."""
    where = TaskFilter(deal_ids=deal_ids, contact_ids=contact_ids, statuses=statuses)
    found = await scope.store.find_tasks(await narrowed(scope, where), scope.now())
    found.sort(key=lambda t: (t.due_at is None, t.due_at or t.created_at, t.id))
    return found


async def open_tasks_of(
    scope: Scope, *, deal_id: str | None = None, contact_id: str | None = None
) -> tuple[list[Task], bool]:
    """OPEN and IN_PROGRESS tasks of a deal or a contact by due date, at most 500, and
    whether there were more."""
    where = TaskFilter(
        statuses=ACTIVE_STATUSES,
        deal_ids=[deal_id] if deal_id else None,
        contact_ids=[contact_id] if contact_id else None,
    )
    where = await narrowed(scope, where)
    found = await scope.store.find_tasks(where, scope.now(), BY_DUE, OPEN_LIMIT)
    return found, len(found) == OPEN_LIMIT
