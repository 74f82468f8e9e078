"""On a real FerretDB and NATS: a task naming a deal or contact that does not exist is
refused (GraphQL and NATS request/reply alike) with nothing written; every change to a
task is in its audit trail, with the path it came through (graphql, nats, automation)."""

from __future__ import annotations

from typing import Any

import pytest
from nats.js import JetStreamContext
from pymongo import AsyncMongoClient

from crm_contracts import tasks as contract
from crm_kit.assertions import KeyRing
from crm_kit.context import RequestContext
from crm_kit.rpc import RpcError, rpc_call
from crm_kit.settings import Settings
from crm_kit.testing import GraphQLClient, eventually, gateway_auth, running_app
from crm_tasks.app import create_app
from crm_tasks.events import examples

from .conftest import publish

pytestmark = pytest.mark.integration

CREATE = """mutation($input: CreateTaskInput!) { createTask(input: $input) { id } }"""
UPDATE = """mutation($id: ID!, $input: UpdateTaskInput!) {
  updateTask(id: $id, input: $input) { id } }"""
TRAIL = """query($id: ID!) { tasksAuditTrail(recordId: $id) { totalCount
  edges { node { action path party actor recordType changes { field before after } } } } }"""
LOG = """query($f: AuditLogFilter) { tasksAuditLog(filter: $f, first: 50) { totalCount
  edges { node { recordId action path } } } }"""


async def _tasks_stored(settings: Settings) -> int:
    client: AsyncMongoClient[Any] = AsyncMongoClient(settings.mongodb_uri)
    try:
        return await client[settings.database]["tasks"].count_documents({})
    finally:
        await client.close()


async def test_a_task_naming_a_missing_deal_or_contact_is_refused_on_every_path(
    settings: Settings, infra: Any, referenced_records: set[str]
) -> None:
    referenced_records.update({"gone-deal", "gone-contact"})
    app = create_app(settings)
    async with running_app(app) as http:
        rep = GraphQLClient(http, gateway_auth("tasks", "w1", "rita", "rep"))
        refused = (await rep.execute(CREATE, {"input": {"title": "Call", "dealId": "gone-deal"}}))[
            "errors"
        ]
        assert refused[0]["extensions"]["code"] == "BAD_USER_INPUT"
        assert refused[0]["extensions"]["field"] == "input.dealId"
        nc = await infra.connect_nats("cli")
        try:
            with pytest.raises(RpcError) as over_nats:
                await rpc_call(
                    nc,
                    contract.RPC_TASK_CREATE,
                    RequestContext("w1", "rita", frozenset({"rep"})),
                    {"title": "Call", "type": "call", "contactId": "gone-contact"},
                    keys=KeyRing.from_env("cli"),
                )
        finally:
            await nc.close()
        assert over_nats.value.code == "BAD_REQUEST"
        assert "body.contactId" in over_nats.value.message
        assert await _tasks_stored(settings) == 0


async def test_every_change_of_a_task_is_in_its_trail_with_its_path(
    settings: Settings, infra: Any, js: JetStreamContext
) -> None:
    app = create_app(settings)
    async with running_app(app) as http:
        admin = GraphQLClient(http, gateway_auth("tasks", "w1", "ada", "admin"))
        rep = GraphQLClient(http, gateway_auth("tasks", "w1", "rita", "rep"))
        created = await rep.data(CREATE, {"input": {"title": "Call", "dealId": "d1"}})
        task_id = created["createTask"]["id"]
        await rep.data(UPDATE, {"id": task_id, "input": {"title": "Call back"}})
        nc = await infra.connect_nats("cli")
        try:
            over_nats = await rpc_call(
                nc,
                contract.RPC_TASK_CREATE,
                RequestContext("w1", "rita", frozenset({"rep"})),
                {"title": "Email", "type": "email", "dealId": "d2"},
                keys=KeyRing.from_env("cli"),
            )
        finally:
            await nc.close()
        trail = (await rep.data(TRAIL, {"id": task_id}))["tasksAuditTrail"]
        nodes = [edge["node"] for edge in trail["edges"]]
        assert [(n["action"], n["path"], n["actor"]) for n in nodes] == [
            ("update", "graphql", "rita"),
            ("create", "graphql", "rita"),
        ]
        assert nodes[0]["changes"] == [
            {"field": "title", "before": '"Call"', "after": '"Call back"'}
        ]
        nats_trail = (await admin.data(TRAIL, {"id": over_nats["id"]}))["tasksAuditTrail"]
        (made,) = [edge["node"] for edge in nats_trail["edges"]]
        assert (made["path"], made["party"], made["actor"]) == ("nats", "cli", "rita")

        # A stage change's playbook creates tasks: the service acting on its own.
        await publish(js, examples.stage_changed(deal_id="d9", workspace="w1"))

        async def by_automation() -> list[dict[str, Any]]:
            data = await admin.data(LOG, {"f": {"recordType": "task"}})
            nodes = [edge["node"] for edge in data["tasksAuditLog"]["edges"]]
            return [n for n in nodes if n["path"] == "automation" and n["action"] == "create"]

        assert len(await eventually(by_automation)) == 2
        log = (await admin.data(LOG, {"f": {"recordType": "task"}}))["tasksAuditLog"]
        assert log["totalCount"] >= 4
        denied = (await rep.execute(LOG, {"f": None}))["errors"]
        assert denied[0]["extensions"]["code"] == "FORBIDDEN"
