"""Who the gateway calls a subgraph for, proved to the subgraph.

The gateway verifies the caller's token once; each subgraph request then carries an
internal assertion (`crm_kit.assertions`) signed with the gateway's key, naming the
subgraph (`subgraph:<name>`), the caller (workspace, subject, roles) and a hash of the
exact body sent. The caller's own token never leaves the gateway.

The caller travels in a context variable set for the request being executed: the executor
runs fetches in tasks of that request, which inherit it, and needs no knowledge of
identity.
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from collections.abc import Mapping
from contextvars import ContextVar

from crm_kit.assertions import ASSERTION_TTL_SECONDS, KeyRing, idempotency_binding
from crm_kit.context import RequestContext
from crm_kit.graphql_http import ASSERTION_HEADER, subgraph_audience
from crm_kit.idempotency import HEADER as IDEMPOTENCY_HEADER
from crm_kit.idempotency import STEP_HEADER

__all__ = ["CALLER", "SubgraphSigner"]

CALLER: ContextVar[RequestContext | None] = ContextVar("crm_gateway_caller", default=None)


class SubgraphSigner:
    """Mints the assertion header for one subgraph request.

    `cache_size` > 0 reuses an assertion for the same caller, subgraph and body while more
    than half its lifetime is left: minting one costs ~0.1 ms of the gateway's CPU per
    subgraph fetch, a cache hit a SHA-256 of the body (1-6 µs; `bench/gateway/
    assertions.py`). Reads that repeat (a board reloaded, a list polled) then cost nothing
    extra. Reuse grants nothing new: an assertion is already valid for exactly that body
    and audience until it expires, whoever presents it.
    """

    def __init__(self, keyring: KeyRing, *, cache_size: int = 0) -> None:
        self._keyring = keyring
        self._cache_size = cache_size
        self._cache: OrderedDict[tuple[RequestContext, str, bytes], tuple[str, float]] = (
            OrderedDict()
        )

    def headers(
        self, subgraph: str, body: bytes, sent: Mapping[str, str] | None = None
    ) -> dict[str, str]:
        """The assertion for sending `body` to `subgraph` with the headers `sent`: a keyed
        mutation's Idempotency-Key and step are signed with it."""
        caller = CALLER.get()
        if caller is None:
            return {}  # no authenticated caller (auth off in development): nothing to prove
        sent = sent or {}
        keyed = idempotency_binding(sent.get(IDEMPOTENCY_HEADER), sent.get(STEP_HEADER))
        audience = subgraph_audience(subgraph)
        return {ASSERTION_HEADER: self._assertion(caller, audience, body, keyed)}

    def for_subscription(
        self, subgraph: str, body: bytes, caller: RequestContext, ttl_seconds: int
    ) -> dict[str, str]:
        """The header for opening a subscription at `subgraph` for `caller`: the stream
        lasts as long as this assertion (`crm_kit.live_http`), then is opened again."""
        token = self._keyring.mint(
            audience=subgraph_audience(subgraph), context=caller, body=body, ttl_seconds=ttl_seconds
        )
        return {ASSERTION_HEADER: token}

    def _assertion(
        self, caller: RequestContext, audience: str, body: bytes, keyed: str | None
    ) -> str:
        if self._cache_size <= 0 or keyed is not None:
            # A keyed mutation is sent once (repeats are the client's, with a new body
            # hash anyway): nothing to reuse.
            return self._keyring.mint(
                audience=audience, context=caller, body=body, idempotency=keyed
            )
        key = (caller, audience, hashlib.sha256(body).digest())
        now = time.monotonic()
        cached = self._cache.get(key)
        if cached is not None and cached[1] > now:
            self._cache.move_to_end(key)
            return cached[0]
        token = self._keyring.mint(audience=audience, context=caller, body=body)
        self._cache[key] = (token, now + ASSERTION_TTL_SECONDS / 2)
        self._cache.move_to_end(key)
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return token
