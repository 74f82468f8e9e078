"""The service on real FerretDB + NATS: playbooks exactly once (duplicates, two replicas),
rules once per event, reminders and overdue across a restart, the NATS endpoints."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from nats.js import JetStreamContext

from crm_contracts import tasks as contract
from crm_contracts.envelope import CloudEvent
from crm_contracts.streams import stream_for
from crm_kit.clock import iso, utcnow
from crm_kit.rpc import RpcError
from crm_kit.settings import Settings
from crm_kit.testing import GraphQLClient, cli_call, eventually, gateway_auth, running_app
from crm_tasks.app import create_app
from crm_tasks.events import examples

from .conftest import count_on, publish

pytestmark = pytest.mark.integration

DEAL_TASKS = """query($reps: [_Any!]!) { _entities(representations: $reps) {
  ... on Deal { id tasks(status: OPEN) { id title dueAt status assigneeId source } } } }"""


@contextlib.asynccontextmanager
async def service(settings: Settings, workspace: str = "w1") -> AsyncIterator[GraphQLClient]:
    app = create_app(settings)
    async with running_app(app) as http:
        yield GraphQLClient(http, gateway_auth("tasks", workspace, "alice", "admin"))


async def deal_tasks(client: GraphQLClient, *deal_ids: str) -> dict[str, list[dict]]:
    reps = [{"__typename": "Deal", "id": d} for d in deal_ids]
    data = await client.data(DEAL_TASKS, {"reps": reps})
    return {e["id"]: e["tasks"] for e in data["_entities"]}


async def test_duplicate_stage_change_delivery_creates_playbook_tasks_once(
    settings: Settings, js: JetStreamContext
) -> None:
    async with service(settings) as client:
        event = examples.stage_changed(deal_id="d1", workspace="w1")
        await publish(js, event)
        await publish(js, event, msg_id="another-id")  # defeats JetStream's de-duplication
        # The same stage change re-sent as a new event (new id): natural key catches it.
        again = examples.stage_changed(
            deal_id="d1", workspace="w1", stage_change_id=event.data["stageChangeId"]
        )
        await publish(js, again)

        async def created() -> list[dict]:
            tasks = (await deal_tasks(client, "d1"))["d1"]
            return tasks if len(tasks) >= 2 else []

        tasks = await eventually(created)
        await eventually(lambda: count_on(js, contract.TASK_CREATED))
        # Give the redeliveries time to be handled, then check nothing doubled.
        await asyncio.sleep(1.0)
        tasks = (await deal_tasks(client, "d1"))["d1"]
        assert sorted(t["title"] for t in tasks) == ["Intro call", "Send deck"]
        assert {t["source"] for t in tasks} == {"PLAYBOOK"}
        assert {t["assigneeId"] for t in tasks} == {"owner-1"}
        assert await count_on(js, contract.TASK_CREATED) == 2


async def test_two_replicas_create_each_playbook_task_once_and_round_robin_stays_fair(
    settings: Settings, js: JetStreamContext
) -> None:
    members = ["m1", "m2", "m3", "m4"]
    async with service(settings) as one, service(settings) as two:
        team = (
            await one.data(
                'mutation($m: [ID!]!) { createTeam(input: {name: "SDR", memberIds: $m}) { id } }',
                {"m": members},
            )
        )["createTeam"]
        playbook = [
            {
                "key": "call",
                "title": "Call",
                "type": "call",
                "assignee": {"rule": "team", "teamId": team["id"]},
            },
        ]
        changes = 40
        events = [
            examples.stage_changed(deal_id=f"d{i}", workspace="w1", playbook=playbook)
            for i in range(changes)
        ]
        for event in events:
            await publish(js, event)
        for event in events[::3]:  # some duplicates for good measure
            await publish(js, event, msg_id=f"dup-{event.id}")

        async def all_created() -> int:
            data = await two.data("{ tasks(first: 1) { totalCount } }")
            return data["tasks"]["totalCount"] >= changes

        # A bound, not a timing: 80 deliveries through two replicas on a shared machine.
        await eventually(all_created, timeout=60)
        await asyncio.sleep(1.0)
        data = await one.data(
            "{ tasks(first: 200) { totalCount edges { node { assigneeId dealId } } } }"
        )
        assert data["tasks"]["totalCount"] == changes
        nodes = [e["node"] for e in data["tasks"]["edges"]]
        assert len({n["dealId"] for n in nodes}) == changes
        per_member = Counter(n["assigneeId"] for n in nodes)
        assert per_member == {m: changes // len(members) for m in members}


async def test_reminder_and_overdue_fire_once_across_a_restart(
    settings: Settings, js: JetStreamContext
) -> None:
    now = utcnow()
    remind_at, due_at = now + timedelta(seconds=1.5), now + timedelta(seconds=5)
    async with service(settings) as first:
        task = (
            await first.data(
                'mutation($r: DateTime, $d: DateTime) { createTask(input: {title: "Call", '
                'remindAt: $r, dueAt: $d, assigneeId: "bob"}) { id } }',
                {"r": iso(remind_at), "d": iso(due_at)},
            )
        )["createTask"]
        await eventually(lambda: count_on(js, contract.TASK_REMINDER_DUE), timeout=10)
        reminded = utcnow()
        assert await count_on(js, contract.TASK_OVERDUE) == 0
    # Stopped between remind-at and due-at; a new instance takes over.
    assert reminded < due_at
    async with service(settings), service(settings):  # and now two replicas
        await eventually(lambda: count_on(js, contract.TASK_OVERDUE), timeout=15)
        fired = utcnow()
        await asyncio.sleep(1.5)  # several scheduler passes of both replicas
    assert fired - due_at < timedelta(seconds=5)
    assert await count_on(js, contract.TASK_REMINDER_DUE) == 1
    assert await count_on(js, contract.TASK_OVERDUE) == 1
    # Notifications: one for the reminder, one for the overdue task.
    assert await count_on(js, contract.NOTIFICATION_CREATED) == 2
    sub = await js.subscribe(contract.TASK_OVERDUE, ordered_consumer=True)
    message = await sub.next_msg(timeout=5)
    await sub.unsubscribe()
    event = CloudEvent.from_json(message.data)
    overdue = contract.TaskOverdue.model_validate(event.data)
    assert (overdue.task.id, overdue.task.assignee_id) == (task["id"], "bob")


async def test_rules_run_once_per_event(settings: Settings, js: JetStreamContext) -> None:
    async with service(settings) as one, service(settings):
        rule = (
            await one.data(
                """mutation { createAutomationRule(input: {
                  name: "Won: kickoff", trigger: DEAL_WON,
                  conditions: [{path: "deal.amountMinor", op: GT, value: 1000}],
                  actions: [{type: CREATE_TASK, task: {title: "Kickoff {{deal.title}}",
                             type: MEETING, dueOffsetDays: 1}},
                            {type: NOTIFY, userId: "cs-lead"}]}) { id } }"""
            )
        )["createAutomationRule"]
        won = examples.deal_closed(deal_id="d7", won=True)
        await publish(js, won)
        await publish(js, won, msg_id="again")

        async def runs() -> list[dict]:
            data = await one.data(
                "query($id: ID!) { ruleRuns(ruleId: $id) { edges { node { outcome taskIds } } } }",
                {"id": rule["id"]},
            )
            edges = data["ruleRuns"]["edges"]
            return edges if edges and edges[0]["node"]["outcome"] != "RUNNING" else []

        edges = await eventually(runs)
        await asyncio.sleep(1.0)
        edges = await runs()
        assert [e["node"]["outcome"] for e in edges] == ["SUCCEEDED"]
        tasks = (await deal_tasks(one, "d7"))["d7"]
        assert [(t["title"], t["source"]) for t in tasks] == [("Kickoff Deal d7", "RULE")]
        await eventually(lambda: count_on(js, contract.NOTIFICATION_CREATED))
        assert await count_on(js, contract.NOTIFICATION_CREATED) == 1


async def test_closing_a_deal_cancels_playbook_tasks(
    settings: Settings, js: JetStreamContext
) -> None:
    async with service(settings) as client:
        await publish(js, examples.stage_changed(deal_id="d9", workspace="w1"))

        async def two_open() -> bool:
            return len((await deal_tasks(client, "d9"))["d9"]) == 2

        await eventually(two_open)
        await publish(js, examples.deal_closed(deal_id="d9", won=False))

        async def none_open() -> bool:
            return (await deal_tasks(client, "d9"))["d9"] == []

        await eventually(none_open)
        await eventually(lambda: count_on(js, contract.TASK_CANCELLED))
        data = await client.data(
            '{ tasks(filter: {dealId: "d9", status: CANCELLED}) { totalCount } }'
        )
        assert data["tasks"]["totalCount"] == 2


async def drained(js: JetStreamContext, *durables: str) -> bool:
    """Every message of the deals stream handed to these durables has been acked."""
    stream = stream_for("deals").name
    infos = [await js.consumer_info(stream, durable) for durable in durables]
    return all(i.num_pending == 0 and i.num_ack_pending == 0 for i in infos)


async def test_a_close_before_or_beside_the_stage_change_leaves_no_playbook_task(
    settings: Settings, js: JetStreamContext
) -> None:
    """Reordered on the real NATS: the close of d10 is published before the stage change
    that carries its playbook; d11's both at once; d12 never closes (the control)."""
    entered_at = utcnow() - timedelta(minutes=5)
    closed_at = entered_at + timedelta(minutes=1)
    async with service(settings) as client:
        await publish(js, examples.deal_closed(deal_id="d10", won=False, at=closed_at))
        await publish(js, examples.stage_changed(deal_id="d10", changed_at=entered_at))
        await asyncio.gather(
            publish(js, examples.stage_changed(deal_id="d11", changed_at=entered_at)),
            publish(js, examples.deal_closed(deal_id="d11", won=True, at=closed_at)),
            publish(js, examples.stage_changed(deal_id="d12", changed_at=entered_at)),
        )
        await eventually(lambda: drained(js, "tasks-playbooks", "tasks-deal-closing"))
        found = await deal_tasks(client, "d10", "d11", "d12")
        assert found["d10"] == [] and found["d11"] == []
        assert len(found["d12"]) == 2


