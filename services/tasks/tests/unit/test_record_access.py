"""Record-level write access on tasks (crm_kit.access), as a matrix: role x operation.

Admins and managers change every task of the workspace; a rep only the tasks assigned to
them or created by them (and may pass one on); a viewer none. Tasks have no field only the
system may set. A refusal is FORBIDDEN naming the field, and the task and the outbox stay
as they were."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from crm_kit.errors import Forbidden
from crm_kit.testing import Clock
from crm_tasks.usecases import tasks
from crm_tasks.usecases.inputs import TaskChanges, TaskInput
from crm_tasks.usecases.scope import Scope

from .conftest import T0, FakeStore, caller_scope

ASSIGNEE = "rita"
CALLERS = {
    "admin": ("ada", "admin"),
    "manager": ("max", "manager"),
    "rep-owner": (ASSIGNEE, "rep"),
    "rep-other": ("otto", "rep"),
    "viewer": ("vic", "viewer"),
}

Operation = Callable[[Scope, str], Awaitable[object]]
OPERATIONS: dict[str, Operation] = {
    "update": lambda s, t: tasks.update_task(s, t, TaskChanges(title="Call them twice")),
    "move": lambda s, t: tasks.set_status(s, t, "in_progress"),
    "close": lambda s, t: tasks.complete_task(s, t, "done it"),
    "reassign": lambda s, t: tasks.update_task(s, t, TaskChanges(assignee_id="zoe")),
    "delete": lambda s, t: tasks.cancel_task(s, t, "not needed"),
}

ALLOWED = {
    "admin": set(OPERATIONS),
    "manager": set(OPERATIONS),
    "rep-owner": set(OPERATIONS),
    "rep-other": set(),
    "viewer": set(),
}


@pytest.fixture
def store() -> FakeStore:
    return FakeStore()


@pytest.fixture
def clock() -> Clock:
    return Clock(T0)


async def _task_for_rita(store: FakeStore, clock: Clock, creator: str = "ada") -> str:
    scope = caller_scope(store, clock, subject=creator, roles="admin")
    created = await tasks.create_task(scope, TaskInput(title="Call", assignee_id=ASSIGNEE))
    return created.id


@pytest.mark.parametrize("operation", list(OPERATIONS))
@pytest.mark.parametrize("role", list(CALLERS))
async def test_who_may_change_a_task(
    store: FakeStore, clock: Clock, role: str, operation: str
) -> None:
    task_id = await _task_for_rita(store, clock)
    subject, roles = CALLERS[role]
    as_caller = caller_scope(store, clock, subject=subject, roles=roles)
    before = await tasks.get_task(caller_scope(store, clock), task_id)
    written = len(store.db.outbox)
    if operation in ALLOWED[role]:
        await OPERATIONS[operation](as_caller, task_id)
        assert len(store.db.outbox) > written
        return
    with pytest.raises(Forbidden) as refused:
        await OPERATIONS[operation](as_caller, task_id)
    assert refused.value.field == (None if role == "viewer" else "id")
    after = await tasks.get_task(caller_scope(store, clock), task_id)
    assert after == before
    assert len(store.db.outbox) == written


async def test_the_creator_keeps_the_task_they_gave_someone(store: FakeStore, clock: Clock) -> None:
    cora = caller_scope(store, clock, subject="cora", roles="rep")
    created = await tasks.create_task(cora, TaskInput(title="Send the deck", assignee_id=ASSIGNEE))
    changed = await tasks.update_task(cora, created.id, TaskChanges(priority="high"))
    assert changed.priority == "high"


async def test_a_rep_cannot_take_a_task_over(store: FakeStore, clock: Clock) -> None:
    task_id = await _task_for_rita(store, clock)
    otto = caller_scope(store, clock, subject="otto", roles="rep")
    with pytest.raises(Forbidden):
        await tasks.update_task(otto, task_id, TaskChanges(assignee_id="otto"))
    assert (await tasks.get_task(otto, task_id)).assignee_id == ASSIGNEE
