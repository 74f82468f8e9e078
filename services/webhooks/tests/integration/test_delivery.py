"""Webhooks on the real FerretDB and NATS: events of another service's stream reach a
receiver signed as Standard Webhooks asks, retried after a 500 and a timeout with the same
`webhook-id`, in order per record, and an endpoint that keeps failing is disabled (and its
workspace told)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest
from starlette.applications import Starlette

from crm_contracts import deals
from crm_contracts import webhooks as contract
from crm_contracts.envelope import HEADER_MSG_ID, HEADER_WORKSPACE, new_event
from crm_contracts.streams import stream_for
from crm_kit.live_testing import LiveStream
from crm_kit.settings import Settings
from crm_kit.testing import GraphQLClient, eventually, gateway_auth, running_app
from crm_webhooks.app import create_app
from crm_webhooks.config import DeliverySettings
from crm_webhooks.domain.signing import verify

pytestmark = pytest.mark.integration

CREATE = """mutation($url: String!, $events: [String!]!) {
  createWebhook(input: {url: $url, events: $events}) { secret webhook { id } }
}"""
NOTICE = "subscription { webhookDisabled { id enabled disabledReason } }"
DELIVERIES = """query($id: ID!) { webhookDeliveries(webhookId: $id, first: 50) {
  totalCount edges { node { id status attempts responseCode eventType record } } } }"""


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    answered: str  # "200", "500" or "timeout"


@dataclass
class Receiver:
    """An HTTP endpoint of the test's own: `script(request)` says how to answer."""

    script: Callable[[Received], str]
    received: list[Received] = field(default_factory=list)
    port: int = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                line = await reader.readline()
                if not line:
                    return
                headers: dict[str, str] = {}
                while (h := await reader.readline()) not in (b"\r\n", b""):
                    name, _, value = h.decode().partition(":")
                    headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                request = Received(headers, body, "")
                request.answered = self.script(request)
                self.received.append(request)
                if request.answered == "timeout":
                    await asyncio.sleep(2.0)
                    return
                status = b"200 OK" if request.answered == "200" else b"500 Internal Server Error"
                writer.write(b"HTTP/1.1 " + status + b"\r\ncontent-length: 0\r\n\r\n")
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            writer.close()


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    answers: dict[str, list[str]] = {}

    def script(request: Received) -> str:
        record = orjson.loads(request.body)["subject"]
        plan = answers.get(record, [])
        return plan.pop(0) if plan else "200"

    found = Receiver(script)
    found.answers = answers  # type: ignore[attr-defined]
    server = await asyncio.start_server(found.handle, "127.0.0.1", 0)
    found.port = server.sockets[0].getsockname()[1]
    yield found
    server.close()


@pytest.fixture
async def running(infra: Any, db_name: str) -> AsyncIterator[tuple[Starlette, GraphQLClient]]:
    settings = Settings(
        service="webhooks",
        mongodb_uri=infra.mongodb_uri,
        database=db_name,
        nats_url=infra.nats_url,
        outbox_sweep_seconds=0.2,
    )
    delivery = DeliverySettings(
        schedule=(0.3, 0.3, 0.3),
        timeout_seconds=0.8,
        disable_after_seconds=0.0,
        private_networks_allowed=True,
    )
    app = create_app(settings, delivery=delivery)
    async with running_app(app) as http:
        client = GraphQLClient(http, gateway_auth("webhooks", db_name, "ann", "admin"))
        await client.data(
            "mutation { setWebhookSettings(allowPrivateNetworks: true) { allowPrivateNetworks } }"
        )
        yield app, client


@pytest.fixture
def webhooks(running: tuple[Starlette, GraphQLClient]) -> GraphQLClient:
    return running[1]


async def _deal_event(nc: Any, workspace: str, deal_id: str, title: str) -> str:
    snapshot = deals.DealSnapshot(
        id=deal_id,
        title=title,
        amount_minor=100,
        currency="USD",
        pipeline_id="p1",
        pipeline_version=1,
        stage_key="prospecting",
        status="open",
        probability=10,
        forecast_category="pipeline",
    )
    event = new_event(
        event_type=deals.DEAL_UPDATED,
        source="crm/deals",
        workspace=workspace,
        subject=deal_id,
        data=deals.DealUpdated(deal=snapshot, changed_fields=["title"]).wire(),
    )
    headers = {HEADER_MSG_ID: event.id, HEADER_WORKSPACE: workspace}
    await nc.jetstream().publish(event.type, event.to_json(), headers=headers)
    return event.id


