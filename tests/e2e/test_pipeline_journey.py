"""A sales process end to end, through the gateway, across the three services and NATS.

A company, a contact with a timeline, a deal moved into a stage whose playbook the tasks
service turns into tasks; exit criteria that block a move until the playbook task is done
(the deals service learns that from the task-completed event); closing the deal cancels
what is left of its playbook. All of it visible in the one unified pipeline view.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from crm_kit.testing import GraphQLClient

from .conftest import Stack
from .helpers import eventually, gateway_client, new_workspace

pytestmark = pytest.mark.e2e

UNIFIED_VIEW = """
query Board($pipelineId: ID) {
  pipelineBoard(pipelineId: $pipelineId) {
    columns {
      stage { key }
      count
      totalAmount
      weightedAmount
      deals(first: 20) {
        edges { node {
          id
          title
          company { name }
          primaryContact {
            firstName lastName
            interactions(first: 3) { edges { node { kind subject } } }
          }
          tasks(status: OPEN) { title dueAt assigneeId }
        } }
      }
    }
  }
}
"""


@pytest.fixture
async def client(stack: Stack) -> AsyncIterator[GraphQLClient]:
    async with gateway_client(stack.gateway_url, new_workspace()) as c:
        yield c


async def _seed(client: GraphQLClient) -> dict[str, Any]:
    company = (
        await client.data(
            'mutation { createCompany(input: {name: "Initech", domain: "initech.example"}) '
            "{ id name domain } }"
        )
    )["createCompany"]
    contact = (
        await client.data(
            'mutation($c: ID!) { createContact(input: {firstName: "Peter", lastName: '
            '"Gibbons", email: "peter@initech.example", companyId: $c}) '
            "{ id email company { id } } }",
            {"c": company["id"]},
        )
    )["createContact"]
    assert contact["company"]["id"] == company["id"]
    for day, (kind, subject) in enumerate(
        [("EMAIL", "intro"), ("CALL", "first call"), ("MEETING", "demo"), ("NOTE", "pricing")],
        start=1,
    ):
        await client.data(
            "mutation($c: ID!, $k: InteractionKind!, $s: String!, $t: DateTime!) "
            "{ logInteraction(input: {contactId: $c, kind: $k, occurredAt: $t, subject: $s}) "
            "{ id } }",
            {"c": contact["id"], "k": kind, "s": subject, "t": f"2026-11-0{day}T10:00:00Z"},
        )
    pipelines = (await client.data("{ pipelines { id name stages { key name probability } } }"))[
        "pipelines"
    ]
    pipeline = pipelines[0]
    deal = (
        await client.data(
            "mutation($i: CreateDealInput!) { createDeal(input: $i) { id stage { key } amount } }",
            {
                "i": {
                    "title": "Initech printers",
                    "amount": "1250.50",
                    "currency": "USD",
                    "companyId": company["id"],
                    "primaryContactId": contact["id"],
                    "pipelineId": pipeline["id"],
                }
            },
        )
    )["createDeal"]
    assert deal["amount"] == "1250.50"
    return {"company": company, "contact": contact, "pipeline": pipeline, "deal": deal}


def _board_deal(board: dict[str, Any], deal_id: str) -> tuple[str, dict[str, Any]] | None:
    for column in board["pipelineBoard"]["columns"]:
        for edge in column["deals"]["edges"]:
            if edge["node"]["id"] == deal_id:
                return column["stage"]["key"], edge["node"]
    return None


async def test_playbook_tasks_appear_in_the_unified_view(client: GraphQLClient) -> None:
    seeded = await _seed(client)
    deal_id = seeded["deal"]["id"]
    assert seeded["deal"]["stage"]["key"] == "prospecting"
    moved = await client.data(
        'mutation($d: ID!) { moveDeal(id: $d, stageKey: "qualification") { stage { key } } }',
        {"d": deal_id},
    )
    assert moved["moveDeal"]["stage"]["key"] == "qualification"

    async def playbook_visible() -> tuple[str, dict[str, Any]] | None:
        board = await client.data(UNIFIED_VIEW, {"pipelineId": seeded["pipeline"]["id"]})
        found = _board_deal(board, deal_id)
        return found if found and found[1]["tasks"] else None

    stage, node = await eventually(playbook_visible, what="playbook tasks in the unified view")
    assert stage == "qualification"
    assert node["company"] == {"name": "Initech"}
    assert (node["primaryContact"]["firstName"], node["primaryContact"]["lastName"]) == (
        "Peter",
        "Gibbons",
    )
    kinds = [e["node"]["subject"] for e in node["primaryContact"]["interactions"]["edges"]]
    assert kinds == ["pricing", "demo", "first call"]  # newest first, three of four
    assert [t["title"] for t in node["tasks"]] == ["Discovery call with the buyer"]
    assert node["tasks"][0]["assigneeId"] == "alice"  # the deal owner: the creator


async def test_exit_criteria_block_until_the_playbook_task_is_done(client: GraphQLClient) -> None:
    seeded = await _seed(client)
    deal_id = seeded["deal"]["id"]
    await client.data(
        'mutation($d: ID!) { moveDeal(id: $d, stageKey: "qualification") { id } }', {"d": deal_id}
    )
    blocked = await client.execute(
        'mutation($d: ID!) { moveDeal(id: $d, stageKey: "engaging") { id } }', {"d": deal_id}
    )
    error = blocked["errors"][0]
    assert error["extensions"]["code"] == "PRECONDITION_FAILED"
    unmet = str(error["extensions"]["unmet"])
    assert "expectedCloseDate" in unmet and "discovery_call" in unmet

    async def open_task() -> list[dict[str, Any]]:
        data = await client.data(
            "query($d: ID!) { tasks(filter: {dealId: $d, status: OPEN}) "
            "{ edges { node { id title } } } }",
            {"d": deal_id},
        )
        return data["tasks"]["edges"]

    task = (await eventually(open_task, what="the playbook task"))[0]["node"]
    done = await client.data(
        'mutation($t: ID!) { completeTask(id: $t, outcome: "budget confirmed") { id status } }',
        {"t": task["id"]},
    )
    assert done["completeTask"]["status"] == "DONE"
    await client.data(
        'mutation($d: ID!) { updateDeal(id: $d, input: {expectedCloseDate: "2027-01-31"}) { id } }',
        {"d": deal_id},
    )

    async def move() -> dict[str, Any] | None:
        body = await client.execute(
            'mutation($d: ID!) { moveDeal(id: $d, stageKey: "engaging") { stage { key } } }',
            {"d": deal_id},
        )
        return None if body.get("errors") else body["data"]

    moved = await eventually(move, what="the move once the task-completed event arrived")
    assert moved["moveDeal"]["stage"]["key"] == "engaging"
    history = await client.data(
        "query($d: ID!) { deal(id: $d) { stageHistory { fromStage toStage at } } }", {"d": deal_id}
    )
    steps = [(h["fromStage"], h["toStage"]) for h in history["deal"]["stageHistory"]]
    assert ("prospecting", "qualification") in steps and ("qualification", "engaging") in steps

    # Closing the deal cancels the playbook tasks still open (the demo task of `engaging`).
    async def engaging_task_open() -> bool:
        return any("demo" in e["node"]["title"].lower() for e in await open_task())

    await eventually(engaging_task_open, what="the engaging playbook task")
    await client.data("mutation($d: ID!) { closeDealWon(id: $d) { id } }", {"d": deal_id})

    async def nothing_open() -> bool:
        return await open_task() == []

    await eventually(nothing_open, what="open playbook tasks cancelled after the win")


async def test_another_workspace_sees_nothing(stack: Stack, client: GraphQLClient) -> None:
    seeded = await _seed(client)
    async with gateway_client(stack.gateway_url, new_workspace(), "mallory") as stranger:
        body = await stranger.execute(
            "query($d: ID!, $c: ID!) { deal(id: $d) { id } contact(id: $c) { id } }",
            {"d": seeded["deal"]["id"], "c": seeded["contact"]["id"]},
        )
        assert body["data"] == {"deal": None, "contact": None}
        moved = await stranger.execute(
            'mutation($d: ID!) { moveDeal(id: $d, stageKey: "qualification") { id } }',
            {"d": seeded["deal"]["id"]},
        )
        assert moved["errors"][0]["extensions"]["code"] == "NOT_FOUND"


async def test_requests_without_a_token_are_refused(stack: Stack) -> None:
    import httpx

    async with httpx.AsyncClient() as http:
        response = await http.post(stack.gateway_url, json={"query": "{ pipelines { id } }"})
    assert response.status_code == 401
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_merging_contacts_repoints_the_deal(client: GraphQLClient) -> None:
    seeded = await _seed(client)
    duplicate = (
        await client.data(
            'mutation($c: ID!) { createContact(input: {firstName: "Pete", lastName: '
            '"Gibbons", email: "pgibbons@initech.example", companyId: $c}) { id } }',
            {"c": seeded["company"]["id"]},
        )
    )["createContact"]
    deal = (
        await client.data(
            "mutation($i: CreateDealInput!) { createDeal(input: $i) { id } }",
            {
                "i": {
                    "title": "Second deal",
                    "amount": "10",
                    "currency": "USD",
                    "companyId": seeded["company"]["id"],
                    "primaryContactId": duplicate["id"],
                    "pipelineId": seeded["pipeline"]["id"],
                }
            },
        )
    )["createDeal"]
    await client.data(
        "mutation($s: ID!, $d: ID!) { mergeContacts(survivorId: $s, duplicateId: $d) "
        "{ __typename } }",
        {"s": seeded["contact"]["id"], "d": duplicate["id"]},
    )

    async def repointed() -> bool:
        data = await client.data(
            "query($d: ID!) { deal(id: $d) { primaryContact { id } } }", {"d": deal["id"]}
        )
        return data["deal"]["primaryContact"]["id"] == seeded["contact"]["id"]

    await eventually(repointed, what="the deal re-pointed to the surviving contact")
