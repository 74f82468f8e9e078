"""Inbound: every event of the other services' streams is offered to the workspace's
endpoints (one durable consumer per stream, shared by every replica)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from crm_contracts.envelope import CloudEvent
from crm_contracts.streams import StreamSpec, stream_for
from crm_kit.consumer import EventConsumer, Handler
from crm_kit.context import RequestContext

from ..usecases import intake
from ..usecases.scope import Scopes

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
    ) -> EventConsumer: ...


def handler(scopes: Scopes) -> Handler:
    async def take(event: CloudEvent) -> None:
        caller = RequestContext(event.workspace, "service:webhooks", frozenset({"admin"}))
        await intake.take(scopes(caller), event)

    return take


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
        )
