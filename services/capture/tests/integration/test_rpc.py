"""The capture service's request/reply endpoint, called as the operators' tool would:
signed, as a writer of the workspace; readers are refused."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from nats.aio.client import Client

from crm_contracts import capture as contract
from crm_kit.rpc import RpcError
from crm_kit.testing import cli_call, eventually

from .conftest import Stack

pytestmark = pytest.mark.integration

RAW = (
    "From: Ann Archer <ann@acme.example>\r\nTo: rita@ourco.example\r\nSubject: By NATS\r\n"
    "Message-ID: <rpc-1@acme.example>\r\nDate: Mon, 02 Mar 2026 09:00:00 +0000\r\n\r\nHello\r\n"
)


@pytest.fixture
async def nc(infra: Any) -> AsyncIterator[Client]:
    client = await infra.connect_nats()
    yield client
    await client.close()


async def test_capture_by_request(stack: Stack, nc: Client) -> None:
    ann = await stack.contact("ann@acme.example")
    with pytest.raises(RpcError) as reader:
        await cli_call(nc, contract.RPC_EMAIL_CAPTURE, stack.workspace, {"raw": RAW})
    assert reader.value.code == "FORBIDDEN"
    first = await cli_call(nc, contract.RPC_EMAIL_CAPTURE, stack.workspace, {"raw": RAW}, "rep")
    assert first["status"] == "captured" and first["contactIds"] == [ann]
    again = await cli_call(nc, contract.RPC_EMAIL_CAPTURE, stack.workspace, {"raw": RAW}, "rep")
    assert again["duplicate"] and again["interactionId"] == first["interactionId"]
    with pytest.raises(RpcError) as garbage:
        await cli_call(nc, contract.RPC_EMAIL_CAPTURE, stack.workspace, {"raw": "hi"}, "rep")
    assert garbage.value.code == "BAD_REQUEST"

    async def on_timeline() -> bool:
        return first["interactionId"] in {i["id"] for i in await stack.timeline(ann)}

    await eventually(on_timeline, what="the captured message on the timeline")