async def test_signed_retried_with_the_same_id_and_in_order_per_record(
    webhooks: GraphQLClient, receiver: Receiver, infra: Any, db_name: str
) -> None:
    url = f"http://127.0.0.1:{receiver.port}/hooks"
    created = (await webhooks.data(CREATE, {"url": url, "events": [deals.DEAL_UPDATED]}))[
        "createWebhook"
    ]
    secret = created["secret"]
    receiver.answers["deal-1"] = ["500", "timeout", "200"]  # type: ignore[attr-defined]
    nc = await infra.connect_nats()
    try:
        first = await _deal_event(nc, db_name, "deal-1", "one")
        second = await _deal_event(nc, db_name, "deal-1", "two")
        other = await _deal_event(nc, db_name, "deal-2", "other record")
    finally:
        await nc.close()
    await eventually(_settled(receiver, 5), timeout=30, what="five requests")
    by_event = [(orjson.loads(r.body)["id"], r.answered) for r in receiver.received]
    mine = [pair for pair in by_event if pair[0] in (first, second)]
    # The first event's attempts, then (only once it succeeded) the second's.
    assert mine == [(first, "500"), (first, "timeout"), (first, "200"), (second, "200")]
    assert (other, "200") in by_event  # another record is not held up behind deal-1
    ids = {
        r.headers["webhook-id"] for r in receiver.received if orjson.loads(r.body)["id"] == first
    }
    assert len(ids) == 1  # every attempt of one delivery carries the same webhook-id
    for request in receiver.received:
        h = request.headers
        assert verify(
            secret,
            h["webhook-id"],
            int(h["webhook-timestamp"]),
            request.body,
            h["webhook-signature"],
        )
        assert abs(int(h["webhook-timestamp"]) - time.time()) < 120
        assert orjson.loads(request.body)["type"] == deals.DEAL_UPDATED  # the CloudEvent
    log = await webhooks.data(DELIVERIES, {"id": created["webhook"]["id"]})
    rows = {e["node"]["id"]: e["node"] for e in log["webhookDeliveries"]["edges"]}
    assert rows[next(iter(ids))]["attempts"] == 3
    assert rows[next(iter(ids))]["status"] == "SUCCEEDED"
    assert rows[next(iter(ids))]["responseCode"] == 200
    # An admin sends it again: the same webhook-id, one more attempt.
    webhook_id = next(iter(ids))
    before = len(receiver.received)
    again = await webhooks.data(
        "mutation($d: ID!) { redeliver(deliveryId: $d) { id status } }", {"d": webhook_id}
    )
    assert again["redeliver"] == {"id": webhook_id, "status": "PENDING"}

    async def resent() -> bool:
        return any(r.headers["webhook-id"] == webhook_id for r in receiver.received[before:])

    await eventually(resent, timeout=20, what="the redelivery")


def _settled(receiver: Receiver, count: int) -> Callable[[], Any]:
    async def probe() -> bool:
        return (
            len([r for r in receiver.received if r.answered == "200"]) >= 3
            and len(receiver.received) >= count
        )

    return probe  # type: ignore[return-value]


async def test_an_endpoint_that_keeps_failing_is_disabled_and_announced(
    running: tuple[Starlette, GraphQLClient], receiver: Receiver, infra: Any, db_name: str
) -> None:
    app, webhooks = running
    url = f"http://127.0.0.1:{receiver.port}/hooks"
    created = (await webhooks.data(CREATE, {"url": url, "events": ["*"]}))["createWebhook"]
    hook = created["webhook"]["id"]
    receiver.answers["deal-9"] = ["500"] * 10  # type: ignore[attr-defined]
    # The admins' notice, live (through the gateway: `subscription { webhookDisabled }`);
    # a rep may not listen.
    notice = await LiveStream.open(app, "webhooks", NOTICE, workspace=db_name, roles="admin")
    refused = await LiveStream.open(app, "webhooks", NOTICE, workspace=db_name, roles="rep")
    nc = await infra.connect_nats()
    try:
        assert (await refused.result())["errors"][0]["extensions"]["code"] == "FORBIDDEN"
        js = nc.jetstream()
        announced = await js.subscribe(
            contract.ENDPOINT_DISABLED, stream=stream_for("webhooks").name, ordered_consumer=True
        )
        await _deal_event(nc, db_name, "deal-9", "doomed")

        async def disabled() -> dict[str, Any] | None:
            found = await webhooks.data(
                "query($id: ID!) { webhook(id: $id) { enabled disabledReason } }", {"id": hook}
            )
            return found["webhook"] if not found["webhook"]["enabled"] else None

        state = await eventually(disabled, timeout=30)
        assert "every delivery failed" in state["disabledReason"]
        assert len(receiver.received) == 4  # the first attempt and three retries
        while True:
            message = await announced.next_msg(timeout=10)
            body = orjson.loads(message.data)
            if body["data"]["endpointId"] == hook:
                break
        assert body["workspace"] == db_name
        told = (await notice.result(timeout=30))["data"]["webhookDisabled"]
        assert told == {"id": hook, "enabled": False, "disabledReason": state["disabledReason"]}
    finally:
        await nc.close()
        await notice.close()
        await refused.close()


async def test_the_settings_change_reaches_the_audit_log(webhooks: GraphQLClient) -> None:
    """On the real database the entry rides in the settings document and the relay moves
    it to the log (the fixture turned private networks on; here they are turned off)."""
    await webhooks.data(
        "mutation { setWebhookSettings(allowPrivateNetworks: false) { allowPrivateNetworks } }"
    )
    log = "{ webhooksAuditLog { edges { node { recordType action changes { field after } } } } }"

    async def logged() -> list[tuple[str, str]]:
        found = await webhooks.data(log)
        nodes = [e["node"] for e in found["webhooksAuditLog"]["edges"]]
        return [(n["recordType"], n["action"]) for n in nodes]

    await eventually(
        lambda: _equal(logged(), [("webhook_settings", "update"), ("webhook_settings", "create")])
    )


async def _equal(found: Any, expected: list[tuple[str, str]]) -> bool:
    return bool(await found == expected)
