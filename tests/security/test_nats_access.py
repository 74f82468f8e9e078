"""Attacks on NATS itself against the running stack: no credentials, foreign credentials,
a stolen service key used beyond that service's permissions, a bare workspace header on a
request. Each is refused at once and changes nothing."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator

import nkeys
import orjson
import pytest
from nats.aio.client import Client
from nats.errors import Error as NatsError
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from crm_contracts import deals as deal_events
from crm_contracts import tasks as task_events
from crm_contracts.streams import RPC_HEADER_ASSERTION, stream_for
from crm_kit.assertions import KeyRing
from crm_kit.devstack import InfraStack
from crm_kit.rpc import service_context
from crm_kit.testing import GraphQLClient

from ..conftest import Stack
from ..e2e.helpers import gateway_client, new_workspace
from .nats_attacker import REFUSAL_DEADLINE, attacker_as, connect_without

pytestmark = pytest.mark.e2e

STREAMS_AT_RISK = ("CRM_DEALS", "CRM_TASKS")


@pytest.fixture
async def harness(infra: InfraStack) -> AsyncIterator[Client]:
    """The tests' own all-powerful client, to look at what the attacks left behind."""
    nc = await infra.connect_nats()
    yield nc
    await nc.close()


async def test_a_client_without_credentials_is_refused(stack: Stack, infra: InfraStack) -> None:
    with pytest.raises(NatsError, match="Authorization Violation"):
        await asyncio.wait_for(connect_without(infra), REFUSAL_DEADLINE)


async def test_a_key_the_server_does_not_know_is_refused(stack: Stack, infra: InfraStack) -> None:
    foreign = nkeys.encode_seed(secrets.token_bytes(32), nkeys.PREFIX_BYTE_USER).decode()
    with pytest.raises(NatsError, match="Authorization Violation"):
        await asyncio.wait_for(connect_without(infra, nkeys_seed_str=foreign), REFUSAL_DEADLINE)


async def test_service_discovery_without_credentials_is_refused_on_the_wire(
    stack: Stack, infra: InfraStack
) -> None:
    """What a raw client would send to list every endpoint (`$SRV.INFO`)."""
    host, port = infra.nats_url.removeprefix("nats://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        await reader.readline()  # the server's INFO
        writer.write(
            b'CONNECT {"verbose":false,"headers":true}\r\n'
            b"SUB _INBOX.spy 1\r\nPUB $SRV.INFO _INBOX.spy 0\r\n\r\nPING\r\n"
        )
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), REFUSAL_DEADLINE)  # until it hangs up
    finally:
        writer.close()
    assert b"-ERR 'Authorization Violation'" in answer
    assert b"MSG " not in answer


async def _stream_marks(js: JetStreamContext) -> dict[str, tuple[int, int]]:
    """Each stream's first and last sequence: a purge or a delete moves the first (or
    brings the last back); live services only append."""
    marks = {}
    for name in STREAMS_AT_RISK:
        state = (await js.stream_info(name)).state
        marks[name] = (state.first_seq, state.last_seq)
    return marks


async def _stored_since(js: JetStreamContext, stream: str, after: int, subject: str) -> list[bytes]:
    """The payloads stored on `subject` after sequence `after`."""
    found = []
    seq = after + 1
    while True:
        try:
            msg = await js.get_msg(stream, seq, subject=subject, next=True)
        except NotFoundError:
            return found
        found.append(msg.data or b"")
        seq = (msg.seq or seq) + 1


