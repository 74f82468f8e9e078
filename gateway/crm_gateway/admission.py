"""Who may send how much: rate limits (per client address, per caller), a bound on
requests in flight, and a back-off for addresses that keep presenting bad tokens.

All state is in this process (per gateway replica) and bounded: each table keeps at most
`max_keys` entries, least recently seen dropped first (a dropped bucket starts full again,
which only favours a client that is not sending).

Rate limits are token buckets: `burst` requests at once, refilled at `rate` per second.
The refusal is 429 with `Retry-After`; every answer carries the `RateLimit-Policy` and
`RateLimit` fields of the IETF draft (draft-ietf-httpapi-ratelimit-headers), where a
bucket shows as quota `q` = burst in a window `w` = the seconds it takes to refill, and
`r` / `t` are what is left and the seconds until the bucket is full again.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from dataclasses import dataclass

from starlette.requests import HTTPConnection

__all__ = [
    "AuthFailureGuard",
    "Bucket",
    "ConcurrencyLimit",
    "Decision",
    "RateLimiter",
    "client_address",
]


def client_address(request: HTTPConnection) -> str:
    """The client's address as every door of the gateway sees it (rate limits, the bad-token
    back-off, the browser of a tracking report): the peer itself, or the client a trusted
    reverse proxy names in X-Forwarded-For. The server resolves that before the app runs
    (uvicorn's proxy headers, on only for the peers in GATEWAY_TRUSTED_PROXIES:
    `crm_gateway.__main__`), so a header from anyone else never counts."""
    return request.client.host if request.client else "unknown"


@dataclass
class Bucket:
    tokens: float
    updated: float


@dataclass(frozen=True)
class Decision:
    allowed: bool
    policy: str  # the policy's name in the headers, e.g. "per-ip"
    burst: int
    rate: float
    remaining: int
    retry_after: int  # seconds until one request would be allowed (0 when allowed)
    full_in: int  # seconds until the bucket is full

    def policy_item(self) -> str:
        window = max(1, math.ceil(self.burst / self.rate))
        return f'"{self.policy}";q={self.burst};w={window}'

    def state_item(self) -> str:
        return f'"{self.policy}";r={self.remaining};t={self.full_in}'


def ratelimit_headers(decisions: list[Decision]) -> dict[str, str]:
    if not decisions:
        return {}
    return {
        "RateLimit-Policy": ", ".join(d.policy_item() for d in decisions),
        "RateLimit": ", ".join(d.state_item() for d in decisions),
    }


class RateLimiter:
    """A token bucket per key. `rate` <= 0 turns it off (every request allowed)."""

    def __init__(self, policy: str, rate: float, burst: int, max_keys: int = 100_000) -> None:
        self.policy = policy
        self.rate = rate
        self.burst = max(1, burst)
        self.max_keys = max_keys
        self._buckets: OrderedDict[str, Bucket] = OrderedDict()

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    def take(self, key: str, now: float | None = None) -> Decision:
        now = time.monotonic() if now is None else now
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = Bucket(float(self.burst), now)
            while len(self._buckets) > self.max_keys:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(key)
            elapsed = max(0.0, now - bucket.updated)
            bucket.tokens = min(float(self.burst), bucket.tokens + elapsed * self.rate)
            bucket.updated = now
        allowed = bucket.tokens >= 1.0
        if allowed:
            bucket.tokens -= 1.0
        missing = 0.0 if allowed else 1.0 - bucket.tokens
        return Decision(
            allowed=allowed,
            policy=self.policy,
            burst=self.burst,
            rate=self.rate,
            remaining=int(bucket.tokens),
            retry_after=0 if allowed else max(1, math.ceil(missing / self.rate)),
            full_in=math.ceil((self.burst - bucket.tokens) / self.rate),
        )


class ConcurrencyLimit:
    """At most `limit` requests in flight (<= 0: no limit); beyond it, 503 at once rather
    than a queue that grows until every request times out."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.in_flight = 0

    def try_enter(self) -> bool:
        if 0 < self.limit <= self.in_flight:
            return False
        self.in_flight += 1
        return True

    def leave(self) -> None:
        self.in_flight -= 1


class AuthFailureGuard:
    """Slows down, then refuses, an address that keeps presenting bad tokens.

    Each failure adds one to the address's score, which drains at `forgive_per_second`.
    After `slow_after` failures every further one is answered after a delay that doubles
    with the score (up to `max_delay`); after `lock_after` the address gets 429 without its
    token even being checked, until the score has drained enough for one more try. Guessing tokens
    thus gets slower and then stops, while a user who mistyped once is never delayed.
    """

    def __init__(
        self,
        *,
        slow_after: int = 5,
        lock_after: int = 20,
        forgive_per_second: float = 0.2,
        base_delay: float = 0.05,
        max_delay: float = 2.0,
        max_keys: int = 100_000,
    ) -> None:
        self.slow_after = slow_after
        self.lock_after = lock_after
        self.forgive_per_second = forgive_per_second
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.max_keys = max_keys
        self._scores: OrderedDict[str, Bucket] = OrderedDict()

    @property
    def enabled(self) -> bool:
        return self.lock_after > 0

    def _score(self, key: str, now: float) -> Bucket | None:
        entry = self._scores.get(key)
        if entry is None:
            return None
        entry.tokens = max(0.0, entry.tokens - (now - entry.updated) * self.forgive_per_second)
        entry.updated = now
        if entry.tokens == 0.0:
            del self._scores[key]
            return None
        return entry

    def locked_for(self, key: str, now: float | None = None) -> int:
        """Seconds until `key` may try again (0: it may now)."""
        if not self.enabled:
            return 0
        now = time.monotonic() if now is None else now
        entry = self._score(key, now)
        # Locked from the `lock_after`-th failure in quick succession (the score drains a
        # little between them) until it has drained back below `lock_after - 1`.
        threshold = self.lock_after - 1
        if entry is None or entry.tokens <= threshold:
            return 0
        return max(1, math.ceil((entry.tokens - threshold) / self.forgive_per_second))

    def failed(self, key: str, now: float | None = None) -> float:
        """Record a failure; the delay to impose before answering it."""
        if not self.enabled:
            return 0.0
        now = time.monotonic() if now is None else now
        entry = self._score(key, now)
        if entry is None:
            entry = self._scores[key] = Bucket(0.0, now)
            while len(self._scores) > self.max_keys:
                self._scores.popitem(last=False)
        self._scores.move_to_end(key)
        entry.tokens += 1.0
        over = entry.tokens - self.slow_after
        if over <= 0:
            return 0.0
        return min(self.max_delay, self.base_delay * 2 ** min(over - 1, 30))
