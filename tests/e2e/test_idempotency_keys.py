"""Idempotency keys through the running gateway and services: a client operation that
writes in two services (contacts, then tasks, then contacts again: three subgraph
requests, two of them to contacts) repeated with the same `Idempotency-Key` is answered
from the services' stored results and writes nothing twice; so is a deal's create and a
stage move (a move repeated must not add a second history entry or a second round of
playbook tasks); the same key with another request is a CONFLICT naming the header."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from uuid import uuid4

import pytest

from crm_kit.testing import GraphQLClient

from .conftest import Stack
from .helpers import eventually, gateway_client, new_workspace

pytestmark = pytest.mark.e2e

ACROSS = """mutation($a: String!, $t: String!, $c: String!) {
  first: createCompany(input: {name: $a}) { id name }
  task: createTask(input: {title: $t}) { id title }
  second: createCompany(input: {name: $c}) { id name }
}"""
# The workspace is the test's own: every record in it is the test's.
COUNTS = "{ companies(first: 10) { totalCount } tasks(first: 10) { totalCount } }"
CREATE_DEAL = "mutation($i: CreateDealInput!) { createDeal(input: $i) { id title } }"
MOVE = """mutation($d: ID!) { moveDeal(id: $d, stageKey: "qualification") {
  stage { key } stageHistory { kind toStage } } }"""
DEAL_TASKS = "query($d: ID!) { tasks(first: 50, filter: {dealId: $d}) { totalCount } }"


@pytest.fixture
async def client(stack: Stack) -> AsyncIterator[GraphQLClient]:
    async with gateway_client(stack.gateway_url, new_workspace()) as c:
        yield c


async def test_an_operation_across_services_repeated_with_its_key_runs_once(
    client: GraphQLClient,
) -> None:
    keyed = client.keyed(str(uuid4()))
    variables = {"a": "Initech", "t": "Call Initech back", "c": "Umbrella"}
    first = await keyed.execute(ACROSS, variables)
    assert "errors" not in first, first
    again = await keyed.execute(ACROSS, variables)
    assert again == first
    counts = await client.data(COUNTS)
    assert counts["companies"]["totalCount"] == 2
    assert counts["tasks"]["totalCount"] == 1
    # Without the key the same operation is a new request.
    await client.data(ACROSS, variables)
    assert (await client.data(COUNTS))["companies"]["totalCount"] == 4


async def test_a_key_reused_for_another_request_is_a_conflict(client: GraphQLClient) -> None:
    keyed = client.keyed(str(uuid4()))
    await keyed.execute(ACROSS, {"a": "A", "t": "T", "c": "C"})
    other: dict[str, Any] = await keyed.execute(ACROSS, {"a": "B", "t": "T", "c": "C"})
    codes = {(e["extensions"]["code"], e["extensions"].get("field")) for e in other["errors"]}
    assert ("CONFLICT", "idempotency-key") in codes
    assert (await client.data(COUNTS))["companies"]["totalCount"] == 2


async def test_a_deal_created_and_moved_with_keys_twice_is_one_deal_one_move(
    client: GraphQLClient,
) -> None:
    company = await client.data('mutation { createCompany(input: {name: "Initech"}) { id } }')
    create = client.keyed(str(uuid4()))
    # With a company: leaving the first stage requires one (its exit criterion).
    deal = {"title": "Initech printers", "amount": "1250.50"}
    deal_input = {"i": {**deal, "companyId": company["createCompany"]["id"]}}
    made = await create.data(CREATE_DEAL, deal_input)
    assert await create.data(CREATE_DEAL, deal_input) == made
    deals = await client.data("{ deals(first: 10) { totalCount } }")
    assert deals["deals"]["totalCount"] == 1

    deal_id = made["createDeal"]["id"]
    move = client.keyed(str(uuid4()))
    moved = await move.data(MOVE, {"d": deal_id})
    assert await move.data(MOVE, {"d": deal_id}) == moved
    history = moved["moveDeal"]["stageHistory"]
    assert [entry["kind"] for entry in history] == ["create", "move"]

    # The move's playbook tasks arrive once: wait for them, then see no second round.
    async def playbook() -> int:
        found: int = (await client.data(DEAL_TASKS, {"d": deal_id}))["tasks"]["totalCount"]
        return found

    count = await eventually(playbook, what="the move's playbook tasks")
    assert await playbook() == count
    stored = await client.data(
        "query($d: ID!) { deal(id: $d) { stageHistory { kind } } }", {"d": deal_id}
    )
    assert len(stored["deal"]["stageHistory"]) == 2
