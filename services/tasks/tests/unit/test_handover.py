"""Task handover: the deals service's `deals.handed_over` (consumer) and the
`handOverTasks` mutation, with the in-memory store and through the read index."""

from __future__ import annotations

from typing import Any

import pytest

from crm_contracts import tasks as contract
from crm_kit.consumer import PermanentFailure
from crm_tasks.events import examples
from crm_tasks.usecases.inputs import TaskInput, TeamInput
from crm_tasks.usecases.scope import Scope
from crm_tasks.usecases.tasks import cancel_task, complete_task, create_task, set_status
from crm_tasks.usecases.teams import create_team

from .conftest import FakeStore, Inbound

HAND_OVER = """mutation($input: HandOverTasksInput!) {
  handOverTasks(input: $input) { moved taskIds } }"""


async def seed(scope: Scope) -> dict[str, Any]:
    """Tasks of deal d1 and d2: owner-1's open and in-progress ones, a done and a cancelled
    one of owner-1, a team task picked for owner-1, someone else's, and one outside."""
    team = await create_team(scope, TeamInput(name="Desk", member_ids=["owner-1"]))

    async def task(title: str, **fields: Any) -> str:
        return (await create_task(scope, TaskInput(title=title, **fields))).id

    ids = {
        "open": await task("Call", assignee_id="owner-1", deal_id="d1"),
        "started": await task("Demo", assignee_id="owner-1", deal_id="d2"),
        "done": await task("Old", assignee_id="owner-1", deal_id="d1"),
        "cancelled": await task("Gone", assignee_id="owner-1", deal_id="d1"),
        "team": await task("Pricing", team_id=team.id, deal_id="d1"),
        "other": await task("Legal", assignee_id="lawyer", deal_id="d1"),
        "elsewhere": await task("Lunch", assignee_id="owner-1", deal_id="d9"),
        "no-deal": await task("Admin", assignee_id="owner-1"),
    }
    await set_status(scope, ids["started"], "in_progress")
    await complete_task(scope, ids["done"])
    await cancel_task(scope, ids["cancelled"])
    return ids


async def assignees(store: FakeStore, ids: dict[str, str]) -> dict[str, str | None]:
    tasks = await store.for_workspace("w1").get_tasks(list(ids.values()))
    by_id = {task.id: task.assignee_id for task in tasks}
    return {key: by_id[task_id] for key, task_id in ids.items()}


async def test_consumer_moves_active_tasks_of_the_deals_once(
    inbound: Inbound, store: FakeStore, scope: Scope
) -> None:
    ids = await seed(scope)
    before = await assignees(store, ids)
    assert before["team"] == "owner-1"  # the team's pick, still a team task
    updated_before = len(store.events_of(contract.TASK_UPDATED))
    events = [examples.owner_changed(deal_id=d) for d in ("d1", "d2")]
    for event in events:
        await inbound.deliver(event)
    after = await assignees(store, ids)
    assert after == {
        **before,
        "open": "owner-2",
        "started": "owner-2",
    }
    updated = store.events_of(contract.TASK_UPDATED)[updated_before:]
    assert sorted(e.subject for e in updated) == sorted([ids["open"], ids["started"]])
    assert {tuple(e.data["changedFields"]) for e in updated} == {("assigneeId",)}
    # The same events again (a redelivery past the kit's record) change nothing twice.
    for event in events:
        await inbound.deliver(event)
    assert await assignees(store, ids) == after
    assert len(store.events_of(contract.TASK_UPDATED)) == updated_before + 2


async def test_consumer_subscription_and_bad_payload(inbound: Inbound) -> None:
    [sub] = [s for s in inbound.subscriptions if s.durable == "tasks-deal-owners"]
    assert sub.record_processed
    assert sub.subjects == ["crm.deals.deal.updated.v1"]
    event = examples.owner_changed(deal_id="d1")
    event.data.pop("changedFields")
    with pytest.raises(PermanentFailure):
        await inbound.deliver(event)


async def test_hand_over_tasks_mutation(
    store: FakeStore, scope: Scope, caller: Any, make_caller: Any
) -> None:
    ids = await seed(scope)
    before = await assignees(store, ids)
    data = await caller.data(HAND_OVER, {"input": {"fromUserId": "owner-1", "toUserId": "b"}})
    moved = {ids["open"], ids["started"], ids["elsewhere"], ids["no-deal"]}
    assert data["handOverTasks"]["moved"] == 4
    assert set(data["handOverTasks"]["taskIds"]) == moved
    after = await assignees(store, ids)
    assert after == {k: ("b" if ids[k] in moved else v) for k, v in before.items()}
    again = await caller.data(HAND_OVER, {"input": {"fromUserId": "owner-1", "toUserId": "b"}})
    assert again["handOverTasks"] == {"moved": 0, "taskIds": []}
    # Another workspace's tasks are not reachable.
    assert (
        await make_caller(workspace="w2").data(
            HAND_OVER, {"input": {"fromUserId": "b", "toUserId": "c"}}
        )
    )["handOverTasks"]["moved"] == 0


async def test_hand_over_tasks_roles_and_validation(caller: Any, make_caller: Any) -> None:
    for roles in ("rep", "viewer"):
        error = await make_caller(roles=roles).error(
            HAND_OVER, {"input": {"fromUserId": "a", "toUserId": "b"}}
        )
        assert error["extensions"]["code"] == "FORBIDDEN", roles
    for values, field in (
        ({"fromUserId": " ", "toUserId": "b"}, "input.fromUserId"),
        ({"fromUserId": "a", "toUserId": ""}, "input.toUserId"),
        ({"fromUserId": "a", "toUserId": "a"}, "input.toUserId"),
    ):
        error = await caller.error(HAND_OVER, {"input": values})
        assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": field}
    ok = await make_caller(roles="manager").data(
        HAND_OVER, {"input": {"fromUserId": "a", "toUserId": "b"}}
    )
    assert ok["handOverTasks"]["moved"] == 0
