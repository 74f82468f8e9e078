"""Internal identity assertions: how one part of the platform proves to another who is
calling and on whose behalf, so that no hop ever trusts a bare header.

Every party (the gateway, each service, the CLI) holds its own Ed25519 private key and
the public keys of the others. A caller signs a short-lived JWT (EdDSA) naming itself
(`iss`), the party it calls (`aud`), the user it acts for (`sub`, `ws`, `roles`) and a
SHA-256 of the exact request body (`bh`), so a captured assertion is useless for any other
request, target or minute. A mutation sent with an `Idempotency-Key` carries a hash of that
key and its step (`ik`) too: a captured keyed request replayed with another key (or none)
is refused, and replayed with its own key it is answered from the key's stored result, so
it does not run twice. (An unkeyed request replayed within its minute is not refused here;
the network policies in `deploy/` let only the gateway reach a subgraph.) The callee
checks the signature against the public key of an issuer it accepts (subgraphs: only the
gateway; a NATS endpoint: the services allowed to call it). Asymmetric keys mean a
compromised service can speak only as itself.

Keys: `INTERNAL_KEY_FILE` (this party's private key, PEM) and `INTERNAL_PUBLIC_KEYS_DIR`
(`<party>.pub` files, PEM) — in production both come from Kubernetes Secrets. Without
`INTERNAL_KEY_FILE` keys live in `<data dir>/keys/` and a party creates its own pair on
first use — in development only; in production a missing `INTERNAL_KEY_FILE` stops the
start.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import threading
import time
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from .auth import development_mode
from .context import RequestContext
from .paths import data_dir

__all__ = [
    "ASSERTION_TTL_SECONDS",
    "AssertionError_",
    "KeyRing",
    "VerifiedAssertion",
    "body_hash",
    "idempotency_binding",
]

ALGORITHM = "EdDSA"
# Verified assertions kept by their exact text (the oldest goes first): the gateway sends
# the same bytes again for the same caller, body and second, and an Ed25519 check is
# about a fifth of the CPU of the cheapest subgraph request.
VERIFIED_KEPT = 4096
# Long enough for a slow hop and clock skew between hosts, short enough that a leaked
# assertion is soon worthless (and it is bound to one body anyway).
ASSERTION_TTL_SECONDS = 60
CLOCK_SKEW_SECONDS = 10


class AssertionError_(Exception):  # noqa: N801 - `AssertionError` is a builtin
    """An assertion is missing, malformed, expired, for another audience or unsigned by
    an accepted issuer."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class VerifiedAssertion:
    issuer: str
    context: RequestContext
    # When it expires (Unix seconds): a long-lived exchange (a subscription stream) it
    # opened ends then, and its caller opens it again with a fresh assertion.
    expires_at: float = 0.0


def body_hash(body: bytes) -> str:
    digest = hashlib.sha256(body).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def idempotency_binding(key: str | None, step: str | None = None) -> str | None:
    """What an assertion's `ik` claim holds for a request sent with Idempotency-Key `key`
    (and step header `step`), exactly as the headers carry them; None without a key."""
    if key is None:
        return None
    return body_hash(f"{key}\n{step or ''}".encode())


def _keys_dir() -> Path:
    return data_dir() / "keys"


