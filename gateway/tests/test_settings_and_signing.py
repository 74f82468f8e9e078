"""Settings that are development conveniences stay in development; the signer's reuse
cache never hands one caller's or one body's assertion to another."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from crm_gateway.config import GatewaySettings
from crm_gateway.identity import CALLER, SubgraphSigner
from crm_kit.assertions import KeyRing
from crm_kit.context import RequestContext
from crm_kit.graphql_http import ASSERTION_HEADER

ALICE = RequestContext("w1", "alice", frozenset({"rep"}))
BOB = RequestContext("w1", "bob", frozenset({"rep"}))


def test_development_conveniences_are_refused_in_production(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    dev = GatewaySettings.from_env({"GATEWAY_AUTH": "off"})
    assert dev.auth_enabled is False and dev.graphiql is True
    monkeypatch.setenv("CRM_ENV", "production")
    assert GatewaySettings.from_env({}).graphiql is False
    with pytest.raises(ValueError, match="GATEWAY_AUTH=off"):
        GatewaySettings.from_env({"GATEWAY_AUTH": "off"})


def test_every_limit_is_settable() -> None:
    settings = GatewaySettings.from_env(
        {
            "GATEWAY_MAX_BODY_BYTES": "10",
            "GATEWAY_MAX_FIELDS": "11",
            "GATEWAY_MAX_COST": "12",
            "GATEWAY_DEFAULT_PAGE_SIZE": "13",
            "GATEWAY_RATE_PER_IP": "14",
            "GATEWAY_BURST_PER_TOKEN": "15",
            "GATEWAY_MAX_IN_FLIGHT": "16",
            "GATEWAY_AUTH_LOCK_AFTER": "17",
            "GATEWAY_SUBGRAPH_CONNECT_TIMEOUT": "0.5",
            "GATEWAY_SUBGRAPH_QUEUE_TIMEOUT": "2.5",
            "GATEWAY_TRUSTED_PROXIES": "10.0.0.1, 10.0.0.2",
        }
    )
    a, lim = settings.admission, settings.limits
    assert (a.max_body_bytes, lim.max_fields, lim.max_cost, lim.default_page_size) == (
        10,
        11,
        12,
        13,
    )
    assert (a.rate_per_ip, a.burst_per_token, a.max_in_flight, a.auth_lock_after) == (
        14,
        15,
        16,
        17,
    )
    assert settings.subgraph_connect_timeout == 0.5
    assert settings.subgraph_queue_timeout == 2.5
    assert settings.trusted_proxies == ("10.0.0.1", "10.0.0.2")


def _headers(signer: SubgraphSigner, caller: RequestContext | None, body: bytes) -> str | None:
    token = CALLER.set(caller)
    try:
        return signer.headers("deals", body).get(ASSERTION_HEADER)
    finally:
        CALLER.reset(token)


@pytest.mark.parametrize("cache_size", [0, 8])
def test_assertions_are_per_caller_and_body_with_or_without_reuse(
    tmp_path: Path, cache_size: int
) -> None:
    keys = KeyRing("gateway", Ed25519PrivateKey.generate(), tmp_path)
    signer = SubgraphSigner(keys, cache_size=cache_size)
    first = _headers(signer, ALICE, b"a")
    again = _headers(signer, ALICE, b"a")
    if cache_size:
        assert again == first
    for caller, body in ((BOB, b"a"), (ALICE, b"b")):
        other = _headers(signer, caller, body)
        assert other not in (first, again)
        verified = keys.verify(other, audience="subgraph:deals", issuers={"gateway"}, body=body)
        assert verified.context == caller
    assert _headers(signer, None, b"a") is None  # no verified caller, nothing to assert
