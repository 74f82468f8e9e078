"""Subscriptions through the gateway on the whole stack: a change made in one session reaches
a subscriber over WebSocket (graphql-transport-ws) and over SSE (graphql-sse), completed
with fields of two other subgraphs; workspaces stay apart; an expired token ends the
subscription; a subgraph restart does not. And the same change goes out as a signed
webhook, retried after a 500 with the same `webhook-id`.

The stack is this module's own (services restart here), with short subscription assertion
lifetimes so that the gateway also re-opens its subgraph streams during the tests."""

from __future__ import annotations

import asyncio
import base64
import hmac
import os
import re
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from crm_kit.auth import issue_token
from crm_kit.devstack import InfraStack, free_port, spawn, wait_http_ok
from crm_kit.paths import REPO_ROOT, python_path
from crm_kit.testing import GraphQLClient

from .helpers import eventually, gateway_client, new_workspace
from .live_clients import SseClient, WebhookReceiver, WsClient

pytestmark = pytest.mark.e2e

SERVICES = ("contacts", "deals", "tasks", "webhooks")
CHANGES = """
subscription($p: ID) {
  dealChanged(pipelineId: $p) {
    kind dealId fromStage { key } toStage { key }
    deal { title company { name } tasks { title } }
  }
}
"""


@dataclass
class LiveStack:
    env: dict[str, str]
    ports: dict[str, int]
    logs: Path
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    # The gateway's metrics port (its open subgraph streams are read there).
    metrics_port: int = field(default_factory=free_port)

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.ports['gateway']}/graphql"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.ports['gateway']}/graphql"

    def start(self, name: str) -> None:
        log = self.logs / f"{name}.log"
        # Metrics on a free port for the gateway, off for the rest: nothing collides with
        # another stack's default metrics ports.
        metrics = str(self.metrics_port) if name == "gateway" else "off"
        env = {**self.env, "METRICS_PORT": metrics}
        process = spawn([sys.executable, "-m", f"crm_{name}"], log, env=env, cwd=REPO_ROOT)
        self.processes[name] = process
        path = "/health" if name == "gateway" else "/ready"
        wait_http_ok(f"http://127.0.0.1:{self.ports[name]}{path}", process, log, 60.0)

    def stop(self, name: str) -> None:
        process = self.processes.pop(name)
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


@pytest.fixture(scope="module")
def own_infra(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InfraStack]:
    """A FerretDB and a NATS of this module's own. Durable consumers are shared by every
    process on one NATS: on the session's NATS the shared stack's services (other databases)
    would take some of this stack's events (its webhooks service, a webhook)."""
    stack = InfraStack(tmp_path_factory.mktemp("live-infra"), free_port(), free_port()).start()
    try:
        yield stack
    finally:
        stack.stop()


@pytest.fixture(scope="module")
def live_stack(
    own_infra: InfraStack, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveStack]:
    infra = own_infra
    ports = {name: free_port() for name in (*SERVICES, "gateway")}
    env = dict(os.environ)
    env.update(
        {
            "PYTHONPATH": python_path(),
            "MONGODB_URI": infra.mongodb_uri,
            "NATS_URL": infra.nats_url,
            "CRM_DB_PREFIX": "live",
            "OUTBOX_SWEEP_SECONDS": "0.5",
            "GATEWAY_SUBSCRIPTION_ASSERTION_SECONDS": "4",
            "GATEWAY_SUBSCRIPTION_RESUME_SECONDS": "60",
            # Webhook retries within the test's patience (production: 5 s, 5 min, ...).
            "WEBHOOK_RETRY_SCHEDULE": "0.5,0.5,0.5",
        }
    )
    for name, port in ports.items():
        env[f"{name.upper()}_PORT"] = str(port)
        env[f"{name.upper()}_HOST"] = "127.0.0.1"
        if name != "gateway":
            env[f"SUBGRAPH_{name.upper()}_URL"] = f"http://127.0.0.1:{port}/graphql"
    stack = LiveStack(env, ports, tmp_path_factory.mktemp("live-logs"))
    try:
        for name in (*SERVICES, "gateway"):
            stack.start(name)
        yield stack
    finally:
        for name in list(stack.processes):
            stack.stop(name)


