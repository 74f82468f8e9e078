"""CloudEvents of the webhooks service (`crm_contracts.webhooks`). The writer calls `encode`
for the domain events a write carries; the relay publishes them."""

from __future__ import annotations

from crm_contracts import webhooks as contract
from crm_contracts.envelope import CloudEvent, new_event

from ..config import SOURCE
from ..domain import events


def encode(event: object) -> CloudEvent:
    """The writer's `encode`: a domain event of this service as its CloudEvent."""
    match event:
        case events.EndpointWasDisabled(endpoint, at):
            disabled = contract.EndpointDisabled(
                endpoint_id=endpoint.id,
                url=endpoint.url,
                reason=endpoint.disabled_reason or "",
                failing_since=endpoint.failing_since,
                disabled_at=at,
            )
            return new_event(
                event_type=contract.ENDPOINT_DISABLED,
                source=SOURCE,
                workspace=endpoint.workspace_id,
                subject=endpoint.id,
                data=disabled.wire(),
            )
        case events.DeliveryBecameDue(workspace, lane, delivery, endpoint):
            due = contract.DeliveryDue(delivery_id=delivery, endpoint_id=endpoint)
            return new_event(
                event_type=contract.DELIVERY_DUE,
                source=SOURCE,
                workspace=workspace,
                subject=lane,
                data=due.wire(),
            )
    raise TypeError(f"not a webhooks domain event: {type(event).__name__}")
