"""Webhook endpoints are audited like the CRM's records (`crm_kit.audit`): creating,
changing and deleting one each leave an entry naming who and what changed, never the
signing secret; the workspace's log is for admins (`webhooksAuditLog`), and the endpoint's
trail is what the single `auditTrail(recordId)` asks for (admins)."""

from __future__ import annotations

import pytest

from crm_contracts import webhooks as contract
from crm_kit.audit_rpc import admins_only, trail_endpoint
from crm_kit.context import RequestContext, bind_request
from crm_kit.memory_db import MemoryDatabase
from crm_kit.rpc import RpcError
from crm_kit.testing import GraphQLClient
from crm_webhooks.config import AUDIT, DeliverySettings
from crm_webhooks.events.publish import encode
from crm_webhooks.graphql.context import GraphQLContext
from crm_webhooks.graphql.schema import schema
from crm_webhooks.store.memory import memory_store
from crm_webhooks.usecases.scope import Scopes, scopes

LOG = """{ webhooksAuditLog { totalCount edges { node {
  recordType action actor changes { field before after } } } } }"""


@pytest.fixture
def scoped() -> Scopes:
    store = memory_store(MemoryDatabase(encode=encode, audit=AUDIT))
    return scopes(store, DeliverySettings(private_networks_allowed=True))


def _client(scoped: Scopes, roles: str) -> GraphQLClient:
    def context_of(caller: RequestContext) -> GraphQLContext:
        bind_request(caller)  # as the subgraph's HTTP gate does: entries name the caller
        return GraphQLContext(scoped(caller))

    return GraphQLClient.in_process(schema, context_of, "w1", "ada", roles)


async def test_each_change_of_an_endpoint_is_logged_without_its_secret(scoped: Scopes) -> None:
    admin = _client(scoped, "admin")
    made = await admin.data(
        'mutation { createWebhook(input: {url: "https://hooks.example.com/crm", '
        'events: ["*"]}) { webhook { id } secret } }'
    )
    secret = made["createWebhook"]["secret"]
    webhook_id = made["createWebhook"]["webhook"]["id"]
    await admin.data(
        'mutation($id: ID!) { updateWebhook(id: $id, input: {description: "CRM"}) { id } }',
        {"id": webhook_id},
    )
    await admin.data(
        "mutation($id: ID!) { rotateWebhookSecret(id: $id) { secret } }", {"id": webhook_id}
    )
    await admin.data("mutation($id: ID!) { deleteWebhook(id: $id) }", {"id": webhook_id})
    log = (await admin.data(LOG))["webhooksAuditLog"]
    nodes = [edge["node"] for edge in log["edges"]]
    # The rotation changed only the secrets, which no entry shows: no entry of its own.
    assert [(n["recordType"], n["action"], n["actor"]) for n in nodes] == [
        ("webhook_endpoint", "update", "ada"),
        ("webhook_endpoint", "update", "ada"),
        ("webhook_endpoint", "create", "ada"),
    ]
    assert {"field": "description", "before": None, "after": '"CRM"'} in nodes[1]["changes"]
    assert {"field": "deleted", "before": "false", "after": "true"} in nodes[0]["changes"]
    assert secret[6:] not in str(log)
    refused = await _client(scoped, "manager").execute(LOG)
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    ask = trail_endpoint(contract.RPC_AUDIT_TRAIL, scoped, admins_only).handler
    trail = await ask(RequestContext("w1", "ada", frozenset({"admin"})), {"recordId": webhook_id})
    assert trail["totalCount"] == 3
    with pytest.raises(RpcError) as hidden:
        await ask(RequestContext("w1", "rita", frozenset({"rep"})), {"recordId": webhook_id})
    assert hidden.value.code == "NOT_FOUND"


async def test_the_private_networks_setting_is_logged_each_time_it_changes(
    scoped: Scopes,
) -> None:
    """Who let the workspace's webhooks reach internal addresses, and who closed them again:
    a security question the log answers. Setting what is already set adds nothing."""
    admin = _client(scoped, "admin")
    setting = """mutation($on: Boolean!) {
      setWebhookSettings(allowPrivateNetworks: $on) { allowPrivateNetworks } }"""
    for on in (True, True, False):
        found = await admin.data(setting, {"on": on})
        assert found["setWebhookSettings"]["allowPrivateNetworks"] is on
    log = (await admin.data(LOG))["webhooksAuditLog"]
    nodes = [edge["node"] for edge in log["edges"]]
    assert [(n["recordType"], n["action"], n["actor"]) for n in nodes] == [
        ("webhook_settings", "update", "ada"),
        ("webhook_settings", "create", "ada"),
    ]
    assert nodes[0]["changes"] == [
        {"field": "allow_private_networks", "before": "true", "after": "false"}
    ]