async def test_a_close_delivered_after_the_reopen_keeps_the_reopened_deals_tasks(
    settings: Settings, js: JetStreamContext
) -> None:
    """On the real NATS, d13's history is 2 moved (two playbook tasks), 3 won, 4 reopened
    into a stage with its own playbook; the won is delayed past the reopen and then
    redelivered. Only the tasks of the stage change before the close are cancelled."""
    entered_at = utcnow() - timedelta(minutes=5)
    reopened_at = entered_at + timedelta(minutes=2)
    again = [{"key": "call-again", "title": "Call again", "type": "call"}]
    won = examples.deal_closed(
        deal_id="d13", won=True, at=entered_at + timedelta(minutes=1), stage_sequence=3
    )
    async with service(settings) as client:
        await publish(
            js, examples.stage_changed(deal_id="d13", changed_at=entered_at, stage_sequence=2)
        )
        await eventually(lambda: drained(js, "tasks-playbooks"))
        await publish(
            js,
            examples.stage_changed(
                deal_id="d13", changed_at=reopened_at, playbook=again, stage_sequence=4
            ),
        )
        await publish(js, examples.deal_reopened(deal_id="d13", at=reopened_at, stage_sequence=4))
        await eventually(lambda: drained(js, "tasks-playbooks", "tasks-deal-closing"))
        assert len((await deal_tasks(client, "d13"))["d13"]) == 3
        await publish(js, won)
        await publish(js, won, msg_id="redelivered")
        await eventually(lambda: drained(js, "tasks-playbooks", "tasks-deal-closing"))
        found = (await deal_tasks(client, "d13"))["d13"]
        assert [t["title"] for t in found] == ["Call again"]
        data = await client.data(
            '{ tasks(filter: {dealId: "d13", status: CANCELLED}) { totalCount } }'
        )
        assert data["tasks"]["totalCount"] == 2


