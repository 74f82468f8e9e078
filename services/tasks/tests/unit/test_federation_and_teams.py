"""Entities (`_entities`), contributed fields on Deal and Contact, tenancy, and teams."""

from __future__ import annotations

from typing import Any

from crm_tasks.graphql.context import GraphQLContext

ENTITIES = """
query($reps: [_Any!]!) {
  _entities(representations: $reps) {
    ... on Deal { id tasks(status: OPEN) { id title dueAt status assigneeId source } }
    ... on Contact { id tasks { id } }
    ... on Task { id title }
  }
}
"""
CREATE = "mutation($input: CreateTaskInput!) { createTask(input: $input) { id assigneeId teamId } }"
TEAM = """mutation($input: CreateTeamInput!) {
  createTeam(input: $input) { id name memberIds strategy managerId } }"""


async def task(caller: Any, **fields: Any) -> dict:
    return (await caller.data(CREATE, {"input": {"title": "t", **fields}}))["createTask"]


async def test_deal_tasks_are_batched_in_one_query(
    caller: Any, contexts: list[GraphQLContext]
) -> None:
    a1 = await task(caller, dealId="d1", dueAt="2026-03-05T00:00:00Z")
    a2 = await task(caller, dealId="d1", dueAt="2026-03-04T00:00:00Z")
    b1 = await task(caller, dealId="d2")
    done = await task(caller, dealId="d2")
    await caller.data("mutation($id: ID!) { completeTask(id: $id) { id } }", {"id": done["id"]})
    reps = [{"__typename": "Deal", "id": d} for d in ("d1", "d2", "d3")]
    data = await caller.data(ENTITIES, {"reps": reps})
    got = {e["id"]: [t["id"] for t in e["tasks"]] for e in data["_entities"]}
    assert got == {"d1": [a2["id"], a1["id"]], "d2": [b1["id"]], "d3": []}
    assert data["_entities"][0]["tasks"][0]["source"] == "MANUAL"
    assert data["_entities"][0]["tasks"][0]["status"] == "OPEN"
    assert contexts[-1].loaders.queries == 1


async def test_contact_tasks_and_task_entities(caller: Any) -> None:
    t = await task(caller, contactId="c1")
    reps = [{"__typename": "Contact", "id": "c1"}, {"__typename": "Task", "id": t["id"]}]
    data = await caller.data(ENTITIES, {"reps": reps})
    assert data["_entities"] == [
        {"id": "c1", "tasks": [{"id": t["id"]}]},
        {"id": t["id"], "title": "t"},
    ]


async def test_another_workspace_sees_nothing(caller: Any, make_caller: Any) -> None:
    t = await task(caller, dealId="d1", contactId="c1")
    other = make_caller(workspace="w2")
    found = await other.data("query($id: ID!) { task(id: $id) { id } }", {"id": t["id"]})
    assert found == {"task": None}
    reps = [
        {"__typename": "Task", "id": t["id"]},
        {"__typename": "Deal", "id": "d1"},
        {"__typename": "Contact", "id": "c1"},
    ]
    data = await other.data(ENTITIES, {"reps": reps})
    assert data["_entities"] == [None, {"id": "d1", "tasks": []}, {"id": "c1", "tasks": []}]
    assert (await other.data("{ tasks { totalCount } }"))["tasks"]["totalCount"] == 0
    error = await other.error(
        "mutation($id: ID!) { completeTask(id: $id) { id } }", {"id": t["id"]}
    )
    assert error["extensions"]["code"] == "NOT_FOUND"
    assert (await caller.data("query($id: ID!) { task(id: $id) { status } }", {"id": t["id"]}))[
        "task"
    ]["status"] == "OPEN"


async def test_round_robin_team_assignment(caller: Any) -> None:
    team = (
        await caller.data(
            TEAM, {"input": {"name": "SDR", "memberIds": ["a", "b", "c"], "managerId": "m"}}
        )
    )["createTeam"]
    assert team["strategy"] == "ROUND_ROBIN"
    picks = [(await task(caller, teamId=team["id"]))["assigneeId"] for _ in range(7)]
    assert picks == list("abcabca")
    explicit = await task(caller, teamId=team["id"], assigneeId="z")
    assert explicit == {"id": explicit["id"], "assigneeId": "z", "teamId": team["id"]}
    data = await caller.data(
        "query($id: ID!) { task(id: $id) { team { name managerId } } }", {"id": explicit["id"]}
    )
    assert data["task"]["team"] == {"name": "SDR", "managerId": "m"}


