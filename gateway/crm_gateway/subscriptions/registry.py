"""Subscription limits and bookkeeping of this gateway process: how many are active in total
and per caller, how many subgraph streams are open, and who to stop when the gateway stops.
Every check is a dictionary look-up."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from crm_kit.metrics import Reading


@dataclass(frozen=True)
class LiveSettings:
    """Every one is `GATEWAY_<NAME>` in the environment (the README lists them)."""

    max_subscriptions: int = 10_000  # in this gateway process
    max_subscriptions_per_caller: int = 100  # one user (workspace + subject), all connections
    max_subscriptions_per_connection: int = 50  # one WebSocket
    subscription_queue: int = 100  # results waiting for a slow client before it is cut off
    subscription_send_timeout: float = 10.0  # one write to a client taking longer cuts it off
    subscription_resume_seconds: float = 30.0  # how long an unreachable subgraph is retried
    subscription_assertion_seconds: int = 300  # life of a subgraph stream's assertion
    subscription_init_timeout: float = 10.0  # WebSocket connection_init must come by then
    subscription_heartbeat_seconds: float = 15.0  # SSE keep-alive comment to clients
    subscription_upstream_idle_seconds: float = 45.0  # subgraph silent that long: reconnect


class LimitReached(Exception):
    def __init__(self, limit: str, maximum: int) -> None:
        names = {
            "total": "subscriptions in this gateway",
            "per_caller": "subscriptions per user",
            "per_connection": "subscriptions per connection",
        }
        super().__init__(f"Limit of {maximum} {names[limit]} reached; end one first.")
        self.limit = limit
        self.maximum = maximum

    def error(self) -> dict[str, Any]:
        return {
            "message": str(self),
            "extensions": {
                "code": "SUBSCRIPTION_LIMIT_EXCEEDED",
                "limit": self.limit,
                "max": self.maximum,
            },
        }


class LiveRegistry:
    def __init__(self, settings: LiveSettings) -> None:
        self.settings = settings
        self.active = 0
        self.upstreams_open = 0
        self._by_caller: dict[str, int] = {}
        self._stoppers: set[Callable[[], None]] = set()

    def claim(self, caller: str, on_connection: int = 0) -> None:
        """Count one more subscription of `caller`, or LimitReached."""
        s = self.settings
        if 0 < s.max_subscriptions <= self.active:
            raise LimitReached("total", s.max_subscriptions)
        if 0 < s.max_subscriptions_per_caller <= self._by_caller.get(caller, 0):
            raise LimitReached("per_caller", s.max_subscriptions_per_caller)
        if 0 < s.max_subscriptions_per_connection <= on_connection:
            raise LimitReached("per_connection", s.max_subscriptions_per_connection)
        self.active += 1
        self._by_caller[caller] = self._by_caller.get(caller, 0) + 1

    def release(self, caller: str) -> None:
        self.active -= 1
        left = self._by_caller.get(caller, 1) - 1
        if left > 0:
            self._by_caller[caller] = left
        else:
            self._by_caller.pop(caller, None)

    def upstream(self, opened: bool) -> None:
        self.upstreams_open += 1 if opened else -1

    def on_stop(self, stopper: Callable[[], None]) -> Callable[[], None]:
        """Call `stopper` when the gateway stops; returns the function that forgets it."""
        self._stoppers.add(stopper)
        return lambda: self._stoppers.discard(stopper)

    def stop_all(self) -> None:
        for stopper in list(self._stoppers):
            stopper()

    def metric_readings(self) -> Iterator[Reading]:
        """Read at every scrape of the metrics port (`crm_kit.metrics.track`)."""
        yield (
            "crm_gateway_subscriptions_active",
            "Client subscriptions open on this gateway process.",
            {},
            float(self.active),
        )
        yield (
            "crm_gateway_subscription_upstreams_open",
            "Subgraph streams this gateway process holds open for its subscriptions.",
            {},
            float(self.upstreams_open),
        )
