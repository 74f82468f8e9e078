"""Bearer tokens the gateway has already verified, remembered until each expires.

Verifying a token (PyJWT: parse, signature, claims) cost ~0.15-0.3 ms of the gateway's
CPU per request, more than planning and signing together on a small query, and a client
sends the same token with every request for its lifetime. The verifier's answer depends
only on the token's bytes and the clock (no revocation list, keys fixed at start-up), so
the answer for one exact token string stays right until the token's `exp`: a hit returns
the same caller the verifier returned, and is refused at `exp` exactly as PyJWT refuses it
(valid while now < exp, no leeway). A refusal is never remembered: every bad token goes to
the verifier (and counts against its address, `admission.AuthFailureGuard`).
"""

from __future__ import annotations

import base64
import time
from typing import Protocol

import orjson

from crm_kit.context import RequestContext


class Verifier(Protocol):
    def verify(self, token: str) -> RequestContext: ...


class VerifiedTokens:
    """A `Verifier` in front of another, remembering at most `size` accepted tokens (the
    oldest forgotten first). Tokens without a readable numeric `exp` are never kept."""

    def __init__(self, verifier: Verifier, size: int) -> None:
        self._verifier = verifier
        self._size = size
        self._accepted: dict[str, tuple[RequestContext, int]] = {}

    def verify(self, token: str) -> RequestContext:
        found = self._accepted.get(token)
        if found is not None:
            caller, expires = found
            if time.time() < expires:
                return caller
            self._accepted.pop(token, None)
        caller = self._verifier.verify(token)  # raises for any token it refuses
        expires_at = expiry(token)
        if expires_at is not None and self._size > 0:
            if len(self._accepted) >= self._size:
                # Insertion order: the oldest entry goes (one dict step, no LRU upkeep).
                self._accepted.pop(next(iter(self._accepted)))
            self._accepted[token] = (caller, expires_at)
        return caller


def expiry(token: str) -> int | None:
    """The `exp` claim of a compact JWT as PyJWT compares it (`int(exp)`), or None. Read
    without checking anything: only for a token the verifier has just accepted."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    payload = parts[1]
    try:
        claims = orjson.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (ValueError, orjson.JSONDecodeError):
        return None
    exp = claims.get("exp") if isinstance(claims, dict) else None
    if isinstance(exp, bool) or not isinstance(exp, int | float):
        return None
    return int(exp)
