"""The kit's request/reply client: what a peer answered comes back as its data or its
RpcError; a peer that did not answer (not connected, no responders, a timeout) is one
retryable SERVICE_UNAVAILABLE naming the peer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeout

from crm_kit.assertions import KeyRing
from crm_kit.context import RequestContext
from crm_kit.rpc import RpcError
from crm_kit.rpc_client import PeerUnavailable, RpcClient

CALLER = RequestContext("w1", "rita", frozenset({"rep"}))


class Reply:
    def __init__(self, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        self.data = orjson.dumps(body)
        self.headers = headers


class FakeNats:
    """Answers every request with `answer` (a reply, or an exception to raise)."""

    def __init__(self, answer: Reply | Exception) -> None:
        self.answer = answer
        self.timeouts: list[float] = []

    async def request(self, subject: str, body: bytes, *, timeout: float, headers: Any) -> Reply:
        del subject, body, headers
        self.timeouts.append(timeout)
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


def _client(nc: FakeNats | None) -> RpcClient:
    keys = KeyRing("contacts", Ed25519PrivateKey.generate(), Path("."))
    return RpcClient(lambda: nc, lambda: keys, timeout=2.0)  # type: ignore[arg-type,return-value]


async def test_the_peers_data_and_its_refusals_come_back_as_it_gave_them() -> None:
    nc = FakeNats(Reply({"data": {"id": "d1"}}))
    assert await _client(nc).call("rpc.deals.deal.get", CALLER, {"id": "d1"}) == {"id": "d1"}
    await _client(nc).call("rpc.deals.deal.get", CALLER, {}, timeout=7.0)
    assert nc.timeouts == [2.0, 7.0]
    refused = FakeNats(Reply({"error": {"code": "NOT_FOUND", "message": "no deal"}}))
    with pytest.raises(RpcError) as error:
        await _client(refused).call("rpc.deals.deal.get", CALLER, {"id": "x"})
    assert error.value.code == "NOT_FOUND"


@pytest.mark.parametrize(
    "nc", [None, FakeNats(NoRespondersError()), FakeNats(NatsTimeout())], ids=str
)
async def test_a_peer_that_did_not_answer_is_retryable_service_unavailable(
    nc: FakeNats | None,
) -> None:
    with pytest.raises(PeerUnavailable) as error:
        await _client(nc).call("rpc.deals.deal.get", CALLER, {"id": "d1"})
    assert error.value.code == "SERVICE_UNAVAILABLE"
    assert error.value.extensions == {"retryable": True}
    assert error.value.service == "deals"
