"""Owner handover: active tasks of one user go to another.

Two ways in: a deal's owner change (`crm.deals.deal.updated.v1` with `ownerId` among its
changed fields and the previous owner: a handover or a plain edit; the event is written
with the owner change itself, so the tasks follow even if a handover stopped half-way)
and the `handOverTasks` mutation (all of a user's active tasks). Both find the
tasks through indexed paths (a deal's task list, the read index's assignee postings; no
scan) and change each through `update_task` on the condition that it is still assigned to
the old user and to no team (`task.updated` with `assigneeId`). A task handed to a team
stays with the team's pick; tasks of other people are not touched. A repeat finds nothing
left to move.
"""

from __future__ import annotations

from collections.abc import Sequence

from crm_kit import bounds
from crm_kit.errors import BadUserInput, NotFound, PreconditionFailed

from ..domain.queries import TaskFilter
from ..domain.task import ACTIVE_STATUSES, Task
from .inputs import TaskChanges
from .scope import Scope
from .tasks import update_task


def _user(value: str | None, field: str) -> str:
    text = value.strip() if isinstance(value, str) else ""
    if not text:
        raise BadUserInput("must not be blank", field=field)
    bounds.text(text, bounds.MAX_ID, field)
    return text


async def _reassign(scope: Scope, tasks: Sequence[Task], source: str, target: str) -> list[str]:
    moved: list[str] = []
    for task in tasks:
        if task.team_id or task.assignee_id != source or not task.active:
            continue
        try:
            await update_task(
                scope,
                task.id,
                TaskChanges(assignee_id=target),
                expect={"assignee_id": source, "team_id": None},
            )
        except (NotFound, PreconditionFailed):
            continue  # done, cancelled or reassigned meanwhile
        moved.append(task.id)
    return moved


async def hand_over_tasks(scope: Scope, from_user_id: str, to_user_id: str) -> list[str]:
    """Every active task of `from_user_id` (not a team's) to `to_user_id`; the moved ids."""
    scope.require_manager("hand tasks over")
    source = _user(from_user_id, "input.fromUserId")
    target = _user(to_user_id, "input.toUserId")
    if source == target:
        raise BadUserInput("must differ from fromUserId", field="input.toUserId")
    flt = TaskFilter(assignee_id=source, statuses=list(ACTIVE_STATUSES))
    return await _reassign(scope, await scope.store.find_tasks(flt, scope.now()), source, target)


async def follow_owner_change(
    scope: Scope, deal_id: str, previous_owner: str, new_owner: str
) -> list[str]:
    """The deal's active tasks of its previous owner go to the new one."""
    if previous_owner == new_owner:
        return []
    flt = TaskFilter(deal_ids=[deal_id], assignee_id=previous_owner, statuses=list(ACTIVE_STATUSES))
    tasks = await scope.store.find_tasks(flt, scope.now())
    return await _reassign(scope, tasks, previous_owner, new_owner)
