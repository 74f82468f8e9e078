"""The deals service on a real FerretDB + NATS: GraphQL, outbox to JetStream, consumers,
request/reply endpoints, tenancy and the Mongo mapping."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from nats.aio.client import Client
from nats.js.api import ConsumerConfig, DeliverPolicy
from pymongo.asynchronous.database import AsyncDatabase

from crm_contracts import deals as contract
from crm_contracts import tasks
from crm_contracts.envelope import CloudEvent, new_event
from crm_deals.store.indexed import IndexedRecordStore
from crm_kit.mongo import isolates_updates, pushes_filters_down
from crm_kit.rpc import RpcError
from crm_kit.testing import cli_call, eventually

pytestmark = pytest.mark.integration

CREATE = """mutation($input: CreateDealInput!) {
  createDeal(input: $input) { id stage { key } amount pipelineVersion }
}"""
MOVE = """mutation($id: ID!, $stage: String!) {
  moveDeal(id: $id, stageKey: $stage) { id stage { key } stageHistory { fromStage toStage } }
}"""


async def _create(client: Any, **fields: Any) -> dict[str, Any]:
    base = {"title": "Rack upgrade", "amount": "1250.50", "currency": "USD", "companyId": "co1"}
    data = await client.data(CREATE, {"input": {**base, **fields}})
    return data["createDeal"]


@pytest.fixture
def since() -> datetime:
    """When the test began: what it looks for in the shared stream was published after."""
    return datetime.now(UTC) - timedelta(seconds=1)


async def _collect(
    js: Any, subject: str, deal_id: str, count: int, since: datetime, timeout: float = 10
) -> list:
    """JetStream messages on `subject` about `deal_id` published since the test began (the
    stream is shared by tests: reading it from its start reads every deal the session's
    imports created, more than `timeout` allows on a loaded machine)."""
    sub = await js.subscribe(
        subject,
        ordered_consumer=True,
        deliver_policy=DeliverPolicy.BY_START_TIME,
        config=ConsumerConfig(opt_start_time=since),
    )
    found: list[CloudEvent] = []
    deadline = time.monotonic() + timeout
    try:
        while len(found) < count and time.monotonic() < deadline:
            try:
                msg = await sub.next_msg(timeout=0.5)
            except TimeoutError:
                continue
            event = CloudEvent.from_json(msg.data)
            if event.subject == deal_id:
                found.append(event)
    finally:
        await sub.unsubscribe()
    return found


async def test_request_without_token_is_refused(service: dict[str, Any]) -> None:
    response = await service["http"].post("/graphql", json={"query": "{ pipelines { id } }"})
    assert response.status_code == 401
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert (await service["http"].get("/ready")).json()["ready"] is True


async def test_create_move_and_events_reach_jetstream(
    service: dict[str, Any], nc: Client, db: AsyncDatabase, since: datetime
) -> None:
    client = service["client"]("ws-events")
    deal = await _create(client, primaryContactId="p1")
    assert deal["stage"]["key"] == "prospecting" and deal["amount"] == "1250.50"
    moved = await client.data(MOVE, {"id": deal["id"], "stage": "qualification"})
    assert [h["toStage"] for h in moved["moveDeal"]["stageHistory"]] == [
        "prospecting",
        "qualification",
    ]
    js = nc.jetstream()
    changes = await _collect(js, contract.DEAL_STAGE_CHANGED, deal["id"], 2, since)
    assert [e.data["toStage"] for e in changes] == ["prospecting", "qualification"]
    payload = contract.DealStageChanged.model_validate(changes[1].data)
    assert payload.from_stage == "prospecting" and payload.pipeline_version == 1
    assert [t.key for t in payload.playbook] == ["discovery_call"]
    assert payload.seconds_in_from_stage is not None
    assert changes[1].workspace == "ws-events"
    created = await _collect(js, contract.DEAL_CREATED, deal["id"], 1, since)
    assert created[0].data["deal"]["amountMinor"] == 125050

    # The relay emptied the outbox; the document keeps the history and derived fields.
    async def drained() -> bool:
        doc = await db["deals"].find_one({"_id": deal["id"]})
        return not doc["_outbox"] and doc["_outbox_pending"] is False

    await eventually(drained)
    doc = await db["deals"].find_one({"_id": deal["id"]})
    assert doc["workspace_id"] == "ws-events"
    assert doc["amount_minor"] == 125050 and doc["weighted_minor"] == 31262
    assert doc["stale_at"] is not None and len(doc["stage_history"]) == 2
    names = {i["name"] for i in await (await db["deals"].list_indexes()).to_list()}
    if await isolates_updates(db):  # MongoDB reads with the secondary indexes
        assert {"board", "external_id", "stale", "contacts"} <= names
    else:  # FerretDB reads only by _id: the unique index alone (crm_kit.mongo.apply_indexes),
        # and on the platform's build the outbox sweep's (`PUSHDOWN_SERVED`)
        swept = {"outbox_pending"} if await pushes_filters_down(db) else set()
        assert names == {"_id_", "external_id", *swept}


async def test_exit_criteria_block_until_the_playbook_task_completes_once(
    service: dict[str, Any], nc: Client, db: AsyncDatabase
) -> None:
    client = service["client"]("ws-tasks")
    deal = await _create(client, primaryContactId="p1", expectedCloseDate="2026-06-30")
    await client.data(MOVE, {"id": deal["id"], "stage": "qualification"})
    blocked = await client.execute(MOVE, {"id": deal["id"], "stage": "engaging"})
    error = blocked["errors"][0]
    assert error["extensions"]["code"] == "PRECONDITION_FAILED"
    assert error["extensions"]["unmet"] == [
        {
            "criterion": "playbook:discovery_call",
            "detail": "playbook task 'Discovery call with the buyer' is not completed",
        }
    ]

    completed = tasks.TaskCompleted(
        task=tasks.TaskSnapshot(
            id="t1",
            title="Discovery call",
            type="call",
            status="done",
            priority="normal",
            deal_id=deal["id"],
            source=tasks.TaskSource(kind="playbook", template_key="discovery_call"),
        ),
        completed_at="2026-01-10T10:00:00Z",
        on_time=True,
    )
    event = new_event(
        event_type=tasks.TASK_COMPLETED,
        source="crm/tasks",
        workspace="ws-tasks",
        subject="t1",
        data=completed.wire(),
    )
    js = nc.jetstream()
    # The same event twice (JetStream de-duplication defeated by different message ids),
    # then the same completion again under a new event id.
    await js.publish(event.type, event.to_json(), headers={"Nats-Msg-Id": "a-" + event.id})
    await js.publish(event.type, event.to_json(), headers={"Nats-Msg-Id": "b-" + event.id})
    again = new_event(
        event_type=tasks.TASK_COMPLETED,
        source="crm/tasks",
        workspace="ws-tasks",
        data=completed.wire(),
    )
    await js.publish(again.type, again.to_json(), headers={"Nats-Msg-Id": again.id})
    consumer = next(c for c in service["runtime"].consumers if c.durable == "deals-task-completed")

    async def all_seen() -> bool:
        return consumer.handled + consumer.skipped_duplicates >= 3

    await eventually(all_seen, timeout=15)
    assert consumer.skipped_duplicates >= 1
    doc = await db["deals"].find_one({"_id": deal["id"]})
    assert doc["completed_playbook_keys"] == ["discovery_call"]
    assert doc["last_activity_at"].isoformat().startswith("2026-01-10T10:00:00")
    moved = await client.data(MOVE, {"id": deal["id"], "stage": "engaging"})
    assert moved["moveDeal"]["stage"]["key"] == "engaging"


async def test_exit_criteria_on_create_and_the_admin_override_on_the_database(
    service: dict[str, Any], nc: Client, since: datetime
) -> None:
    """createDeal at a later stage is refused naming the criteria; an admin's override is
    stored on the history entry, read back from FerretDB, and travels in the event."""
    rep = service["client"]("ws-override", "bob", "rep")
    refused = await rep.error(
        CREATE, {"input": {"title": "X", "amount": "1", "stageKey": "engaging"}}
    )
    assert refused["extensions"]["code"] == "PRECONDITION_FAILED"
    assert "playbook:discovery_call" in refused["message"]
    forbidden = await rep.error(
        CREATE, {"input": {"title": "X", "amount": "1", "stageKey": "engaging", "override": True}}
    )
    assert forbidden["extensions"] == {"code": "FORBIDDEN", "field": "override"}
    admin = service["client"]("ws-override", "ann", "admin")
    deal = await _create(admin, stageKey="engaging", override=True)
    history = await admin.data(
        "query($id: ID!) { deal(id: $id) { stageHistory { kind overridden } } }",
        {"id": deal["id"]},
    )
    assert history["deal"]["stageHistory"] == [
        {
            "kind": "create",
            "overridden": ["field:expectedCloseDate", "playbook:discovery_call", "primaryContact"],
        }
    ]
    [change] = await _collect(nc.jetstream(), contract.DEAL_STAGE_CHANGED, deal["id"], 1, since)
    assert change.data["overriddenCriteria"] == history["deal"]["stageHistory"][0]["overridden"]
    assert change.data["deal"]["amountText"] == "1250.50"


async def test_a_skipping_move_needs_every_skipped_stages_criteria_on_the_database(
    service: dict[str, Any], nc: Client, since: datetime
) -> None:
    """Prospecting -> proposal is refused naming qualification's and engaging's criteria,
    with nothing stored; an admin's override stores them on the entry and in the event,
    which carries its place in the deal's history (`stageSequence`)."""
    admin = service["client"]("ws-skip", "ann", "admin")
    deal = await _create(admin, primaryContactId="p1", expectedCloseDate="2030-01-31")
    refused = await admin.error(MOVE, {"id": deal["id"], "stage": "proposal"})
    assert refused["extensions"]["code"] == "PRECONDITION_FAILED"
    assert [u["criterion"] for u in refused["extensions"]["unmet"]] == [
        "playbook:discovery_call",
        "playbook:product_demo",
    ]
    assert "skipping 'Qualification', 'Engaging'" in refused["message"]
    stored = await admin.data(
        "query($id: ID!) { deal(id: $id) { stage { key } stageHistory { kind } } }",
        {"id": deal["id"]},
    )
    assert stored["deal"] == {"stage": {"key": "prospecting"}, "stageHistory": [{"kind": "create"}]}
    forced = await admin.data(
        """mutation($id: ID!) { moveDeal(id: $id, stageKey: "proposal", override: true) {
             stageHistory { overridden } } }""",
        {"id": deal["id"]},
    )
    overridden = forced["moveDeal"]["stageHistory"][-1]["overridden"]
    assert overridden == ["playbook:discovery_call", "playbook:product_demo"]
    changes = await _collect(nc.jetstream(), contract.DEAL_STAGE_CHANGED, deal["id"], 2, since)
    assert [c.data["stageSequence"] for c in changes] == [1, 2]
    assert changes[-1].data["overriddenCriteria"] == overridden


