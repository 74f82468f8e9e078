"""Internal assertions: only an accepted issuer's key, for this audience and this body."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path

import pytest

from crm_kit.assertions import CLOCK_SKEW_SECONDS, AssertionError_, KeyRing, idempotency_binding
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


@pytest.mark.parametrize(
    "token",
    ["a.b", "a.!!!.c", "a.bm90IGpzb24.c", "a.WzFd.c", "a.\u00e9.c", "a.b.c.d"],
    ids=["two parts", "bad base64", "not json", "not an object", "not ascii", "four parts"],
)
def test_a_malformed_assertion_is_refused_before_any_key_is_looked_up(
    keys: Path, token: str
) -> None:
    with pytest.raises(AssertionError_, match="malformed"):
        KeyRing.from_env("deals").verify(token, audience="a", issuers={"gateway"})


def test_the_issuer_read_before_verifying_is_checked_by_the_signature(keys: Path) -> None:
    """The issuer picks the key; a payload edited to name another accepted issuer (whose
    key then checks it) is refused by that key's signature check."""
    KeyRing.from_env("contacts")  # its key exists: an accepted issuer with a key
    token = KeyRing.from_env("gateway").mint(audience="a", context=ALICE)
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["iss"] = "contacts"
    edited = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    deals = KeyRing.from_env("deals")
    with pytest.raises(AssertionError_, match="invalid internal assertion"):
        deals.verify(
            f"{header}.{edited}.{signature}", audience="a", issuers={"gateway", "contacts"}
        )


def test_production_refuses_to_make_up_a_key(keys: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRM_ENV", "production")
    with pytest.raises(RuntimeError, match="INTERNAL_KEY_FILE"):
        KeyRing.from_env("gateway")
    assert not (keys / "gateway.key").exists()


def test_a_verified_assertion_is_kept_by_its_bytes_and_checked_again_where_it_must(
    keys: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same token again skips the signature check, but not what depends on the
    request (its body, the audience and issuers asked for) or on the time (expiry)."""
    gateway = KeyRing.from_env("gateway")
    deals = KeyRing.from_env("deals")
    token = gateway.mint(audience="subgraph:deals", context=ALICE, body=b"{}", ttl_seconds=30)
    checks = 0
    check = deals._check_signature

    def counted(*args: object) -> object:
        nonlocal checks
        checks += 1
        return check(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(deals, "_check_signature", counted)
    for _ in range(3):
        verified = deals.verify(token, audience="subgraph:deals", issuers={"gateway"}, body=b"{}")
        assert verified.context == ALICE
    assert checks == 1
    with pytest.raises(AssertionError_, match="another request body"):
        deals.verify(token, audience="subgraph:deals", issuers={"gateway"}, body=b"{ }")
    with pytest.raises(AssertionError_, match="Audience"):
        deals.verify(token, audience="subgraph:tasks", issuers={"gateway"}, body=b"{}")
    with pytest.raises(AssertionError_, match="not accepted"):
        deals.verify(token, audience="subgraph:deals", issuers={"contacts"}, body=b"{}")
    # Past its expiry and the clock skew allowed: refused though its signature was kept.
    later = time.time() + 30 + CLOCK_SKEW_SECONDS + 1
    monkeypatch.setattr(time, "time", lambda: later)
    with pytest.raises(AssertionError_, match="expired"):
        deals.verify(token, audience="subgraph:deals", issuers={"gateway"}, body=b"{}")


def test_a_keyed_request_is_bound_to_its_idempotency_key_and_step(keys: Path) -> None:
    """A captured keyed mutation replayed with another key, another step or no key is
    refused; with its own key it passes (and is answered from the key's stored result)."""
    gateway = KeyRing.from_env("gateway")
    deals = KeyRing.from_env("deals")
    bound = idempotency_binding("move-1", "2")
    token = gateway.mint(audience="subgraph:deals", context=ALICE, body=b"{}", idempotency=bound)

    def verify(idempotency: str | None) -> object:
        return deals.verify(
            token,
            audience="subgraph:deals",
            issuers={"gateway"},
            body=b"{}",
            idempotency=idempotency,
        )

    assert verify(idempotency_binding("move-1", "2")) is not None
    for other in ("move-2", None):
        with pytest.raises(AssertionError_, match="another Idempotency-Key"):
            verify(idempotency_binding(other, "2"))
    with pytest.raises(AssertionError_, match="another Idempotency-Key"):
        verify(idempotency_binding("move-1", None))
    # And an unkeyed assertion does not admit a request that adds a key.
    plain = gateway.mint(audience="subgraph:deals", context=ALICE, body=b"{}")
    with pytest.raises(AssertionError_, match="another Idempotency-Key"):
        deals.verify(
            plain,
            audience="subgraph:deals",
            issuers={"gateway"},
            body=b"{}",
            idempotency=idempotency_binding("k", None),
        )