def _create_private_key(path: Path) -> None:
    """Write a new key pair for a development party; O_EXCL so that of several processes
    starting at once exactly one writes it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    public_path = path.with_suffix(".pub")
    tmp = public_path.with_suffix(".pub.tmp")
    tmp.write_bytes(public)
    tmp.replace(public_path)


def _load_private_key(path: Path) -> Ed25519PrivateKey:
    # A concurrent creator may not have finished writing: wait briefly for a whole file.
    deadline = time.monotonic() + 2.0
    while True:
        data = path.read_bytes()
        if data.strip().endswith(b"-----"):
            break
        if time.monotonic() > deadline:
            raise ValueError(f"{path}: not a complete PEM private key")
        time.sleep(0.01)
    key = serialization.load_pem_private_key(data, password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path}: expected an Ed25519 private key")
    return key


class KeyRing:
    """This party's signing key and the public keys of the parties it accepts."""

    def __init__(
        self,
        party: str,
        private_key: Ed25519PrivateKey,
        public_keys_dir: Path,
        trusted: dict[str, Ed25519PublicKey] | None = None,
    ) -> None:
        self.party = party
        self._private = private_key
        self._public_dir = public_keys_dir
        self._trusted: dict[str, Ed25519PublicKey] = dict(trusted or {})
        self._trusted.setdefault(party, private_key.public_key())
        self._lock = threading.Lock()
        # (token, audience, issuers) -> (issuer, claims) of a signature checked already.
        self._verified: dict[tuple[str, str, tuple[str, ...]], tuple[str, dict[str, Any]]] = {}

    @classmethod
    def from_env(cls, party: str) -> KeyRing:
        configured = os.environ.get("INTERNAL_KEY_FILE")
        public_dir = Path(os.environ.get("INTERNAL_PUBLIC_KEYS_DIR") or _keys_dir())
        if configured:
            private_path = Path(configured)
        elif not development_mode():
            # A made-up key in production would only show later as every call refused.
            raise RuntimeError(f"INTERNAL_KEY_FILE must name {party}'s private key in production")
        else:
            private_path = _keys_dir() / f"{party}.key"
            if not private_path.exists():
                _create_private_key(private_path)
        return cls(party, _load_private_key(private_path), public_dir)

    def public_key_pem(self) -> bytes:
        return self._private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def mint(
        self,
        *,
        audience: str,
        context: RequestContext,
        body: bytes = b"",
        ttl_seconds: int = ASSERTION_TTL_SECONDS,
        idempotency: str | None = None,
    ) -> str:
        """An assertion that this party calls `audience` for `context`, bound to `body`
        and to the request's idempotency key (`idempotency_binding`), if it has one."""
        now = int(time.time())
        claims = {
            "iss": self.party,
            "aud": audience,
            "sub": context.subject,
            "ws": context.workspace_id,
            "roles": sorted(context.roles),
            "iat": now,
            "exp": now + ttl_seconds,
            "bh": body_hash(body),
        }
        if idempotency is not None:
            claims["ik"] = idempotency
        # The compact token made here, not by PyJWT's `encode` (its header and JSON
        # handling cost two thirds of a mint, ~0.3 ms of the gateway's CPU per request
        # of the load's mix): the same header, the claims as compact JSON, the Ed25519
        # signature over the two segments' text (PyJWT decodes these tokens: tested).
        signing_input = f"{_HEADER_SEGMENT}.{_segment(orjson.dumps(claims))}"
        signature = self._private.sign(signing_input.encode("ascii"))
        return f"{signing_input}.{_segment(signature)}"

    def verify(
        self,
        token: str | None,
        *,
        audience: str,
        issuers: Collection[str],
        body: bytes = b"",
        idempotency: str | None = None,
    ) -> VerifiedAssertion:
        """The caller and the context it acts for, or AssertionError_. `idempotency` is
        the request's `idempotency_binding`: it must be what was signed (both None when
        the request has no key)."""
        if not token:
            raise AssertionError_("missing internal assertion")
        key = (token, audience, tuple(issuers))
        kept = self._verified.get(key)
        if kept is None:
            issuer, claims = self._check_signature(token, audience, issuers)
            with self._lock:  # NATS endpoints may verify from other threads
                if len(self._verified) >= VERIFIED_KEPT:
                    self._verified.pop(next(iter(self._verified)), None)
                self._verified[key] = (issuer, claims)
        else:
            # Same bytes, same signature verdict; what depends on the time and on this
            # request is checked again (expiry as PyJWT checks it, the body's hash below).
            issuer, claims = kept
            if float(claims["exp"]) <= time.time() - CLOCK_SKEW_SECONDS:
                raise AssertionError_("internal assertion expired")
        if claims["bh"] != body_hash(body):
            raise AssertionError_("internal assertion was made for another request body")
        if claims.get("ik") != idempotency:
            raise AssertionError_("internal assertion was made for another Idempotency-Key")
        roles = claims.get("roles", [])
        if not isinstance(roles, list):
            raise AssertionError_("claim 'roles' must be a list")
        context = RequestContext(
            workspace_id=str(claims["ws"]),
            subject=str(claims["sub"]),
            roles=frozenset(str(role) for role in roles),
        )
        return VerifiedAssertion(issuer=issuer, context=context, expires_at=float(claims["exp"]))

    def _check_signature(
        self, token: str, audience: str, issuers: Collection[str]
    ) -> tuple[str, dict[str, Any]]:
        """The issuer and claims of a token signed by an accepted issuer for `audience`,
        unexpired (AssertionError_ otherwise)."""
        header_segment, claims_segment, signature_segment = _segments(token)
        claims = _json_segment(claims_segment)
        issuer = claims.get("iss")
        if not isinstance(issuer, str) or issuer not in issuers:
            raise AssertionError_(f"issuer {issuer!r} is not accepted here")
        key = self._public_key(issuer)
        if key is None:
            raise AssertionError_(f"no public key for issuer {issuer!r}")
        header = _json_segment(header_segment)
        # Only EdDSA with the issuer's own key: an `alg` of "none" or an HMAC is refused
        # whatever the key would say, and no header extension is understood here.
        if header.get("alg") != ALGORITHM or "crit" in header:
            raise AssertionError_("invalid internal assertion: not an EdDSA token")
        try:
            key.verify(
                _base64url(signature_segment),
                f"{header_segment}.{claims_segment}".encode("ascii"),
            )
        except (InvalidSignature, ValueError):
            raise AssertionError_("invalid internal assertion: bad signature") from None
        _check_claims(claims, audience=audience, now=time.time())
        return issuer, claims

    def _public_key(self, party: str) -> Ed25519PublicKey | None:
        with self._lock:
            known = self._trusted.get(party)
            if known is not None:
                return known
            # Loaded on first use: in development another party may create its key after
            # this one started.
            path = self._public_dir / f"{party}.pub"
            if not path.is_file():
                return None
            key = serialization.load_pem_public_key(path.read_bytes())
            if not isinstance(key, Ed25519PublicKey):
                raise ValueError(f"{path}: expected an Ed25519 public key")
            self._trusted[party] = key
            return key