async def test_contacts_events_repoint_and_flag_references(
    service: dict[str, Any], nc: Client, db: AsyncDatabase
) -> None:
    from crm_contracts import contacts

    client = service["client"]("ws-contacts")
    deal = await _create(client, primaryContactId="old", contactIds=["other"], companyId="coX")
    js = nc.jetstream()
    events = [
        (
            contacts.CONTACT_MERGED,
            contacts.ContactMerged(survivor_id="new", merged_id="old", moved_interactions=0),
        ),
        (contacts.COMPANY_DELETED, contacts.CompanyDeleted(id="coX")),
        (contacts.CONTACT_DELETED, contacts.ContactDeleted(id="other")),
        (
            contacts.INTERACTION_LOGGED,
            contacts.InteractionLogged(
                id="i1", kind="call", occurred_at="2026-02-01T08:00:00Z", contact_ids=["new"]
            ),
        ),
    ]
    for subject, payload in events:
        event = new_event(
            event_type=subject, source="crm/contacts", workspace="ws-contacts", data=payload.wire()
        )
        await js.publish(subject, event.to_json(), headers={"Nats-Msg-Id": event.id})

    async def applied() -> dict | None:
        doc = await db["deals"].find_one({"_id": deal["id"]})
        return doc if doc.get("last_activity_at") and doc.get("deleted_contact_ids") else None

    doc = await eventually(applied, timeout=15)
    assert doc["primary_contact_id"] == "new"
    assert doc["contact_ids"] == ["new", "other"]
    assert doc["company_deleted"] is True
    assert doc["deleted_contact_ids"] == ["other"]


