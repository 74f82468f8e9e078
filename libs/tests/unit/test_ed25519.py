"""Ed25519 through libsodium (`crm_kit.ed25519`): the same verdicts and the same
signatures as OpenSSL's (`cryptography`), and assertions minted byte for byte as PyJWT's
encode made them."""

from __future__ import annotations

import random
import time
from pathlib import Path

import jwt
import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from crm_kit import assertions
from crm_kit.assertions import AssertionError_, KeyRing, body_hash, idempotency_binding
from crm_kit.context import RequestContext
from crm_kit.ed25519 import raw_public_key, sign_ed25519, signing_key, verify_ed25519


def _openssl_accepts(key: Ed25519PrivateKey, signature: bytes, message: bytes) -> bool:
    try:
        key.public_key().verify(signature, message)
    except InvalidSignature:
        return False
    return True


def test_signatures_and_verdicts_are_openssls() -> None:
    rng = random.Random(7)
    for _ in range(50):
        key, other = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
        message = rng.randbytes(rng.randrange(0, 600))
        signature = sign_ed25519(signing_key(key), message)
        assert signature == key.sign(message)  # deterministic: the same bytes
        public = raw_public_key(key.public_key())
        assert verify_ed25519(public, signature, message)
        flipped = bytearray(signature)
        flipped[rng.randrange(64)] ^= 1 << rng.randrange(8)
        edited = message + b"x"
        for sig, msg, pub in [
            (bytes(flipped), message, public),
            (signature, edited, public),
            (signature, message, raw_public_key(other.public_key())),
            (signature[:63], message, public),
            (signature + b"\0", message, public),
            (b"", message, public),
        ]:
            assert not verify_ed25519(pub, sig, msg)
            if len(sig) == 64 and pub == public:
                assert not _openssl_accepts(key, sig, msg)


def test_a_non_canonical_signature_is_refused() -> None:
    """S + L (the group's order) verifies the same equation: OpenSSL accepts it, libsodium
    (and RFC 8032's strict reading) does not. Only the gateway's own signatures, always
    canonical, reach a subgraph; a malleated one is refused."""
    order = 2**252 + 27742317777372353535851937790883648493
    key = Ed25519PrivateKey.generate()
    message = b"a request body"
    signature = key.sign(message)
    s = int.from_bytes(signature[32:], "little") + order  # < 2**254: S < L < 2**253
    malleated = signature[:32] + s.to_bytes(32, "little")
    assert not verify_ed25519(raw_public_key(key.public_key()), malleated, message)


@pytest.fixture
def keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CRM_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("INTERNAL_KEY_FILE", raising=False)
    monkeypatch.delenv("INTERNAL_PUBLIC_KEYS_DIR", raising=False)
    return tmp_path / "keys"


@pytest.mark.parametrize(
    "context",
    [
        RequestContext("w1", "alice", frozenset({"rep", "admin"})),
        RequestContext("wé", 'ünïcode "quoted"', frozenset()),
    ],
)
@pytest.mark.parametrize("keyed", [False, True])
def test_an_assertion_is_minted_as_pyjwt_encoded_it(
    keys: Path, monkeypatch: pytest.MonkeyPatch, context: RequestContext, keyed: bool
) -> None:
    gateway = KeyRing.from_env("gateway")
    now = time.time()
    monkeypatch.setattr(time, "time", lambda: now)
    idempotency = idempotency_binding("key-1", "2") if keyed else None
    token = gateway.mint(
        audience="subgraph:deals", context=context, body=b'{"q":1}', idempotency=idempotency
    )
    claims: dict[str, object] = {
        "iss": "gateway",
        "aud": "subgraph:deals",
        "sub": context.subject,
        "ws": context.workspace_id,
        "roles": sorted(context.roles),
        "iat": int(now),
        "exp": int(now) + assertions.ASSERTION_TTL_SECONDS,
        "bh": body_hash(b'{"q":1}'),
    }
    if idempotency is not None:
        claims["ik"] = idempotency
    assert token == jwt.encode(claims, gateway._private, algorithm="EdDSA")
    verified = KeyRing.from_env("deals").verify(
        token,
        audience="subgraph:deals",
        issuers={"gateway"},
        body=b'{"q":1}',
        idempotency=idempotency,
    )
    assert verified.context == context
    with pytest.raises(AssertionError_, match="bad signature"):
        KeyRing.from_env("deals").verify(
            token[:-3] + ("AAA" if token[-3:] != "AAA" else "BAA"),
            audience="subgraph:deals",
            issuers={"gateway"},
            body=b'{"q":1}',
            idempotency=idempotency,
        )
