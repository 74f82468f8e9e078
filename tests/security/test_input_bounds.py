"""Oversize input through the gateway (README "Limits"): each mutation is refused with
BAD_USER_INPUT naming the input path, within the budget, and nothing is stored; crafted
cursors are refused the same way on every list."""

from __future__ import annotations

import base64
import time
from typing import Any

import httpx
import orjson
import pytest

from crm_kit import bounds

from ..conftest import Stack
from .conftest import Tenant, gql

pytestmark = pytest.mark.e2e

BUDGET_SECONDS = 5.0  # as the query bombs: "refused fast", with room for a loaded machine

CONTACT = "mutation($input: CreateContactInput!) { createContact(input: $input) { id } }"
DEAL = "mutation($input: CreateDealInput!) { createDeal(input: $input) { id } }"
PIPELINE = "mutation($input: CreatePipelineInput!) { createPipeline(input: $input) { id } }"
TEAM = "mutation($input: CreateTeamInput!) { createTeam(input: $input) { id } }"
TASK = "mutation($input: CreateTaskInput!) { createTask(input: $input) { id } }"
STORED = """{ contacts(first: 1) { totalCount } deals(first: 1) { totalCount }
  pipelines { id } teams { id } tasks(first: 1) { totalCount } }"""


def _stage(**changes: Any) -> dict[str, Any]:
    return {"key": "s1", "name": "S", "probability": 10, **changes}


OVERSIZE: dict[str, tuple[str, dict[str, Any], str]] = {
    "emails on a contact": (
        CONTACT,
        {
            "firstName": "Ann",
            "emails": [f"a{i}@example.com" for i in range(bounds.MAX_EMAILS + 1)],
        },
        "input.emails",
    ),
    "contact tags": (
        CONTACT,
        {"firstName": "Ann", "tags": [f"t{i}" for i in range(bounds.MAX_TAGS + 1)]},
        "input.tags",
    ),
    "a million-digit amount": (
        DEAL,
        {"title": "Big", "amount": "9" * 500_000, "currency": "USD"},
        "input.amount",
    ),
    "non-ASCII digits": (
        DEAL,
        {"title": "D", "amount": "\u0661\u0662", "currency": "USD"},
        "input.amount",
    ),
    "contacts on a deal": (
        DEAL,
        {
            "title": "D",
            "amount": "1",
            "contactIds": [f"c{i}" for i in range(bounds.MAX_CONTACTS_PER_DEAL + 1)],
        },
        "input.contactIds",
    ),
    "playbook size": (
        PIPELINE,
        {
            "name": "P",
            "stages": [
                _stage(
                    playbook=[
                        {"key": f"t{i}", "title": "Do"} for i in range(bounds.MAX_PLAYBOOK + 1)
                    ]
                )
            ],
        },
        "input.stages.0.playbook",
    ),
    "a due offset overflowing dates": (
        PIPELINE,
        {
            "name": "P",
            "stages": [_stage(playbook=[{"key": "t", "title": "Do", "dueOffsetDays": 10**9}])],
        },
        "input.stages.0.playbook.0.dueOffsetDays",
    ),
    "rotting days overflowing dates": (
        PIPELINE,
        {"name": "P", "stages": [_stage(rottingDays=10**9)]},
        "input.stages.0.rottingDays",
    ),
    "team members": (
        TEAM,
        {"name": "T", "memberIds": [f"u{i}" for i in range(bounds.MAX_TEAM_MEMBERS + 1)]},
        "input.memberIds",
    ),
    "a task description": (
        TASK,
        {"title": "T", "description": "d" * (bounds.MAX_TEXT + 1)},
        "input.description",
    ),
}


@pytest.mark.parametrize("case", sorted(OVERSIZE))
async def test_oversize_input_is_refused_naming_the_field(
    stack: Stack, http: httpx.AsyncClient, tenant: Tenant, case: str
) -> None:
    mutation, values, field = OVERSIZE[case]
    started = time.monotonic()
    answer = await gql(http, stack.gateway_url, mutation, tenant.headers, input=values)
    elapsed = time.monotonic() - started
    assert answer.get("data") is None, answer
    assert answer["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT", answer
    assert answer["errors"][0]["extensions"]["field"] == field, answer
    assert elapsed < BUDGET_SECONDS
    stored = await gql(http, stack.gateway_url, STORED, tenant.headers)
    data = stored["data"]
    assert data["contacts"]["totalCount"] == 0 and data["deals"]["totalCount"] == 0
    assert data["teams"] == [] and data["tasks"]["totalCount"] == 0
    # The workspace's default pipeline may be created on first read; no other.
    assert len(data["pipelines"]) <= 1


def _crafted(payload: object) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(payload)).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        _crafted([{"$dt": "not a date"}, "x"]),
        _crafted([{"$gt": ""}, "x"]),
        _crafted(["a", {"$ne": None}]),
        "A" * (bounds.MAX_CURSOR + 1),
    ],
)
async def test_crafted_cursors_are_bad_user_input_on_every_list(
    stack: Stack, http: httpx.AsyncClient, tenant: Tenant, cursor: str
) -> None:
    for query, path in (
        ("query($c: String) { contacts(first: 2, after: $c) { totalCount } }", "contacts"),
        ("query($c: String) { deals(first: 2, after: $c) { totalCount } }", "deals"),
        ("query($c: String) { tasks(first: 2, after: $c) { totalCount } }", "tasks"),
    ):
        answer = await gql(http, stack.gateway_url, query, tenant.headers, c=cursor)
        error = answer["errors"][0]
        assert error["extensions"]["code"] == "BAD_USER_INPUT", (path, answer)
        assert error["extensions"]["field"] == "after", (path, answer)