async def test_rpc_endpoints_are_workspace_scoped(service: dict[str, Any], nc: Client) -> None:
    client = service["client"]("ws-rpc")
    deal = await _create(client, primaryContactId="p9", companyId="co9")
    got = await cli_call(nc, contract.RPC_DEAL_GET, "ws-rpc", {"id": deal["id"]})
    assert got["id"] == deal["id"] and got["amount"] == "1250.50" and got["amountMinor"] == 125050
    with pytest.raises(RpcError) as caught:
        await cli_call(nc, contract.RPC_DEAL_GET, "ws-other", {"id": deal["id"]})
    assert caught.value.code == "NOT_FOUND"
    with pytest.raises(RpcError) as caught:
        await cli_call(nc, contract.RPC_DEAL_GET, "ws-rpc", {})
    assert caught.value.code == "BAD_REQUEST"
    by_contact = await cli_call(nc, contract.RPC_DEALS_BY_CONTACT, "ws-rpc", {"contactId": "p9"})
    assert [d["id"] for d in by_contact["deals"]] == [deal["id"]]
    assert (await cli_call(nc, contract.RPC_DEALS_BY_CONTACT, "ws-other", {"contactId": "p9"}))[
        "deals"
    ] == []
    by_company = await cli_call(nc, contract.RPC_DEALS_BY_COMPANY, "ws-rpc", {"companyId": "co9"})
    assert by_company["totalCount"] == 1
    pipeline = await cli_call(nc, contract.RPC_PIPELINE_GET, "ws-rpc", {"id": "ws-rpc:default"})
    assert [s["key"] for s in pipeline["stages"]][:2] == ["prospecting", "qualification"]
    assert pipeline["stages"][1]["exitCriteria"]["playbookKeys"] == ["discovery_call"]
    with pytest.raises(RpcError):
        await cli_call(nc, contract.RPC_PIPELINE_GET, "ws-other", {"id": "ws-rpc:default"})
    info = await nc.request("$SRV.INFO.crm-deals", b"", timeout=2)
    # Four read endpoints, `rpc.deals.deal.move`, `rpc.deals.audit.trail`,
    # `rpc.deals.win_model.train` (win_model_rpc.py), the import's: batch write, undo,
    # references (entrypoints/imports.py), and the export's page (graphql/export_pages.py).
    assert len(orjson.loads(info.data)["endpoints"]) == 11


