"""Record sharing on the real FerretDB and NATS (`crm_kit.sharing`): the tasks service's
team and settings events reach this service's projection through its durable consumer, and
the visibility filter is pushed down to the database (and to the read index on the
`ferretdb` profile) for lists, counts and the board; the request/reply endpoints act for
the user their assertion names."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

import pytest
from nats.aio.client import Client

from crm_contracts import deals as contract
from crm_kit.assertions import KeyRing
from crm_kit.context import RequestContext
from crm_kit.rpc import RpcError, rpc_call
from crm_kit.sharing_testing import publish_settings, publish_team
from crm_kit.testing import eventually

pytestmark = pytest.mark.integration

CREATE = """mutation($owner: String!, $amount: String!) {
  createDeal(input: {title: "Deal", amount: $amount, ownerId: $owner}) { id }
}"""
VIEW = "{ deals { totalCount edges { node { ownerId } } } pipelineBoard { columns { count } } }"


async def test_the_projection_narrows_what_each_caller_reads(
    service: dict[str, Any], nc: Client
) -> None:
    workspace = f"ws-share-{uuid4().hex[:8]}"
    admin = service["client"](workspace)
    ids = {}
    for owner, amount in (("rita", "10.00"), ("otto", "20.00")):
        made = await admin.data(CREATE, {"owner": owner, "amount": amount})
        ids[owner] = made["createDeal"]["id"]
    js = nc.jetstream()
    await publish_team(js, workspace, "east", "max", ["otto"])
    await publish_settings(js, workspace, 1, {"deal": "own"}, {"deal.amount": ["manager"]})
    rita = service["client"](workspace, "rita", "rep")

    async def narrowed() -> bool:
        return (await rita.data(VIEW))["deals"]["totalCount"] == 1

    await eventually(narrowed, timeout=15)
    data = await rita.data(VIEW)
    assert [e["node"]["ownerId"] for e in data["deals"]["edges"]] == ["rita"]
    assert sum(c["count"] for c in data["pipelineBoard"]["columns"]) == 1
    manager = await service["client"](workspace, "max", "manager").data(VIEW)
    assert [e["node"]["ownerId"] for e in manager["deals"]["edges"]] == ["otto"]
    assert (await admin.data(VIEW))["deals"]["totalCount"] == 2

    # Request/reply for a user: hidden is NOT_FOUND, amounts blank.
    as_rita = RequestContext(workspace, "rita", frozenset({"rep"}))
    keys = KeyRing.from_env("cli")
    with pytest.raises(RpcError) as refused:
        await rpc_call(nc, contract.RPC_DEAL_GET, as_rita, {"id": ids["otto"]}, keys=keys)
    assert refused.value.code == "NOT_FOUND"
    mine = await rpc_call(nc, contract.RPC_DEAL_GET, as_rita, {"id": ids["rita"]}, keys=keys)
    assert mine["amount"] is None and mine["amountMinor"] is None
    listed = await rpc_call(
        nc, contract.RPC_DEALS_BY_CONTACT, as_rita, {"contactId": "nobody"}, keys=keys
    )
    assert listed["deals"] == []

    # A later setting wins; an older one arriving late changes nothing.
    consumer = next(c for c in service["runtime"].consumers if c.durable == "deals-access-view")
    handled = consumer.handled
    await publish_settings(js, workspace, 3, {"deal": "everyone"})
    await publish_settings(js, workspace, 2, {"deal": "own"})

    async def both_handled() -> bool:
        return consumer.handled >= handled + 2

    await eventually(both_handled, timeout=15)
    assert (await rita.data(VIEW))["deals"]["totalCount"] == 2
