"""Request/reply endpoints speak the NATS micro-services protocol on a real server."""

from __future__ import annotations

from typing import Any

import nats
import orjson
import pytest

from crm_kit.rpc import Endpoint, RpcError, rpc_call, start_rpc_service

pytestmark = pytest.mark.integration


async def test_endpoint_is_discoverable_workspace_scoped_and_reports_errors(infra: Any) -> None:
    nc = await nats.connect(infra.nats_url)

    async def echo(workspace: str, payload: dict[str, Any]) -> dict[str, Any]:
        if payload.get("fail"):
            raise RpcError("NOT_FOUND", "no such thing")
        return {"workspace": workspace, "echo": payload}

    service = await start_rpc_service(
        nc,
        service="kittest",
        version="1.0.0",
        description="test",
        endpoints=[Endpoint("echo", "rpc.kittest.thing.echo", echo, "echoes")],
    )
    try:
        assert await rpc_call(nc, "rpc.kittest.thing.echo", "w1", {"a": 1}) == {
            "workspace": "w1",
            "echo": {"a": 1},
        }
        with pytest.raises(RpcError) as raised:
            await rpc_call(nc, "rpc.kittest.thing.echo", "w1", {"fail": True})
        assert raised.value.code == "NOT_FOUND"
        # A request without a workspace is refused, not answered for some default workspace.
        reply = await nc.request("rpc.kittest.thing.echo", b"{}", timeout=2)
        assert reply.headers["Nats-Service-Error-Code"] == "BAD_REQUEST"

        ping = await nc.request("$SRV.PING.crm-kittest", b"", timeout=2)
        assert orjson.loads(ping.data)["name"] == "crm-kittest"
        info = orjson.loads((await nc.request("$SRV.INFO.crm-kittest", b"", timeout=2)).data)
        assert [e["subject"] for e in info["endpoints"]] == ["rpc.kittest.thing.echo"]
        stats = orjson.loads((await nc.request("$SRV.STATS.crm-kittest", b"", timeout=2)).data)
        assert stats["endpoints"][0]["num_requests"] == 3
    finally:
        await service.stop()
        await nc.close()
