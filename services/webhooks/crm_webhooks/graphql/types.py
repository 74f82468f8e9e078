"""GraphQL object types. Each wraps a domain record and exposes it."""

from __future__ import annotations

from datetime import datetime
from enum import Enum

import strawberry

from ..domain.delivery import Attempt, Delivery
from ..domain.endpoint import Endpoint
from ..domain.settings import WorkspaceSettings


@strawberry.type(description="Where a workspace's events of some types are delivered.")
class Webhook:
    id: strawberry.ID
    url: str
    events: list[str] = strawberry.field(description='Event types, or ["*"] for all.')
    description: str | None
    enabled: bool
    disabled_reason: str | None
    failing_since: datetime | None = strawberry.field(
        description="Since when every attempt failed; null after a success."
    )
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, e: Endpoint) -> Webhook:
        return cls(
            id=strawberry.ID(e.id),
            url=e.url,
            events=list(e.events),
            description=e.description,
            enabled=e.enabled,
            disabled_reason=e.disabled_reason,
            failing_since=e.failing_since,
            created_at=e.created_at,
            updated_at=e.updated_at,
        )


@strawberry.type(description="A webhook and its signing secret: shown this once only.")
class WebhookSecret:
    webhook: Webhook
    secret: str = strawberry.field(description="`whsec_...` (Standard Webhooks).")


@strawberry.enum
class DeliveryStatus(Enum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


@strawberry.type
class WebhookAttempt:
    at: datetime
    status_code: int | None
    latency_ms: float
    error: str | None

    @classmethod
    def of(cls, a: Attempt) -> WebhookAttempt:
        return cls(at=a.at, status_code=a.status_code, latency_ms=a.latency_ms, error=a.error)


@strawberry.type(description="One event sent to one webhook (every attempt of it).")
class WebhookDelivery:
    id: strawberry.ID = strawberry.field(description="The `webhook-id` header, every attempt.")
    webhook_id: strawberry.ID
    event_id: str
    event_type: str
    record: str = strawberry.field(description="What the event is about (its subject).")
    status: DeliveryStatus
    attempts: int
    response_code: int | None = strawberry.field(description="Of the last attempt.")
    latency_ms: float | None = strawberry.field(description="Of the last attempt.")
    created_at: datetime
    attempt_log: list[WebhookAttempt] = strawberry.field(description="The last 50 attempts.")

    @classmethod
    def of(cls, d: Delivery) -> WebhookDelivery:
        last = d.attempts[-1] if d.attempts else None
        return cls(
            id=strawberry.ID(d.id),
            webhook_id=strawberry.ID(d.endpoint_id),
            event_id=d.event_id,
            event_type=d.event_type,
            record=d.record,
            status=DeliveryStatus(d.status),
            attempts=d.attempt_count,
            response_code=last.status_code if last else None,
            latency_ms=last.latency_ms if last else None,
            created_at=d.created_at,
            attempt_log=[WebhookAttempt.of(a) for a in d.attempts],
        )


@strawberry.type
class WebhookSettings:
    allow_private_networks: bool = strawberry.field(
        description="Deliver to private, loopback and link-local addresses too."
    )

    @classmethod
    def of(cls, s: WorkspaceSettings) -> WebhookSettings:
        return cls(allow_private_networks=s.allow_private_networks)