async def test_tenancy_over_graphql(service: dict[str, Any]) -> None:
    a, b = service["client"]("ws-a"), service["client"]("ws-b")
    deal = await _create(a)
    assert (await b.data("query($id: ID!) { deal(id: $id) { id } }", {"id": deal["id"]}))[
        "deal"
    ] is None
    moved = await b.execute(MOVE, {"id": deal["id"], "stage": "qualification"})
    assert moved["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    entities = await b.data(
        "query($r: [_Any!]!) { _entities(representations: $r) { ... on Deal { id } } }",
        {"r": [{"__typename": "Deal", "id": deal["id"]}]},
    )
    assert entities["_entities"] == [None]
    assert (await b.data("{ deals { totalCount } }"))["deals"]["totalCount"] == 0
    assert (await a.data("{ deals { totalCount } }"))["deals"]["totalCount"] == 1


async def test_board_totals_on_ferretdb(service: dict[str, Any]) -> None:
    client = service["client"]("ws-board")
    for amount in ("100.00", "200.50", "0.05"):
        await _create(client, amount=amount)
    await _create(client, amount="1000", currency="EUR")
    board = await client.data(
        """{ pipelineBoard { currency columns { stage { key } count totalAmount weightedAmount
             totalsByCurrency { currency count amount }
             deals(first: 2) { edges { node { id amount } } pageInfo { hasNextPage } totalCount }
        } } }"""
    )
    column = board["pipelineBoard"]["columns"][0]
    assert column["stage"]["key"] == "prospecting" and column["count"] == 4
    assert column["totalAmount"] == "300.55"
    # 10% of each deal in minor units: 1000 + 2005 + 0 (0.5 rounds half to even) = 30.05
    assert column["weightedAmount"] == "30.05"
    assert {t["currency"]: t["amount"] for t in column["totalsByCurrency"]} == {
        "EUR": "1000.00",
        "USD": "300.55",
    }
    assert column["deals"]["totalCount"] == 4 and column["deals"]["pageInfo"]["hasNextPage"]
    assert [e["node"]["amount"] for e in column["deals"]["edges"]] == ["1000.00", "200.50"]


