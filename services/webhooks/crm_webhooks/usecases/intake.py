"""An event of another service becomes one delivery per endpoint of its workspace that
wants its type, queued behind earlier deliveries about the same record. Idempotent: a
re-delivered event makes the same deliveries (same ids) and queues nothing twice."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

from crm_contracts.envelope import CloudEvent

from ..domain.delivery import Delivery, Lane, delivery_id, lane_id
from ..domain.endpoint import Endpoint
from .scope import Scope

# Records whose events of one fetch are taken at once.
RECORDS_AT_ONCE = 8


async def take(scope: Scope, event: CloudEvent) -> list[str]:
    """The ids of the deliveries the event makes (new or already made)."""
    return await _make(scope, event, await _enabled(scope))


async def take_all(scope_of: Callable[[str], Scope], events: Sequence[CloudEvent]) -> None:
    """The events of one fetch: each workspace's endpoints read once (most events are
    wanted by no endpoint, and that read was most of their cost: a backlog after a restart
    went through at one read per event); the events of one record in their order (so its
    deliveries queue in it), different records' side by side (a few at a time)."""
    endpoints: dict[str, list[Endpoint]] = {}
    by_record: dict[tuple[str, str], list[CloudEvent]] = {}
    for event in events:
        if event.workspace not in endpoints:
            endpoints[event.workspace] = await _enabled(scope_of(event.workspace))
        by_record.setdefault((event.workspace, event.subject or event.id), []).append(event)
    limit = asyncio.Semaphore(RECORDS_AT_ONCE)

    async def record(workspace: str, its_events: list[CloudEvent]) -> None:
        async with limit:
            scope = scope_of(workspace)
            for event in its_events:
                await _make(scope, event, endpoints[workspace])

    try:
        async with asyncio.TaskGroup() as group:
            for (workspace, _), its_events in by_record.items():
                group.create_task(record(workspace, its_events))
    except ExceptionGroup as failed:
        # The first failure as itself: the consumer tells an unreachable database (tried
        # again in place) from anything else by its type.
        raise failed.exceptions[0] from None


async def _enabled(scope: Scope) -> list[Endpoint]:
    return [e for e in await scope.store.endpoints() if e.enabled]


async def _make(scope: Scope, event: CloudEvent, enabled: list[Endpoint]) -> list[str]:
    endpoints = [e for e in enabled if e.wants(event.type)]
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
