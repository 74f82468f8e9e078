"""Forged domain events against the running stack.

Each forgery the issue found working is tried twice: by a party holding another service's
NATS key (refused by the server: only the owner may publish on `crm.<owner>.>`), and
injected straight into the owner's stream by the test harness, as if the permissions had
failed (refused by the consumers, which dead-letter an event whose `source` is not the
stream's owner). Neither changes anything: no playbook tasks from a forged stage change,
no exit criterion met by a forged completion, no tasks cancelled by a forged "won".
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import orjson
import pytest
from nats.aio.client import Client

from crm_contracts import deals as deal_events
from crm_contracts import tasks as task_events
from crm_contracts.envelope import HEADER_MSG_ID, CloudEvent, new_event, source_of
from crm_kit.devstack import InfraStack
from crm_kit.testing import GraphQLClient

from ..conftest import Stack
from ..e2e.helpers import eventually, gateway_client, new_workspace
from .nats_attacker import attacker_as

pytestmark = pytest.mark.e2e

DEAL = "mutation($i: CreateDealInput!) { createDeal(input: $i) { id } }"
MOVE = "mutation($d: ID!, $s: String!) { moveDeal(id: $d, stageKey: $s) { stage { key } } }"
OPEN_TASKS = (
    "query($d: ID!) { tasks(filter: {dealId: $d, status: OPEN}) { edges { node { id title } } } }"
)


@dataclass
class Scene:
    """A deal in `qualification` with its open playbook task, and the genuine
    stage-changed event the deals service published for it."""

    client: GraphQLClient
    workspace: str
    deal_id: str
    task_titles: list[str]
    stage_changed: dict[str, Any]


@pytest.fixture
async def harness(infra: InfraStack) -> AsyncIterator[Client]:
    nc = await infra.connect_nats()
    yield nc
    await nc.close()


@pytest.fixture
async def scene(stack: Stack, harness: Client) -> AsyncIterator[Scene]:
    workspace = new_workspace()
    async with gateway_client(stack.gateway_url, workspace) as client:
        seen = await harness.subscribe(deal_events.DEAL_STAGE_CHANGED)
        pipeline = (await client.data("{ pipelines { id } }"))["pipelines"][0]["id"]
        company = (
            await client.data('mutation { createCompany(input: {name: "Target Co"}) { id } }')
        )["createCompany"]["id"]
        fields = {"title": "Target", "amount": "100", "currency": "USD", "companyId": company}
        created = await client.data(DEAL, {"i": {**fields, "pipelineId": pipeline}})
        deal = created["createDeal"]["id"]
        await client.data(MOVE, {"d": deal, "s": "qualification"})
        genuine: dict[str, Any] = {}
        while not genuine:
            body = orjson.loads((await seen.next_msg(timeout=10)).data)
            if body["workspace"] == workspace:
                genuine = body
        await seen.unsubscribe()

        async def playbook() -> list[str]:
            return await _open_titles(client, deal)

        titles = await eventually(playbook, what="the genuine playbook task")
        yield Scene(client, workspace, deal, titles, genuine)


async def _open_titles(client: GraphQLClient, deal_id: str) -> list[str]:
    data = await client.data(OPEN_TASKS, {"d": deal_id})
    return sorted(edge["node"]["title"] for edge in data["tasks"]["edges"])


def _forged(event_type: str, source: str, workspace: str, data: dict[str, Any]) -> CloudEvent:
    return new_event(event_type=event_type, source=source, workspace=workspace, data=data)


def _stage_change(scene: Scene) -> dict[str, Any]:
    """A stage change to `engaging` with a playbook of the attacker's choosing."""
    data = dict(scene.stage_changed["data"])
    data.update(
        stageChangeId=uuid4().hex,
        fromStage="qualification",
        toStage="engaging",
        playbook=[{"key": "forged", "title": "FORGED task", "type": "call"}],
    )
    return data


def _won(scene: Scene) -> dict[str, Any]:
    deal = {**scene.stage_changed["data"]["deal"], "status": "won", "stageKey": "closed_won"}
    return {"deal": deal, "stageChangeId": uuid4().hex, "closedAt": datetime.now(UTC).isoformat()}


def _completion(scene: Scene) -> dict[str, Any]:
    task = {
        "id": uuid4().hex,
        "title": "Discovery call with the buyer",
        "type": "call",
        "status": "done",
        "priority": "normal",
        "dealId": scene.deal_id,
        "source": {"kind": "playbook", "templateKey": "discovery_call"},
    }
    return {"task": task, "completedAt": datetime.now(UTC).isoformat(), "onTime": True}


async def _still_blocked(scene: Scene) -> None:
    """The move out of qualification still needs the discovery call (and a close date)."""
    body = await scene.client.execute(MOVE, {"d": scene.deal_id, "s": "engaging"})
    error = body["errors"][0]
    assert error["extensions"]["code"] == "PRECONDITION_FAILED"
    assert "discovery_call" in str(error["extensions"]["unmet"])


async def test_services_cannot_publish_each_others_events(infra: InfraStack, scene: Scene) -> None:
    # A compromised contacts service forges deals' stage change; deals forges tasks'
    # completion; tasks forges deals' "won".
    for party, event_type, data in [
        ("contacts", deal_events.DEAL_STAGE_CHANGED, _stage_change(scene)),
        ("deals", task_events.TASK_COMPLETED, _completion(scene)),
        ("tasks", deal_events.DEAL_WON, _won(scene)),
    ]:
        attacker = await attacker_as(infra, party)
        try:
            owner = event_type.split(".")[1]
            await attacker.forge(_forged(event_type, source_of(owner), scene.workspace, data))
        finally:
            await attacker.close()
    await _still_blocked(scene)
    assert await _open_titles(scene.client, scene.deal_id) == scene.task_titles


async def test_consumers_dead_letter_events_that_are_not_from_the_streams_owner(
    harness: Client, scene: Scene
) -> None:
    """As if the permissions had failed: forgeries on the owners' streams, each claiming
    another source, reach the consumers, which set them aside with the reason."""
    forgeries = {
        "tasks-playbooks": _forged(
            deal_events.DEAL_STAGE_CHANGED, "crm/contacts", scene.workspace, _stage_change(scene)
        ),
        "deals-task-completed": _forged(
            task_events.TASK_COMPLETED, "crm/deals", scene.workspace, _completion(scene)
        ),
        "tasks-deal-closing": _forged(
            deal_events.DEAL_WON, "crm/tasks", scene.workspace, _won(scene)
        ),
    }
    dead = await harness.subscribe("dlq.>")
    js = harness.jetstream()
    for event in forgeries.values():
        await js.publish(event.type, event.to_json(), headers={HEADER_MSG_ID: event.id})
    reasons: dict[str, str] = {}
    forged_ids = {event.id for event in forgeries.values()}
    while not set(forgeries) <= set(reasons):
        body = orjson.loads((await dead.next_msg(timeout=20)).data)
        if body["event"] and body["event"]["id"] in forged_ids:
            reasons[body["consumer"]] = body["reason"]
    await dead.unsubscribe()
    for consumer, event in forgeries.items():
        assert event.source in reasons[consumer] and "is not" in reasons[consumer]
    # Each consumer has decided (dead-lettered): nothing happened.
    await _still_blocked(scene)
    assert await _open_titles(scene.client, scene.deal_id) == scene.task_titles
