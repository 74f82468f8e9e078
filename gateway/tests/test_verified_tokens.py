"""Verified tokens are remembered until they expire, and never longer; refusals never."""

from __future__ import annotations

import gc
import time

import jwt
import pytest

from crm_gateway import verified_tokens
from crm_gateway.gc_tuning import YOUNG_THRESHOLD, tune_for_serving
from crm_gateway.verified_tokens import VerifiedTokens, expiry
from crm_kit.auth import AuthError, TokenVerifier, token_claims
from crm_kit.context import RequestContext

SECRET = "test-secret-" + "x" * 40


def token(subject: str, ttl_seconds: int = 600) -> str:
    claims = token_claims("w1", subject, ["rep"], ttl_seconds, issuer="crm-dev", audience="crm")
    return jwt.encode(claims, SECRET, algorithm="HS256")


class CountingVerifier:
    """The real verifier, counting the tokens it is asked about."""

    def __init__(self) -> None:
        self.inner = TokenVerifier("HS256", [SECRET])
        self.calls = 0

    def verify(self, token: str) -> RequestContext:
        self.calls += 1
        return self.inner.verify(token)


def test_an_accepted_token_is_verified_once() -> None:
    inner = CountingVerifier()
    tokens = VerifiedTokens(inner, size=10)
    t = token("alice")
    first = tokens.verify(t)
    assert tokens.verify(t) == first == RequestContext("w1", "alice", frozenset({"rep"}))
    assert inner.calls == 1


def test_a_refused_token_is_refused_every_time() -> None:
    inner = CountingVerifier()
    tokens = VerifiedTokens(inner, size=10)
    forged = token("alice") + "x"
    for _ in range(3):
        with pytest.raises(AuthError):
            tokens.verify(forged)
    assert inner.calls == 3


def test_a_remembered_token_expires_when_the_verifier_would_refuse_it(monkeypatch) -> None:
    inner = CountingVerifier()
    tokens = VerifiedTokens(inner, size=10)
    t = token("alice", ttl_seconds=60)
    exp = expiry(t)
    assert exp is not None
    tokens.verify(t)
    # One second before `exp` it is still the remembered answer ...
    monkeypatch.setattr(verified_tokens.time, "time", lambda: exp - 1.0)
    tokens.verify(t)
    assert inner.calls == 1
    # ... at `exp` the verifier is asked again, and PyJWT refuses it at that same instant.
    monkeypatch.setattr(verified_tokens.time, "time", lambda: float(exp))
    monkeypatch.setattr(jwt.api_jwt, "datetime", _FrozenDatetime(exp))
    with pytest.raises(AuthError, match="expired"):
        tokens.verify(t)
    assert inner.calls == 2


class _FrozenDatetime:
    """Stands in for `datetime` in PyJWT so that its clock reads `at`."""

    def __init__(self, at: float) -> None:
        self.at = at

    def now(self, tz: object = None) -> _FrozenDatetime:
        return self

    def timestamp(self) -> float:
        return self.at


def test_the_cache_is_bounded_oldest_first() -> None:
    inner = CountingVerifier()
    tokens = VerifiedTokens(inner, size=2)
    a, b, c = token("a"), token("b"), token("c")
    for t in (a, b, c):
        tokens.verify(t)
    tokens.verify(c)
    tokens.verify(b)
    assert inner.calls == 3  # b and c remembered
    tokens.verify(a)
    assert inner.calls == 4  # a was forgotten


def test_a_token_without_a_readable_expiry_is_not_remembered() -> None:
    class AcceptsAnything:
        calls = 0

        def verify(self, token: str) -> RequestContext:
            self.calls += 1
            return RequestContext("w1", token)

    inner = AcceptsAnything()
    tokens = VerifiedTokens(inner, size=10)
    tokens.verify("opaque")
    tokens.verify("opaque")
    assert inner.calls == 2
    assert expiry("a.b.c") is None
    assert expiry(jwt.encode({"sub": "x"}, SECRET, algorithm="HS256")) is None
    assert expiry(jwt.encode({"exp": "soon"}, SECRET, algorithm="HS256")) is None


def test_expiry_reads_exp_as_pyjwt_compares_it() -> None:
    now = int(time.time())
    assert expiry(jwt.encode({"exp": now + 5}, SECRET, algorithm="HS256")) == now + 5
    assert expiry(jwt.encode({"exp": now + 5.9}, SECRET, algorithm="HS256")) == now + 5


def test_gc_tuning_freezes_start_up_objects_and_raises_the_young_threshold() -> None:
    before = gc.get_threshold()
    try:
        tune_for_serving()
        assert gc.get_threshold()[0] == YOUNG_THRESHOLD
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