def _segments(token: str) -> tuple[str, str, str]:
    """The header, claims and signature segments of a compact token.

    The token is checked here rather than by PyJWT's decode: its strict segment checks
    (each segment matched character by character) cost about a third of a verification,
    which the Ed25519 check makes redundant: the signature covers the segments' exact text,
    so a segment that decodes loosely can only be one the issuer signed."""
    parts = token.split(".")
    if len(parts) != 3 or not token.isascii():
        raise AssertionError_("malformed internal assertion")
    return parts[0], parts[1], parts[2]


def _base64url(segment: str) -> bytes:
    try:
        return binascii.a2b_base64(
            segment.translate(_URLSAFE) + "=" * (-len(segment) % 4), strict_mode=True
        )
    except binascii.Error:
        raise AssertionError_("malformed internal assertion") from None


_URLSAFE = str.maketrans("-_", "+/")


def _segment(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


# The header PyJWT writes for an EdDSA token (sorted keys, compact).
_HEADER_SEGMENT = _segment(b'{"alg":"EdDSA","typ":"JWT"}')


def _json_segment(segment: str) -> dict[str, Any]:
    try:
        value = json.loads(_base64url(segment))
    except ValueError:  # bad JSON or bad UTF-8
        raise AssertionError_("malformed internal assertion") from None
    if not isinstance(value, dict):
        raise AssertionError_("malformed internal assertion")
    return value


def _number(claims: dict[str, Any], name: str) -> float | None:
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise AssertionError_(f"invalid internal assertion: claim {name!r} must be a number")
    return float(value)


def _check_claims(claims: dict[str, Any], *, audience: str, now: float) -> None:
    """What PyJWT's decode checked with this module's options: the claims it requires,
    the audience, and the times with CLOCK_SKEW_SECONDS of leeway (the issuer is checked
    before, as it picks the key)."""
    missing = [name for name in _REQUIRED_CLAIMS if name not in claims]
    if missing:
        raise AssertionError_(f"invalid internal assertion: claim {missing[0]!r} is missing")
    audiences = claims["aud"]
    if isinstance(audiences, str):
        audiences = [audiences]
    if not isinstance(audiences, list) or audience not in audiences:
        raise AssertionError_("invalid internal assertion: Audience doesn't match")
    expires = _number(claims, "exp")
    if expires is not None and expires <= now - CLOCK_SKEW_SECONDS:
        raise AssertionError_("internal assertion expired")
    for name in ("iat", "nbf"):
        moment = _number(claims, name)
        if moment is not None and moment > now + CLOCK_SKEW_SECONDS:
            raise AssertionError_(f"invalid internal assertion: claim {name!r} is in the future")


_REQUIRED_CLAIMS = ("iss", "aud", "sub", "ws", "exp", "bh")