async def upstreams_open(stack: LiveStack, at_least: int) -> None:
    """Wait until the gateway holds `at_least` open subgraph streams (subscribed)."""

    seen = ""

    async def count() -> bool:
        nonlocal seen
        async with httpx.AsyncClient() as http:
            text = (await http.get(f"http://127.0.0.1:{stack.metrics_port}/metrics")).text
        found = re.search(r"^crm_gateway_subscription_upstreams_open (\d+)", text, re.M)
        seen = found.group(0) if found else f"no such metric ({len(text)} bytes of metrics)"
        return found is not None and int(found.group(1)) >= at_least

    try:
        await eventually(count, what=f"{at_least} subgraph streams open")
    except AssertionError as missed:
        # What the gateway said about its upstreams: the next reader's first clue.
        lines = (stack.logs / "gateway.log").read_text(errors="replace").splitlines()
        said = lines[-20:]
        told = "\n".join(said)
        raise AssertionError(f"{missed}; metric: {seen}; gateway log:\n{told}") from None


@pytest.fixture
def workspace() -> str:
    return new_workspace()


@pytest.fixture
async def client(live_stack: LiveStack, workspace: str) -> AsyncIterator[GraphQLClient]:
    async with gateway_client(live_stack.http, workspace) as c:
        yield c


async def _seed(client: GraphQLClient) -> dict[str, Any]:
    company = await client.data('mutation { createCompany(input: {name: "Initech"}) { id } }')
    company_id = company["createCompany"]["id"]
    deal = await client.data(
        'mutation($c: ID!) { createDeal(input: {title: "Printers", amount: "10.00", '
        'currency: "USD", companyId: $c}) { id pipeline { id } } }',
        {"c": company_id},
    )
    deal_id = deal["createDeal"]["id"]
    await client.data(
        'mutation($d: ID!) { createTask(input: {title: "Call Peter", dealId: $d}) { id } }',
        {"d": deal_id},
    )
    return {"deal": deal_id, "pipeline": deal["createDeal"]["pipeline"]["id"]}


async def _move(client: GraphQLClient, deal: str, stage: str) -> None:
    await client.data(
        "mutation($d: ID!, $s: String!) { moveDeal(id: $d, stageKey: $s) { id } }",
        {"d": deal, "s": stage},
    )


async def _change(next_event: Callable[[], Awaitable[dict[str, Any]]]) -> dict[str, Any]:
    """The next deal change but a creation: the seed's own `deal.created` may reach a
    subscription opened after the create (the relay publishes after the write), so one
    arriving first is passed over."""
    while True:
        got = await next_event()
        if got["data"]["dealChanged"]["kind"] != "CREATED":
            return got


def _token(workspace: str, subject: str = "alice", ttl: int = 3600) -> str:
    return issue_token(workspace, subject, ["admin"], ttl_seconds=ttl)


async def test_a_move_reaches_both_transports_with_fields_of_two_other_subgraphs(
    live_stack: LiveStack, client: GraphQLClient, workspace: str
) -> None:
    seeded = await _seed(client)
    token = _token(workspace, "bob")
    ws = await WsClient.connect(live_stack.ws, token)
    assert (await ws.acknowledged())["type"] == "connection_ack"
    sub = await ws.subscribe(CHANGES, {"p": seeded["pipeline"]})
    sse = await SseClient.subscribe(live_stack.http, token, CHANGES, {"p": seeded["pipeline"]})
    stranger = await WsClient.connect(live_stack.ws, _token(new_workspace()))
    await stranger.acknowledged()
    theirs = await stranger.subscribe(CHANGES)
    try:
        await upstreams_open(live_stack, 3)
        await _move(client, seeded["deal"], "qualification")
        expected = {
            "kind": "MOVED",
            "dealId": seeded["deal"],
            "fromStage": {"key": "prospecting"},
            "toStage": {"key": "qualification"},
            "deal": {"title": "Printers", "company": {"name": "Initech"}},
        }
        for got in (await _change(lambda: ws.next(sub)), await _change(sse.next)):
            change = got["data"]["dealChanged"]
            # Tasks (tasks subgraph) as read then: ours, and perhaps the new stage's
            # playbook task the tasks service is creating from the same move.
            titles = [t["title"] for t in change["deal"].pop("tasks")]
            assert change == expected
            assert "Call Peter" in titles
        # Nothing reached the other workspace's subscriber (and see the next test).
        assert stranger.queues[theirs].empty()
    finally:
        await ws.close()
        await sse.close()
        await stranger.close()