async def test_fewest_open_team_assignment(caller: Any) -> None:
    team = (
        await caller.data(
            TEAM, {"input": {"name": "AE", "memberIds": ["a", "b"], "strategy": "FEWEST_OPEN"}}
        )
    )["createTeam"]
    await task(caller, assigneeId="a")
    await task(caller, assigneeId="a")
    picks = [(await task(caller, teamId=team["id"]))["assigneeId"] for _ in range(4)]
    assert picks == ["b", "b", "a", "b"]


async def test_team_errors(caller: Any) -> None:
    await caller.data(TEAM, {"input": {"name": "SDR", "memberIds": ["a"]}})
    error = await caller.error(TEAM, {"input": {"name": "SDR", "memberIds": ["b"]}})
    assert error["extensions"]["code"] == "CONFLICT"
    assert error["extensions"]["field"] == "input.name"
    assert error["extensions"]["existingId"]
    error = await caller.error(CREATE, {"input": {"title": "t", "teamId": "0" * 24}})
    assert error["extensions"] == {"code": "NOT_FOUND", "field": "input.teamId"}
    empty = (await caller.data(TEAM, {"input": {"name": "Empty", "memberIds": []}}))["createTeam"]
    error = await caller.error(CREATE, {"input": {"title": "t", "teamId": empty["id"]}})
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "input.teamId"}


async def test_update_team_and_list(caller: Any) -> None:
    team = (await caller.data(TEAM, {"input": {"name": "SDR", "memberIds": ["a"]}}))["createTeam"]
    query = """mutation($id: ID!, $in: UpdateTeamInput!) {
      updateTeam(id: $id, input: $in) { name memberIds strategy managerId } }"""
    data = await caller.data(
        query,
        {
            "id": team["id"],
            "in": {"memberIds": ["a", "b"], "strategy": "FEWEST_OPEN", "managerId": "m"},
        },
    )
    assert data["updateTeam"] == {
        "name": "SDR",
        "memberIds": ["a", "b"],
        "strategy": "FEWEST_OPEN",
        "managerId": "m",
    }
    assert (await caller.data("{ teams { name } }"))["teams"] == [{"name": "SDR"}]


SEVERAL = """
query($reps: [_Any!]!, $status: TaskStatus) {
  _entities(representations: $reps) {
    ... on Deal { id open: tasks(status: OPEN) { id } given: tasks(status: $status) { id } }
    ... on Deal { all: tasks { id status } }
  }
}
"""


async def test_deal_tasks_of_several_statuses_read_once_each(
    caller: Any, contexts: list[GraphQLContext]
) -> None:
    """A fetch's deals have their tasks read before their fields ask, one read per status
    selected (a literal, a variable, none), and each field answers what it asks."""
    a = await task(caller, dealId="d1", dueAt="2026-03-05T00:00:00Z")
    b = await task(caller, dealId="d1", dueAt="2026-03-04T00:00:00Z")
    done = await task(caller, dealId="d2")
    await caller.data("mutation($id: ID!) { completeTask(id: $id) { id } }", {"id": done["id"]})
    reps = [{"__typename": "Deal", "id": d} for d in ("d1", "d2", "d3")]
    data = await caller.data(SEVERAL, {"reps": reps, "status": "DONE"})
    assert data["_entities"] == [
        {
            "id": "d1",
            "open": [{"id": b["id"]}, {"id": a["id"]}],
            "given": [],
            "all": [{"id": b["id"], "status": "OPEN"}, {"id": a["id"], "status": "OPEN"}],
        },
        {
            "id": "d2",
            "open": [],
            "given": [{"id": done["id"]}],
            "all": [{"id": done["id"], "status": "DONE"}],
        },
        {"id": "d3", "open": [], "given": [], "all": []},
    ]
    assert contexts[-1].loaders.queries == 3


async def test_deal_tasks_after_a_status_that_is_none(caller: Any) -> None:
    """A status variable that names no status is refused by the field, as before."""
    await task(caller, dealId="d1")
    reps = [{"__typename": "Deal", "id": "d1"}]
    error = await caller.error(SEVERAL, {"reps": reps, "status": "SOMEDAY"})
    assert "SOMEDAY" in error["message"]
