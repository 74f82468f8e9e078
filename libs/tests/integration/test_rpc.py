"""Request/reply endpoints speak the NATS micro-services protocol on a real server, and
answer only callers that prove who they are, for the roles an endpoint requires."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest

from crm_contracts.streams import RPC_HEADER_ASSERTION
from crm_kit.assertions import KeyRing
from crm_kit.context import RequestContext
from crm_kit.rpc import (
    READ,
    WRITE,
    Endpoint,
    RpcError,
    rpc_call,
    service_context,
    settle_requests,
    start_rpc_service,
)
from crm_kit.testing import eventually

pytestmark = pytest.mark.integration

ECHO = "rpc.kittest.thing.echo"
WRITE_SUBJECT = "rpc.kittest.thing.write"


async def test_endpoint_is_discoverable_and_acts_as_the_verified_caller(infra: Any) -> None:
    nc = await infra.connect_nats()
    seen: list[RequestContext] = []

    async def echo(caller: RequestContext, payload: dict[str, Any]) -> dict[str, Any]:
        seen.append(caller)
        if payload.get("fail"):
            raise RpcError("NOT_FOUND", "no such thing")
        return {"workspace": caller.workspace_id, "echo": payload}

    service = await start_rpc_service(
        nc,
        service="kittest",
        version="1.0.0",
        description="test",
        endpoints=[
            Endpoint("echo", ECHO, echo, "echoes", roles=READ, callers=frozenset({"cli"})),
            Endpoint("write", WRITE_SUBJECT, echo, "writes", roles=WRITE),
        ],
        keys=KeyRing.from_env("kittest"),
    )
    cli = KeyRing.from_env("cli")
    alice = RequestContext("w1", "alice", frozenset({"viewer"}))
    try:
        assert await rpc_call(nc, ECHO, alice, {"a": 1}, keys=cli) == {
            "workspace": "w1",
            "echo": {"a": 1},
        }
        assert seen == [alice]
        with pytest.raises(RpcError) as raised:
            await rpc_call(nc, ECHO, alice, {"fail": True}, keys=cli)
        assert raised.value.code == "NOT_FOUND"

        # A viewer may read but not write; a rep may write.
        with pytest.raises(RpcError) as raised:
            await rpc_call(nc, WRITE_SUBJECT, alice, {}, keys=cli)
        assert raised.value.code == "FORBIDDEN"
        rep = service_context("cli", "w1", "rep")
        assert (await rpc_call(nc, WRITE_SUBJECT, rep, {}, keys=cli))["workspace"] == "w1"

        # A party the endpoint does not list is refused, however valid its signature.
        with pytest.raises(RpcError) as raised:
            await rpc_call(nc, ECHO, alice, {}, keys=KeyRing.from_env("deals"))
        assert raised.value.code == "UNAUTHENTICATED"

        # A bare workspace header proves nothing; nor does an assertion for another body.
        bare = await nc.request(ECHO, b"{}", timeout=2, headers={"crm-workspace": "w1"})
        assert bare.headers["Nats-Service-Error-Code"] == "UNAUTHENTICATED"
        token = cli.mint(audience="rpc:kittest", context=alice, body=b'{"a":1}')
        swapped = await nc.request(
            ECHO, b'{"a":2}', timeout=2, headers={RPC_HEADER_ASSERTION: token}
        )
        assert swapped.headers["Nats-Service-Error-Code"] == "UNAUTHENTICATED"
        assert len(seen) == 3  # none of the refused requests reached a handler

        ping = await nc.request("$SRV.PING.crm-kittest", b"", timeout=2)
        assert orjson.loads(ping.data)["name"] == "crm-kittest"
        info = orjson.loads((await nc.request("$SRV.INFO.crm-kittest", b"", timeout=2)).data)
        assert [e["subject"] for e in info["endpoints"]] == [ECHO, WRITE_SUBJECT]
        assert info["endpoints"][1]["metadata"]["roles"] == "admin,manager,rep"
        stats = orjson.loads((await nc.request("$SRV.STATS.crm-kittest", b"", timeout=2)).data)
        assert stats["endpoints"][0]["num_requests"] == 5
    finally:
        await service.stop()
        await nc.close()


async def test_an_endpoint_answers_requests_side_by_side_up_to_its_concurrency(
    infra: Any,
) -> None:
    """Each request waits until the other has arrived: one at a time, neither would
    ever be answered; with `concurrency=2` both are, and the service's stop waits for the
    request still under way."""
    nc = await infra.connect_nats()
    arrived: list[int] = []
    finished: list[int] = []
    both = asyncio.Event()
    release = asyncio.Event()
    running: set[asyncio.Task[None]] = set()

    async def meet(caller: RequestContext, payload: dict[str, Any]) -> dict[str, Any]:
        arrived.append(payload["n"])
        if len(arrived) == 2:
            both.set()
        await both.wait()
        if payload["n"] == 3:
            await release.wait()  # still under way when the service stops
        finished.append(payload["n"])
        return {"n": payload["n"], "seen": len(arrived)}

    service = await start_rpc_service(
        nc,
        service="kittest",
        version="1.0.0",
        description="test",
        endpoints=[Endpoint("write", WRITE_SUBJECT, meet, "meets", roles=WRITE, concurrency=2)],
        keys=KeyRing.from_env("kittest"),
        running=running,
    )
    cli = KeyRing.from_env("cli")
    rep = service_context("cli", "w1", "rep")
    stopped = False
    try:
        first, second = await asyncio.gather(
            rpc_call(nc, WRITE_SUBJECT, rep, {"n": 1}, keys=cli, timeout=20),
            rpc_call(nc, WRITE_SUBJECT, rep, {"n": 2}, keys=cli, timeout=20),
        )
        assert {first["n"], second["n"]} == {1, 2}
        assert max(first["seen"], second["seen"]) == 2

        third = asyncio.create_task(
            rpc_call(nc, WRITE_SUBJECT, rep, {"n": 3}, keys=cli, timeout=20)
        )

        async def under_way() -> bool:
            return 3 in arrived

        await eventually(under_way)

        async def stop() -> None:
            # As the runtime stops: no new requests, then those under way settle.
            await service.stop()
            await settle_requests(running)

        stopping = asyncio.create_task(stop())
        await asyncio.sleep(0.2)  # the stop is waiting for the request under way
        assert not stopping.done()
        release.set()
        await stopping
        stopped = True
        assert 3 in finished
        assert (await third)["n"] == 3
    finally:
        release.set()
        if not stopped:
            await service.stop()
        await nc.close()
