"""Internal assertions: only an accepted issuer's key, for this audience and this body."""

from __future__ import annotations

from pathlib import Path

import pytest

from crm_kit.assertions import AssertionError_, KeyRing
from crm_kit.context import RequestContext

ALICE = RequestContext("w1", "alice", frozenset({"rep"}))


@pytest.fixture
def keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CRM_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("INTERNAL_KEY_FILE", raising=False)
    monkeypatch.delenv("INTERNAL_PUBLIC_KEYS_DIR", raising=False)
    return tmp_path / "keys"


def test_an_accepted_issuer_proves_the_caller_for_one_body(keys: Path) -> None:
    gateway = KeyRing.from_env("gateway")
    deals = KeyRing.from_env("deals")
    token = gateway.mint(audience="subgraph:deals", context=ALICE, body=b'{"q":1}')

    verified = deals.verify(token, audience="subgraph:deals", issuers={"gateway"}, body=b'{"q":1}')

    assert verified.issuer == "gateway"
    assert verified.context == ALICE
    assert (keys / "gateway.pub").is_file()


@pytest.mark.parametrize(
    ("audience", "issuers", "body", "reason"),
    [
        ("subgraph:deals", {"gateway"}, b'{"q":2}', "another request body"),
        ("subgraph:tasks", {"gateway"}, b'{"q":1}', "Audience"),
        ("subgraph:deals", {"contacts"}, b'{"q":1}', "not accepted"),
    ],
)
def test_a_mismatch_is_refused(
    keys: Path, audience: str, issuers: set[str], body: bytes, reason: str
) -> None:
    token = KeyRing.from_env("gateway").mint(
        audience="subgraph:deals", context=ALICE, body=b'{"q":1}'
    )
    with pytest.raises(AssertionError_, match=reason):
        KeyRing.from_env("deals").verify(token, audience=audience, issuers=issuers, body=body)


def test_a_key_that_is_not_the_issuers_is_refused(keys: Path, tmp_path: Path) -> None:
    genuine = KeyRing.from_env("gateway")
    # An attacker with their own key pair claiming to be the gateway.
    (keys / "gateway.key").rename(tmp_path / "real.key")
    forged = KeyRing.from_env("gateway")
    assert forged.public_key_pem() != genuine.public_key_pem()
    token = forged.mint(audience="subgraph:deals", context=ALICE)
    (tmp_path / "real.key").rename(keys / "gateway.key")
    (keys / "gateway.pub").write_bytes(genuine.public_key_pem())

    with pytest.raises(AssertionError_, match="invalid internal assertion"):
        KeyRing.from_env("deals").verify(token, audience="subgraph:deals", issuers={"gateway"})


def test_expired_and_missing_assertions_are_refused(keys: Path) -> None:
    gateway = KeyRing.from_env("gateway")
    old = gateway.mint(audience="a", context=ALICE, ttl_seconds=-60)
    deals = KeyRing.from_env("deals")
    with pytest.raises(AssertionError_, match="expired"):
        deals.verify(old, audience="a", issuers={"gateway"})
    with pytest.raises(AssertionError_, match="missing"):
        deals.verify(None, audience="a", issuers={"gateway"})
    with pytest.raises(AssertionError_, match="malformed"):
        deals.verify("not-a-jwt", audience="a", issuers={"gateway"})


def test_production_refuses_to_make_up_a_key(keys: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRM_ENV", "production")
    with pytest.raises(RuntimeError, match="INTERNAL_KEY_FILE"):
        KeyRing.from_env("gateway")
    assert not (keys / "gateway.key").exists()
