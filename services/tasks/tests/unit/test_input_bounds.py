"""Input bounds (README "Limits"): the maximum is accepted, one more is BAD_USER_INPUT
naming the input path, and nothing is stored."""

from __future__ import annotations

from typing import Any

from crm_kit import bounds

CREATE = "mutation($input: CreateTaskInput!) { createTask(input: $input) { id } }"
TEAM = "mutation($input: CreateTeamInput!) { createTeam(input: $input) { id memberIds } }"
TEAMS = "{ teams { id } }"
TASKS = "{ tasks(first: 50) { totalCount } }"


async def test_task_description_at_and_over_the_limit(caller: Any) -> None:
    at_limit = "d" * bounds.MAX_TEXT
    await caller.data(CREATE, {"input": {"title": "t", "description": at_limit}})
    error = await caller.error(CREATE, {"input": {"title": "t", "description": at_limit + "d"}})
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "input.description"}
    assert (await caller.data(TASKS))["tasks"]["totalCount"] == 1


async def test_task_ids_are_bounded(caller: Any) -> None:
    error = await caller.error(
        CREATE, {"input": {"title": "t", "dealId": "x" * (bounds.MAX_ID + 1)}}
    )
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "input.dealId"}


async def test_team_members_at_and_over_the_limit(caller: Any) -> None:
    members = [f"u{i}" for i in range(bounds.MAX_TEAM_MEMBERS)]
    team = await caller.data(TEAM, {"input": {"name": "Big", "memberIds": members}})
    assert len(team["createTeam"]["memberIds"]) == bounds.MAX_TEAM_MEMBERS
    error = await caller.error(
        TEAM, {"input": {"name": "Bigger", "memberIds": [*members, "one-more"]}}
    )
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "input.memberIds"}
    error = await caller.error(
        TEAM, {"input": {"name": "n" * (bounds.MAX_NAME + 1), "memberIds": []}}
    )
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "input.name"}
    assert len((await caller.data(TEAMS))["teams"]) == 1


async def test_team_manager_and_handover_user_ids_are_bounded(caller: Any) -> None:
    too_long = "u" * (bounds.MAX_ID + 1)
    error = await caller.error(
        TEAM, {"input": {"name": "Team", "memberIds": [], "managerId": too_long}}
    )
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "input.managerId"}
    assert (await caller.data(TEAMS))["teams"] == []
    handover = "mutation($i: HandOverTasksInput!) { handOverTasks(input: $i) { moved } }"
    for field in ("fromUserId", "toUserId"):
        given = {"fromUserId": "a", "toUserId": "b", field: too_long}
        error = await caller.error(handover, {"i": given})
        assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": f"input.{field}"}
