"""Record sharing on the task reads (`crm_kit.sharing`): a task the caller may not see is
left out of every list and count and is NOT_FOUND by id, as if it did not exist. A task is
held by its assignee and its creator."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from ..domain.queries import TaskFilter
from ..domain.task import Task
from .scope import Scope


async def narrowed(scope: Scope, where: TaskFilter) -> TaskFilter:
    """`where`, narrowed to the tasks the caller sees (pushed down to the store)."""
    seen = (await scope.access()).of("task")
    return where if seen.everything else replace(where, visible_to=seen.holders)


async def visible_tasks(scope: Scope, tasks: Sequence[Task]) -> list[Task]:
    seen = (await scope.access()).of("task")
    return [task for task in tasks if seen.sees((task.assignee_id, task.created_by))]