async def test_title_text_narrows_lists_and_the_board_on_the_database(
    service: dict[str, Any],
) -> None:
    """Case-insensitive literal text through the real database's regex engine (spaces
    and metacharacters included), the same on the list and every board figure."""
    client = service["client"]("ws-text")
    for title, owner, amount in (
        ("Rack upgrade (Initech)", "bob", "100.00"),
        ("rack UPGRADE Globex", "bob", "200.00"),
        ("Rack upgrade Initech", "carol", "400.00"),
        ("Cabling", "bob", "800.00"),
    ):
        await _create(client, title=title, ownerId=owner, amount=amount)
    listed = await client.data(
        "query($t: String) { deals(filter: {text: $t}) { totalCount edges { node { title } } } }",
        {"t": " rack upgrade "},
    )
    assert listed["deals"]["totalCount"] == 3
    literal = await client.data(
        "query($t: String) { deals(filter: {text: $t}) { totalCount } }", {"t": "(initech)"}
    )
    assert literal["deals"]["totalCount"] == 1
    board = await client.data(
        """query($o: String, $t: String) { pipelineBoard(ownerId: $o, text: $t) { columns {
             count totalAmount deals(first: 1) { edges { node { title } } totalCount } } } }""",
        {"o": "bob", "t": "RACK UPGRADE"},
    )
    column = board["pipelineBoard"]["columns"][0]
    assert column["count"] == 2 and column["totalAmount"] == "300.00"
    assert [e["node"]["title"] for e in column["deals"]["edges"]] == ["rack UPGRADE Globex"]


async def test_two_concurrent_moves_cannot_both_apply(service: dict[str, Any]) -> None:
    client = service["client"]("ws-race")
    deal = await _create(client)
    results = await asyncio.gather(
        *(
            client.execute(MOVE, {"id": deal["id"], "stage": s})
            for s in ("qualification", "engaging")
        )
    )
    final = await client.data(
        "query($id: ID!) { deal(id: $id) { stage { key } stageHistory { toStage } } }",
        {"id": deal["id"]},
    )
    applied = [r for r in results if not r.get("errors")]
    history = [h["toStage"] for h in final["deal"]["stageHistory"]]
    # Either one applied and the other got CONFLICT, or they ran one after the other: the
    # history always matches what applied, never a lost update.
    assert len(history) == 1 + len(applied)
    for r in results:
        if r.get("errors"):
            assert r["errors"][0]["extensions"]["code"] in ("CONFLICT", "PRECONDITION_FAILED")


async def test_the_database_profile_chooses_the_store(service: dict[str, Any]) -> None:
    """`auto` detects FerretDB: the read index serves lists (kept current by its event feed);
    `mongodb` runs none of the embedded database's workarounds: the plain store, no feed."""
    app = service["app"]
    profile = app.state.settings.database_profile
    indexed = isinstance(app.state.store, IndexedRecordStore)
    assert indexed == (profile == "auto")
    assert (app.state.feed is not None) == indexed
    client = service["client"]("ws-profile")
    deal = await _create(client)
    found = await client.data('{ deals(filter: {companyId: "co1"}) { totalCount } }')
    assert found["deals"]["totalCount"] == 1 and deal["stage"] == {"key": "prospecting"}
