"""Owner handover: active tasks of one user go to another.

Two ways in: the deals service's `crm.deals.deals.handed_over.v1` (the tasks of the deals
handed over) and the `handOverTasks` mutation (all of a user's active tasks). Both find the
tasks through indexed paths (a deal's task list, the read index's assignee postings; no
scan) and change each through `update_task` on the condition that it is still assigned to
the old user and to no team (`task.updated` with `assigneeId`). A task handed to a team
stays with the team's pick; tasks of other people are not touched. A repeat finds nothing
left to move.
"""

from __future__ import annotations

from collections.abc import Sequence

from crm_contracts.deals import DealsHandedOver
from crm_kit.errors import BadUserInput, NotFound, PreconditionFailed

from ..domain.model import ACTIVE_STATUSES, Task
from ..store.protocol import TaskFilter
from .base import Scope
from .tasks import update_task


def _user(value: str | None, field: str) -> str:
    text = value.strip() if isinstance(value, str) else ""
    if not text:
        raise BadUserInput("must not be blank", field=field)
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
                {"assignee_id": target},
                expect={"assignee_id": source, "team_id": None},
            )
        except (NotFound, PreconditionFailed):
            continue  # done, cancelled or reassigned meanwhile
        moved.append(task.id)
    return moved


async def hand_over_tasks(scope: Scope, from_user_id: str, to_user_id: str) -> list[str]:
    """Every active task of `from_user_id` (not a team's) to `to_user_id`; the moved ids."""
    source = _user(from_user_id, "input.fromUserId")
    target = _user(to_user_id, "input.toUserId")
    if source == target:
        raise BadUserInput("must differ from fromUserId", field="input.toUserId")
    flt = TaskFilter(assignee_id=source, statuses=list(ACTIVE_STATUSES))
    return await _reassign(scope, await scope.store.find_tasks(flt, scope.now()), source, target)


async def follow_deal_handover(scope: Scope, handover: DealsHandedOver) -> list[str]:
    """The handed-over deals' active tasks of the old owner go to the new one."""
    if not handover.deal_ids or handover.from_owner_id == handover.to_owner_id:
        return []
    flt = TaskFilter(
        deal_ids=list(handover.deal_ids),
        assignee_id=handover.from_owner_id,
        statuses=list(ACTIVE_STATUSES),
    )
    tasks = await scope.store.find_tasks(flt, scope.now())
    return await _reassign(scope, tasks, handover.from_owner_id, handover.to_owner_id)