async def test_nats_endpoints_are_workspace_scoped(
    settings: Settings, js: JetStreamContext, infra: Any
) -> None:
    async with service(settings) as client:
        nc = await infra.connect_nats("cli")
        try:
            created = await cli_call(
                nc,
                contract.RPC_TASK_CREATE,
                "w1",
                {
                    "title": "Send contract",
                    "type": "email",
                    "dealId": "d5",
                    "assigneeId": "bob",
                    "dueAt": "2030-01-01T10:00:00Z",
                },
                "rep",
            )
            assert created["status"] == "open"
            listed = await cli_call(nc, contract.RPC_TASKS_OPEN_FOR, "w1", {"dealId": "d5"})
            assert [t["id"] for t in listed["tasks"]] == [created["id"]]
            other = await cli_call(nc, contract.RPC_TASKS_OPEN_FOR, "w2", {"dealId": "d5"})
            assert other["tasks"] == []
            with pytest.raises(RpcError) as caught:
                await cli_call(nc, contract.RPC_TASK_CREATE, "w1", {"type": "call"}, "rep")
            assert caught.value.code == "BAD_REQUEST"
            # Reading is any role's; creating is not a viewer's.
            with pytest.raises(RpcError) as caught:
                await cli_call(nc, contract.RPC_TASK_CREATE, "w1", {"title": "x"}, "viewer")
            assert caught.value.code == "FORBIDDEN"
            with pytest.raises(RpcError) as caught:
                await cli_call(nc, contract.RPC_TASKS_OPEN_FOR, "", {"dealId": "d5"})
            assert caught.value.code == "UNAUTHENTICATED"
        finally:
            await nc.close()
        data = await client.data('{ tasks(filter: {dealId: "d5"}) { edges { node { id } } } }')
        assert [e["node"]["id"] for e in data["tasks"]["edges"]] == [created["id"]]
