"""One attempt at one delivery: sign it, send it, record how it went, and say when to try
again (the schedule's delay with jitter) or that it is settled. A delivery is sent only
while it is first in its lane, so the deliveries of one record reach an endpoint in order.
A delivery that exhausts its schedule settles as failed; if nothing has reached its
endpoint for `disable_after_seconds`, the endpoint is disabled and its workspace told
(`crm.webhooks.endpoint.disabled.v1`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from ..domain.delivery import FAILED, PENDING, SUCCEEDED, Attempt, Delivery
from ..domain.endpoint import Endpoint
from ..domain.schedule import retry_delay
from ..domain.signing import signature_header
from .intake import finish
from .scope import Scope

USER_AGENT = "crm-webhooks/1.0"


class Send(Protocol):
    async def __call__(
        self,
        url: str,
        headers: Mapping[str, str],
        body: bytes,
        *,
        allow_private: bool,
        timeout: float,
    ) -> Attempt: ...


@dataclass(frozen=True)
class Outcome:
    retry_in: float | None = None  # seconds until the next attempt; None: settled

    @property
    def settled(self) -> bool:
        return self.retry_in is None


SETTLED = Outcome()


def headers_for(delivery: Delivery, secrets: list[str], timestamp: int) -> dict[str, str]:
    body = delivery.body.encode()
    return {
        "webhook-id": delivery.id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature_header(secrets, delivery.id, timestamp, body),
        "content-type": "application/json",
        "user-agent": USER_AGENT,
    }


async def attempt(scope: Scope, delivery_id: str, send: Send) -> Outcome:
    """Its place in the schedule is the receiver attempts since it was queued (a
    redelivery by an admin starts anew); a failure of our own (raised) does not count."""
    store = scope.store
    delivery = await store.delivery(delivery_id)
    if delivery is None:
        return SETTLED
    if delivery.status != PENDING:
        await store.change_lane(delivery.lane_id, finish(delivery.id))
        return SETTLED
    lane = await store.change_lane(delivery.lane_id, _read)
    if not lane.queue or lane.queue[0] != delivery.id:
        return SETTLED  # not its turn: it becomes due when the one before it settles
    endpoint = await store.endpoint(delivery.endpoint_id)
    if endpoint is None or not endpoint.enabled:
        reason = "the endpoint was deleted" if endpoint is None else "the endpoint is disabled"
        await _settle(scope, delivery, FAILED, Attempt(scope.now(), None, 0.0, reason))
        return SETTLED
    allow_private = (await store.settings()).allow_private_networks
    now = scope.now()
    result = await send(
        endpoint.url,
        headers_for(delivery, endpoint.signing_secrets(now), int(now.timestamp())),
        delivery.body.encode(),
        allow_private=allow_private,
        timeout=scope.settings.timeout_seconds,
    )
    if result.ok:
        await _settle(scope, delivery, SUCCEEDED, result)
        await store.change_endpoint(endpoint.id, _succeeded)
        return SETTLED
    delay = retry_delay(scope.settings.schedule, delivery.series_attempts + 1)
    if delay is not None:
        await store.change_delivery(delivery.id, _recorded(result))
        await store.change_endpoint(endpoint.id, _failed(scope))
        return Outcome(delay)
    await _settle(scope, delivery, FAILED, result)
    await store.change_endpoint(endpoint.id, _exhausted(scope))
    return SETTLED


async def _read(_: object) -> bool:
    return False


def _recorded(result: Attempt) -> Callable[[Delivery], Awaitable[bool]]:
    async def fn(delivery: Delivery) -> bool:
        delivery.record_attempt(result)
        return True

    return fn


async def _settle(scope: Scope, delivery: Delivery, status: str, result: Attempt) -> None:
    async def fn(found: Delivery) -> bool:
        found.record_attempt(result)
        found.settle(status)
        return True

    await scope.store.change_delivery(delivery.id, fn)
    await scope.store.change_lane(delivery.lane_id, finish(delivery.id))


async def _succeeded(endpoint: Endpoint) -> bool:
    was = endpoint.failing_since
    endpoint.succeeded()
    return was is not None


def _failed(scope: Scope) -> Callable[[Endpoint], Awaitable[bool]]:
    async def fn(endpoint: Endpoint) -> bool:
        was = endpoint.failing_since
        endpoint.failed(scope.now())
        return was is None

    return fn


def _exhausted(scope: Scope) -> Callable[[Endpoint], Awaitable[bool]]:
    async def fn(endpoint: Endpoint) -> bool:
        now = scope.now()
        endpoint.failed(now)
        failing = endpoint.failing_since or now
        if endpoint.enabled and (now - failing).total_seconds() >= (
            scope.settings.disable_after_seconds
        ):
            endpoint.disable(
                f"every delivery failed since {failing.isoformat()}", now, announce=True
            )
        return True

    return fn
