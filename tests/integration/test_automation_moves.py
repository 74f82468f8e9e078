"""An automation rule that moves deals, across services on real FerretDB + NATS: the tasks
service asks the deals service over request/reply (`rpc.deals.deal.move`) as the rule, and
the deals service enforces the exit criteria as for any move (a rule can never skip them).
Completing a deal's discovery call moves it on; a deal whose criteria do not hold stays,
and the rule's run says why."""

from __future__ import annotations

from typing import Any

import pytest
from nats.errors import Error as NatsError

from crm_contracts import deals as deal_contract
from crm_deals.app import create_app as create_deals_app
from crm_kit.assertions import KeyRing
from crm_kit.rpc import RpcError, rpc_call, service_context
from crm_kit.testing import GraphQLClient, eventually, gateway_auth, running_app
from crm_tasks.app import create_app as create_tasks_app

# `contacts_standin` (autouse): deals asks contacts whether a deal's company exists, and
# contacts does not run here.
from .test_handover import contacts_standin, fresh_streams, settings  # noqa: F401

pytestmark = pytest.mark.integration

CREATE = """mutation($input: CreateDealInput!) { createDeal(input: $input) { id } }"""
MOVE = """mutation($id: ID!) { moveDeal(id: $id, stageKey: "qualification") { id } }"""
DEAL = """query($id: ID!) { deal(id: $id) { stage { key } stageHistory { toStage by } } }"""
RULE = """mutation { createAutomationRule(input: {name: "Discovery done: engage",
  trigger: TASK_COMPLETED,
  conditions: [{path: "task.source.templateKey", op: EQ, value: "discovery_call"}],
  actions: [{type: MOVE_DEAL, stageKey: "engaging"}]}) { id } }"""
RUNS = """query($id: ID!) { ruleRuns(ruleId: $id) { edges { node {
  eventId outcome error } } } }"""
DEAL_TASKS = """query($reps: [_Any!]!) { _entities(representations: $reps) {
  ... on Deal { id tasks(status: OPEN) { id } } } }"""
COMPLETE = """mutation($id: ID!) { completeTask(id: $id, outcome: "held") { id } }"""


async def test_a_rule_moves_a_deal_only_when_its_exit_criteria_hold(
    infra: Any, db_name: str
) -> None:
    await fresh_streams(infra)
    deals_app = create_deals_app(settings(infra, "deals", f"{db_name}_deals"))
    tasks_app = create_tasks_app(settings(infra, "tasks", f"{db_name}_tasks"))
    async with running_app(deals_app) as deals_http, running_app(tasks_app) as tasks_http:
        deals = GraphQLClient(deals_http, gateway_auth("deals", "w1", "boss", "manager"))
        tasks = GraphQLClient(tasks_http, gateway_auth("tasks", "w1", "boss", "manager"))
        rule = (await tasks.data(RULE))["createAutomationRule"]

        async def qualified(**fields: Any) -> str:
            values = {"title": "Rack", "amount": "10.00", "companyId": "c1", **fields}
            deal_id = (await deals.data(CREATE, {"input": values}))["createDeal"]["id"]
            await deals.data(MOVE, {"id": deal_id})  # qualification: its discovery call
            return deal_id

        # Everything qualification asks for, once the discovery call is done; and one
        # without an expected close date, which no rule may move past qualification.
        ready = await qualified(primaryContactId="p1", expectedCloseDate="2030-01-31")
        lacking = await qualified(primaryContactId="p2")

        async def discovery_call(deal_id: str) -> str | None:
            reps = [{"__typename": "Deal", "id": deal_id}]
            found = (await tasks.data(DEAL_TASKS, {"reps": reps}))["_entities"][0]["tasks"]
            return found[0]["id"] if found else None

        for deal_id in (ready, lacking):
            task_id = await eventually(lambda d=deal_id: discovery_call(d), timeout=20)
            await tasks.data(COMPLETE, {"id": task_id})

        async def settled_runs() -> list[dict[str, Any]] | None:
            edges = (await tasks.data(RUNS, {"id": rule["id"]}))["ruleRuns"]["edges"]
            runs = [edge["node"] for edge in edges]
            done = len(runs) == 2 and all(run["outcome"] != "RUNNING" for run in runs)
            return runs if done else None

        runs = await eventually(settled_runs, timeout=30)
        assert sorted(run["outcome"] for run in runs) == ["FAILED", "SUCCEEDED"]
        [failed] = [run for run in runs if run["outcome"] == "FAILED"]
        assert "PRECONDITION_FAILED" in failed["error"]
        assert "field:expectedCloseDate" in failed["error"]

        moved = (await deals.data(DEAL, {"id": ready}))["deal"]
        assert moved["stage"] == {"key": "engaging"}
        assert moved["stageHistory"][-1] == {
            "toStage": "engaging",
            "by": f"service:tasks:automation:{rule['id']}",
        }
        kept = (await deals.data(DEAL, {"id": lacking}))["deal"]
        assert kept["stage"] == {"key": "qualification"}


async def test_the_move_endpoint_takes_only_the_tasks_party_and_tools(
    infra: Any, db_name: str
) -> None:
    """Capture may not ask for moves (its assertion is refused), and an unmet criterion is
    PRECONDITION_FAILED naming it, with nothing moved."""
    await fresh_streams(infra)
    deals_app = create_deals_app(settings(infra, "deals", f"{db_name}_deals"))
    async with running_app(deals_app) as deals_http:
        deals = GraphQLClient(deals_http, gateway_auth("deals", "w1", "boss", "manager"))
        values = {"title": "Rack", "amount": "10.00"}
        deal_id = (await deals.data(CREATE, {"input": values}))["createDeal"]["id"]
        body = {"id": deal_id, "stageKey": "qualification"}
        tasks_nc = await infra.connect_nats("tasks")
        capture_nc = await infra.connect_nats("capture")
        try:
            as_rule = service_context("tasks", "w1", "manager")
            with pytest.raises(RpcError) as refused:
                await rpc_call(
                    tasks_nc,
                    deal_contract.RPC_DEAL_MOVE,
                    as_rule,
                    body,
                    keys=KeyRing.from_env("tasks"),
                )
            assert refused.value.code == "PRECONDITION_FAILED"
            assert "field:company" in refused.value.message
            # Not even a request NATS lets capture send: no answer comes.
            with pytest.raises((NatsError, TimeoutError)):
                await rpc_call(
                    capture_nc,
                    deal_contract.RPC_DEAL_MOVE,
                    service_context("capture", "w1", "manager"),
                    body,
                    keys=KeyRing.from_env("capture"),
                    timeout=1.0,
                )
        finally:
            await tasks_nc.close()
            await capture_nc.close()
        kept = (await deals.data(DEAL, {"id": deal_id}))["deal"]
        assert kept["stage"] == {"key": "prospecting"}
