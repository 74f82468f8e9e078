"""Inbound: every event of the other services' streams is offered to the workspace's
endpoints (one durable consumer per stream, shared by every replica). A fetch's events
are taken together (`intake.take_all`: one read of a workspace's endpoints for all of
them); should that fail, the kit takes them one at a time (`intake.take`)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from crm_contracts.envelope import CloudEvent
from crm_contracts.streams import StreamSpec, stream_for
from crm_kit.consumer import BatchHandler, EventConsumer, Handler
from crm_kit.context import RequestContext

from ..usecases import intake
from ..usecases.scope import Scope, Scopes

SOURCES = ("contacts", "deals", "tasks")
INTAKE = "webhooks-intake"


class Runtime(Protocol):
    async def consume(
        self,
        *,
        durable: str,
        source: StreamSpec,
        subjects: Iterable[str],
        handler: Handler,
        record_processed: bool = True,
        batch_handler: BatchHandler | None = None,
    ) -> EventConsumer: ...


def _scope_of(scopes: Scopes, workspace: str) -> Scope:
    return scopes(RequestContext(workspace, "service:webhooks", frozenset({"admin"})))


def handler(scopes: Scopes) -> Handler:
    async def take(event: CloudEvent) -> None:
        await intake.take(_scope_of(scopes, event.workspace), event)

    return take


def batch_handler(scopes: Scopes) -> BatchHandler:
    async def take_all(events: list[CloudEvent]) -> None:
        await intake.take_all(lambda workspace: _scope_of(scopes, workspace), events)

    return take_all


async def start_intake(runtime: Runtime, scopes: Scopes) -> None:
    for service in SOURCES:
        spec = stream_for(service)
        # Idempotent on natural keys (delivery ids derive from endpoint and event).
        await runtime.consume(
            durable=INTAKE,
            source=spec,
            subjects=list(spec.subjects),
            handler=handler(scopes),
            record_processed=False,
            batch_handler=batch_handler(scopes),
        )
