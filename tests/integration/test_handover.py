"""Owner handover across services on real FerretDB + NATS: the deals app and the tasks app
run together; a handover of rep A's book moves A's open deals to B and, through
`crm.deals.deals.handed_over.v1`, the playbook tasks of those deals."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest
from nats.js.errors import NotFoundError

from crm_contracts.streams import stream_for
from crm_deals.app import create_app as create_deals_app
from crm_kit.nats_io import ensure_stream
from crm_kit.settings import Settings
from crm_kit.testing import (
    GraphQLClient,
    eventually,
    gateway_auth,
    reference_standins,
    running_app,
)
from crm_tasks.app import create_app as create_tasks_app

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
async def contacts_standin(infra: Any) -> AsyncIterator[None]:
    """The deals service asks the contacts service whether the company a deal names
    exists; contacts does not run here, so a stand-in answers (every id exists)."""
    nc = await infra.connect_nats()
    async with reference_standins(nc, set(), deals=False):
        yield
    await nc.close()


CREATE = """mutation($input: CreateDealInput!) { createDeal(input: $input) { id } }"""
MOVE = """mutation($id: ID!) { moveDeal(id: $id, stageKey: "qualification") { id } }"""
WON = """mutation($id: ID!) { closeDealWon(id: $id) { id } }"""
HAND_OVER = """mutation { handOverDeals(input: {fromOwnerId: "rep-a", toOwnerId: "rep-b",
  note: "territory"}) { moved dealIds } }"""
OWNED = """query($owner: String!) { deals(filter: {ownerId: $owner, status: OPEN}) {
  totalCount edges { node { id } } } }"""
DEAL = """query($id: ID!) { deal(id: $id) { ownerId ownerChanges { toOwnerId note } } }"""
DEAL_TASKS = """query($reps: [_Any!]!) { _entities(representations: $reps) {
  ... on Deal { id tasks(status: OPEN) { id assigneeId source } } } }"""


def settings(infra: Any, service: str, database: str) -> Settings:
    return Settings(
        service=service,
        mongodb_uri=infra.mongodb_uri,
        database=database,
        nats_url=infra.nats_url,
        outbox_sweep_seconds=0.5,
        max_deliveries=5,
    )


async def fresh_streams(infra: Any) -> None:
    """Empty CRM streams (and no durables left from other tests)."""
    nc = await infra.connect_nats()
    js = nc.jetstream()
    for service in ("deals", "contacts", "tasks"):
        spec = stream_for(service)
        with contextlib.suppress(NotFoundError):
            await js.delete_stream(spec.name)
        await ensure_stream(js, spec)
    await nc.close()


async def test_handover_moves_open_deals_and_their_playbook_tasks(infra: Any, db_name: str) -> None:
    await fresh_streams(infra)
    deals_app = create_deals_app(settings(infra, "deals", f"{db_name}_deals"))
    tasks_app = create_tasks_app(settings(infra, "tasks", f"{db_name}_tasks"))
    async with running_app(deals_app) as deals_http, running_app(tasks_app) as tasks_http:
        deals = GraphQLClient(deals_http, gateway_auth("deals", "w1", "boss", "manager"))
        tasks = GraphQLClient(tasks_http, gateway_auth("tasks", "w1", "boss", "manager"))

        async def create(owner: str) -> str:
            values = {"title": "Rack", "amount": "10.00", "ownerId": owner, "companyId": "c1"}
            return (await deals.data(CREATE, {"input": values}))["createDeal"]["id"]

        moved_deal, other_open = await create("rep-a"), await create("rep-a")
        closed = await create("rep-a")
        await deals.data(WON, {"id": closed})
        await deals.data(MOVE, {"id": moved_deal})  # qualification: discovery_call for the owner

        async def deal_tasks() -> list[dict]:
            reps = [{"__typename": "Deal", "id": moved_deal}]
            return (await tasks.data(DEAL_TASKS, {"reps": reps}))["_entities"][0]["tasks"]

        playbook = await eventually(deal_tasks, timeout=20)
        assert {t["assigneeId"] for t in playbook} == {"rep-a"}
        assert {t["source"] for t in playbook} == {"PLAYBOOK"}

        done = (await deals.data(HAND_OVER))["handOverDeals"]
        assert done["moved"] == 2 and sorted(done["dealIds"]) == sorted([moved_deal, other_open])

        async def b_has_the_tasks() -> bool:
            current = await deal_tasks()
            return bool(current) and {t["assigneeId"] for t in current} == {"rep-b"}

        await eventually(b_has_the_tasks, timeout=20)
        assert {t["id"] for t in await deal_tasks()} == {t["id"] for t in playbook}
        owned_b = (await deals.data(OWNED, {"owner": "rep-b"}))["deals"]
        assert owned_b["totalCount"] == 2
        assert (await deals.data(OWNED, {"owner": "rep-a"}))["deals"]["totalCount"] == 0
        kept = (await deals.data(DEAL, {"id": closed}))["deal"]
        assert kept == {"ownerId": "rep-a", "ownerChanges": []}
        assert (await deals.data(DEAL, {"id": moved_deal}))["deal"]["ownerChanges"] == [
            {"toOwnerId": "rep-b", "note": "territory"}
        ]

        again = (await deals.data(HAND_OVER))["handOverDeals"]
        assert again == {"moved": 0, "dealIds": []}