async def test_a_stolen_deals_key_reaches_no_further_than_deals(
    stack: Stack, infra: InfraStack, harness: Client
) -> None:
    """What the stolen key did is checked, not the streams' totals: the live services
    keep appending their own events meanwhile."""
    js = harness.jetstream()
    before = await _stream_marks(js)
    forged = orjson.dumps({"forged": secrets.token_hex(8)})
    deals = await attacker_as(infra, "deals")
    try:
        # Another service's events.
        await deals.nc.publish(task_events.TASK_COMPLETED, forged)
        await deals.refused(task_events.TASK_COMPLETED)
        # Another service's requests (serving them, or calling one it has no need of).
        await deals.nc.subscribe("rpc.contacts.contact.get", queue="crm-contacts")
        await deals.refused("rpc.contacts.contact.get")
        await deals.nc.publish(task_events.RPC_TASK_CREATE, b"{}", reply="_INBOX_deals.x")
        await deals.refused(task_events.RPC_TASK_CREATE)
        # Stream administration, even of its own stream; another service's consumer.
        for api in (
            "$JS.API.STREAM.DELETE.CRM_DEALS",
            "$JS.API.STREAM.PURGE.CRM_DEALS",
            "$JS.API.STREAM.UPDATE.CRM_DEALS",
            "$JS.API.STREAM.DELETE.CRM_TASKS",
            "$JS.API.CONSUMER.DELETE.CRM_DEALS.tasks-playbooks",
            "$JS.API.CONSUMER.DURABLE.CREATE.CRM_DEALS.tasks-playbooks",
        ):
            await deals.nc.publish(api, b"{}", reply="_INBOX_deals.x")
            await deals.refused(api)
        # Replies meant for another party.
        await deals.nc.subscribe("_INBOX_cli.>")
        await deals.refused("_INBOX_cli.>")
    finally:
        await deals.close()
    after = await _stream_marks(js)
    for name, (first, last) in before.items():
        assert after[name][0] == first, f"{name} lost messages: purged or deleted"
        assert after[name][1] >= last, f"{name} started again: deleted"
    stored = await _stored_since(
        js, "CRM_TASKS", before["CRM_TASKS"][1], task_events.TASK_COMPLETED
    )
    assert forged not in stored
    assert (await js.consumer_info("CRM_DEALS", "tasks-playbooks")).name == "tasks-playbooks"
    assert (await js.stream_info(stream_for("deals").name)).config.subjects == ["crm.deals.>"]


async def test_the_operators_tool_may_only_make_requests(stack: Stack, infra: InfraStack) -> None:
    cli = await attacker_as(infra, "cli")
    try:
        for subject in (
            deal_events.DEAL_WON,
            "$SRV.INFO",
            "$JS.API.STREAM.INFO.CRM_DEALS",
            "$JS.API.CONSUMER.MSG.NEXT.CRM_DEALS.tasks-playbooks",
        ):
            await cli.nc.publish(subject, b"{}", reply="_INBOX_cli.x")
            await cli.refused(subject)
        await cli.nc.subscribe("crm.>")
        await cli.refused("crm.>")
    finally:
        await cli.close()


async def _count_tasks(client: GraphQLClient) -> int:
    data = await client.data("{ tasks { totalCount } }")
    return int(data["tasks"]["totalCount"])


async def test_a_request_must_prove_its_caller_and_role(stack: Stack, infra: InfraStack) -> None:
    workspace = new_workspace()
    nc = await infra.connect_nats("cli")
    cli_keys = KeyRing.from_env("cli")
    body = orjson.dumps({"title": "Spoofed task", "assigneeId": "bob", "createdBy": "ceo"})

    async def ask(subject: str, payload: bytes, headers: dict[str, str]) -> str:
        reply = await nc.request(subject, payload, timeout=REFUSAL_DEADLINE, headers=headers)
        return orjson.loads(reply.data)["error"]["code"]

    try:
        # The workspace header alone (what every endpoint used to trust, acting as admin).
        bare = {"crm-workspace": workspace}
        assert await ask(task_events.RPC_TASK_CREATE, body, bare) == "UNAUTHENTICATED"
        assert await ask(deal_events.RPC_WIN_MODEL_TRAIN, b"{}", bare) == "UNAUTHENTICATED"

        def signed(keys: KeyRing, audience: str, payload: bytes, *roles: str) -> dict[str, str]:
            context = service_context(keys.party, workspace, *roles)
            return {
                RPC_HEADER_ASSERTION: keys.mint(audience=audience, context=context, body=payload)
            }

        # A viewer may not create; admin rights from a party the endpoint does not list
        # (the deals service's key) do not retrain; an assertion for another body is void.
        viewer = signed(cli_keys, "rpc:tasks", body, "viewer")
        assert await ask(task_events.RPC_TASK_CREATE, body, viewer) == "FORBIDDEN"
        deals_admin = signed(KeyRing.from_env("deals"), "rpc:deals", b"{}", "admin")
        assert await ask(deal_events.RPC_WIN_MODEL_TRAIN, b"{}", deals_admin) == ("UNAUTHENTICATED")
        other_body = signed(cli_keys, "rpc:tasks", b'{"title": "x"}', "rep")
        assert await ask(task_events.RPC_TASK_CREATE, body, other_body) == "UNAUTHENTICATED"
        # Even a valid rep may not name someone else as the creator.
        rep = signed(cli_keys, "rpc:tasks", body, "rep")
        assert await ask(task_events.RPC_TASK_CREATE, body, rep) == "BAD_REQUEST"
    finally:
        await nc.close()
    async with gateway_client(stack.gateway_url, workspace) as admin:
        assert await _count_tasks(admin) == 0
