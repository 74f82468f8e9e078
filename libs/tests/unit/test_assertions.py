"""Internal assertions: only an accepted issuer's key, for this audience and this body."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from pathlib import Path

import jwt
import pytest

from crm_kit.assertions import (
    CLOCK_SKEW_SECONDS,
    AssertionError_,
    KeyRing,
    body_hash,
    idempotency_binding,
)
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


def _signed(gateway: KeyRing, header: dict[str, object], claims: dict[str, object]) -> str:
    """A token with this header and claims, signed by the gateway's key over their exact
    segments (what a forger with the key, or a buggy minting, could send)."""

    def segment(value: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    signing_input = f"{segment(header)}.{segment(claims)}"
    signature = gateway._private.sign(signing_input.encode())
    return f"{signing_input}.{base64.urlsafe_b64encode(signature).rstrip(b'=').decode()}"


def _claims(**changes: object) -> dict[str, object]:
    now = int(time.time())
    claims: dict[str, object] = {
        "iss": "gateway",
        "aud": "a",
        "sub": "alice",
        "ws": "w1",
        "roles": ["rep"],
        "iat": now,
        "exp": now + 60,
        "bh": body_hash(b""),
    }
    for name, value in changes.items():
        if value is None:
            claims.pop(name)
        else:
            claims[name] = value
    return claims


EDDSA = {"alg": "EdDSA", "typ": "JWT"}


@pytest.mark.parametrize(
    ("header", "changes", "reason"),
    [
        ({"alg": "none", "typ": "JWT"}, {}, "not an EdDSA token"),
        ({"alg": "HS256", "typ": "JWT"}, {}, "not an EdDSA token"),
        ({**EDDSA, "crit": ["b64"]}, {}, "not an EdDSA token"),
        (EDDSA, {"sub": None}, "'sub' is missing"),
        (EDDSA, {"bh": None}, "'bh' is missing"),
        (EDDSA, {"exp": None}, "'exp' is missing"),
        (EDDSA, {"aud": ["b", "c"]}, "Audience"),
        (EDDSA, {"aud": 7}, "Audience"),
        (EDDSA, {"exp": "tomorrow"}, "'exp' must be a number"),
        (EDDSA, {"exp": True}, "'exp' must be a number"),
        (EDDSA, {"iat": int(time.time()) + 3600}, "'iat' is in the future"),
        (EDDSA, {"nbf": int(time.time()) + 3600}, "'nbf' is in the future"),
    ],
    ids=[
        "alg none",
        "alg HMAC",
        "critical extension",
        "no subject",
        "no body hash",
        "no expiry",
        "other audiences",
        "audience not text",
        "expiry not a number",
        "expiry a boolean",
        "issued in the future",
        "not before the future",
    ],
)
def test_a_signed_token_with_a_wrong_header_or_claims_is_refused(
    keys: Path, header: dict[str, object], changes: dict[str, object], reason: str
) -> None:
    """Signed with the genuine issuer's key, so only the header and claim checks stand
    between such a token and a request. The claims are made when the test runs, not when
    the cases are collected: their expiry is a minute ahead, and a loaded machine may take
    longer than that between the two (the token then refused as expired, not for the
    reason the case names)."""
    gateway = KeyRing.from_env("gateway")
    with pytest.raises(AssertionError_, match=reason):
        KeyRing.from_env("deals").verify(
            _signed(gateway, header, _claims(**changes)), audience="a", issuers={"gateway"}
        )


def test_a_token_of_the_issuer_in_a_list_of_audiences_is_accepted(keys: Path) -> None:
    gateway = KeyRing.from_env("gateway")
    token = _signed(gateway, EDDSA, _claims(aud=["b", "a"]))
    verified = KeyRing.from_env("deals").verify(token, audience="a", issuers={"gateway"})
    assert verified.context == ALICE


@pytest.mark.parametrize(
    "edit",
    [
        lambda s: s[:-2] + ("AA" if s[-2:] != "AA" else "BA"),
        lambda s: s[:10],
        lambda s: "",
        lambda s: s + "AAAA",
        lambda s: s[:5] + "*" + s[6:],
    ],
    ids=["altered", "truncated", "empty", "longer", "not base64"],
)
def test_an_edited_signature_is_refused(keys: Path, edit: Callable[[str], str]) -> None:
    token = KeyRing.from_env("gateway").mint(audience="a", context=ALICE)
    header, claims, signature = token.split(".")
    with pytest.raises(AssertionError_, match=r"invalid internal assertion|malformed"):
        KeyRing.from_env("deals").verify(
            f"{header}.{claims}.{edit(signature)}", audience="a", issuers={"gateway"}
        )


def test_the_verdicts_are_pyjwts_on_the_same_tokens(keys: Path) -> None:
    """The checks made here in place of PyJWT's decode accept and refuse what it does, on
    tokens minted and signed every way the tests above send."""
    gateway = KeyRing.from_env("gateway")
    deals = KeyRing.from_env("deals")
    public = gateway._private.public_key()
    now = int(time.time())
    tokens = [
        gateway.mint(audience="a", context=ALICE),
        gateway.mint(audience="b", context=ALICE),
        gateway.mint(audience="a", context=ALICE, ttl_seconds=-CLOCK_SKEW_SECONDS - 5),
        gateway.mint(audience="a", context=ALICE, ttl_seconds=-CLOCK_SKEW_SECONDS + 5),
        _signed(gateway, {"alg": "HS256"}, _claims()),
        _signed(gateway, EDDSA, _claims(ws=None)),
        _signed(gateway, EDDSA, _claims(aud=["x", "a"])),
        _signed(gateway, EDDSA, _claims(iat=now + 3600)),
        _signed(gateway, EDDSA, _claims(iat=now + CLOCK_SKEW_SECONDS - 5)),
        _signed(gateway, EDDSA, _claims(nbf=now + 3600)),
    ]
    for token in tokens:
        try:
            jwt.decode(
                token,
                public,
                algorithms=["EdDSA"],
                audience="a",
                issuer="gateway",
                leeway=CLOCK_SKEW_SECONDS,
                options={"require": ["iss", "aud", "sub", "ws", "exp", "bh"]},
            )
            pyjwt_accepts = True
        except jwt.PyJWTError:
            pyjwt_accepts = False
        try:
            deals.verify(token, audience="a", issuers={"gateway"})
            accepted = True
        except AssertionError_:
            accepted = False
        assert accepted == pyjwt_accepts, token


def test_a_minted_token_is_what_pyjwt_reads_and_writes(keys: Path) -> None:
    """`mint` writes the compact token itself: PyJWT verifies it and reads the same claims
    and header as from the token its own `encode` makes of those claims."""
    gateway = KeyRing.from_env("gateway")
    public = gateway._private.public_key()
    for idempotency in (None, idempotency_binding("k-1", "2")):
        token = gateway.mint(
            audience="subgraph:deals", context=ALICE, body=b'{"q":1}', idempotency=idempotency
        )
        claims = jwt.decode(
            token, public, algorithms=["EdDSA"], audience="subgraph:deals", issuer="gateway"
        )
        assert claims["sub"] == "alice" and claims["ws"] == "w1" and claims["roles"] == ["rep"]
        assert claims["bh"] == body_hash(b'{"q":1}')
        assert claims.get("ik") == idempotency
        assert claims["exp"] - claims["iat"] == 60
        theirs = jwt.encode(claims, gateway._private, algorithm="EdDSA")
        assert jwt.get_unverified_header(token) == jwt.get_unverified_header(theirs)
        assert token.split(".")[0] == theirs.split(".")[0]
        assert (
            jwt.decode(
                theirs, public, algorithms=["EdDSA"], audience="subgraph:deals", issuer="gateway"
            )
            == claims
        )
