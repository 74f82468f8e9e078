"""An event of another service becomes one delivery per endpoint of its workspace that
wants its type, queued behind earlier deliveries about the same record. Idempotent: a
re-delivered event makes the same deliveries (same ids) and queues nothing twice."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from crm_contracts.envelope import CloudEvent

from ..domain.delivery import Delivery, Lane, delivery_id, lane_id
from .scope import Scope


async def take(scope: Scope, event: CloudEvent) -> list[str]:
    """The ids of the deliveries the event makes (new or already made)."""
    endpoints = [e for e in await scope.store.endpoints() if e.enabled and e.wants(event.type)]
    if not endpoints:
        return []
    body = event.to_json().decode()
    record = event.subject or event.id
    made = []
    for endpoint in endpoints:
        delivery = Delivery(
            id=delivery_id(endpoint.id, event.id),
            workspace_id=scope.workspace_id,
            endpoint_id=endpoint.id,
            event_id=event.id,
            event_type=event.type,
            record=record,
            body=body,
            created_at=scope.now(),
        )
        await scope.store.add_delivery(delivery)
        await scope.store.change_lane(lane_id(endpoint.id, record), enqueue(delivery.id))
        made.append(delivery.id)
    return made


LaneChange = Callable[[Lane], Awaitable[bool]]


def enqueue(delivery: str) -> LaneChange:
    """Queue `delivery` at the end of its lane (once)."""

    async def fn(lane: Lane) -> bool:
        before = list(lane.queue)
        lane.enqueue(delivery)
        return lane.queue != before

    return fn


def finish(delivery: str) -> LaneChange:
    """`delivery` is settled: out of its lane, the next one due."""

    async def fn(lane: Lane) -> bool:
        before = list(lane.queue)
        lane.done(delivery)
        return lane.queue != before

    return fn