async def test_workspaces_never_see_each_others_events(
    live_stack: LiveStack, client: GraphQLClient
) -> None:
    seeded = await _seed(client)
    other_workspace = new_workspace()
    async with gateway_client(live_stack.http, other_workspace) as other:
        theirs = await _seed(other)
        mine_ws = await WsClient.connect(live_stack.ws, _token(other_workspace), header=True)
        await mine_ws.acknowledged()
        sub = await mine_ws.subscribe(CHANGES)
        try:
            await upstreams_open(live_stack, 1)
            await _move(client, seeded["deal"], "qualification")  # not the subscriber's
            await _move(other, theirs["deal"], "qualification")
            got = await mine_ws.next(sub)
            assert got["data"]["dealChanged"]["dealId"] == theirs["deal"]
        finally:
            await mine_ws.close()


async def test_an_expired_token_ends_the_subscription(
    live_stack: LiveStack, client: GraphQLClient, workspace: str
) -> None:
    token = _token(workspace, ttl=3)
    ws = await WsClient.connect(live_stack.ws, token)
    await ws.acknowledged()
    sub = await ws.subscribe(CHANGES)
    sse = await SseClient.subscribe(live_stack.http, token, CHANGES)
    try:
        ended = await ws.message(sub, timeout=15)
        assert ended["type"] == "error"
        assert ended["payload"][0]["extensions"]["code"] == "UNAUTHENTICATED"
        assert (await asyncio.wait_for(ws.closed, 10))[0] == 4403
        last = await sse.next(timeout=15)
        assert last["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
        assert (await sse.event())[0] == "complete"
    finally:
        await ws.close()
        await sse.close()


async def test_a_subgraph_restart_does_not_end_the_subscription(
    live_stack: LiveStack, client: GraphQLClient, workspace: str
) -> None:
    seeded = await _seed(client)
    ws = await WsClient.connect(live_stack.ws, _token(workspace))
    await ws.acknowledged()
    sub = await ws.subscribe(CHANGES)
    try:
        await upstreams_open(live_stack, 1)
        await _move(client, seeded["deal"], "qualification")
        assert (await _change(lambda: ws.next(sub)))["data"]["dealChanged"]["kind"] == "MOVED"
        live_stack.stop("deals")
        live_stack.start("deals")
        await client.data(
            'mutation($d: ID!) { updateDeal(id: $d, input: {title: "Renamed"}) { id } }',
            {"d": seeded["deal"]},
        )
        after = (await ws.next(sub, timeout=60))["data"]["dealChanged"]
        assert (after["kind"], after["deal"]["title"]) == ("UPDATED", "Renamed")
    finally:
        await ws.close()


def _signed_by(secret: str, headers: dict[str, str], body: bytes) -> bool:
    """The Standard Webhooks signature, checked here independently of the service's code."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    expected = base64.b64encode(hmac.digest(key, signed, "sha256")).decode()
    return f"v1,{expected}" in headers["webhook-signature"].split(" ")


async def test_a_move_goes_out_as_a_signed_webhook_retried_with_the_same_id(
    live_stack: LiveStack, client: GraphQLClient, workspace: str
) -> None:
    receiver = await WebhookReceiver(answers=[500]).start()
    try:
        # The receiver is on 127.0.0.1: the workspace allows private networks (development).
        await client.data(
            "mutation { setWebhookSettings(allowPrivateNetworks: true) { allowPrivateNetworks } }"
        )
        created = await client.data(
            "mutation($u: String!) { createWebhook(input: {url: $u, "
            'events: ["crm.deals.deal.stage_changed.v1"]}) { secret } }',
            {"u": receiver.url},
        )
        secret = created["createWebhook"]["secret"]
        seeded = await _seed(client)
        await _move(client, seeded["deal"], "qualification")

        async def retried() -> bool:
            return len(receiver.received) >= 2

        await eventually(retried, timeout=30, what="the webhook and its retry")
        (first, body, status), (again, body_again, status_again) = receiver.received[:2]
        assert (status, status_again) == (500, 200)
        assert first["webhook-id"] == again["webhook-id"] and body == body_again
        assert _signed_by(secret, first, body) and _signed_by(secret, again, body_again)
        event = orjson.loads(body)
        assert (event["type"], event["subject"]) == (
            "crm.deals.deal.stage_changed.v1",
            seeded["deal"],
        )
        assert event["workspace"] == workspace
    finally:
        await receiver.close()
