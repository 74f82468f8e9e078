"""Events published by the webhooks service (outbound webhooks, `services/webhooks`).

It serves no request/reply endpoints: admins manage webhooks through GraphQL.
"""

from __future__ import annotations

from .audit_trail import AuditTrailReply, AuditTrailRequest
from .base import Payload, UtcDateTime
from .endpoints import COMMON_ERRORS, RpcEndpoint
from .envelope import event_subject
from .streams import rpc_subject

SERVICE = "webhooks"
RPC_AUDIT_TRAIL = rpc_subject(SERVICE, "audit", "trail")

# An endpoint failed persistently and was disabled: tell its workspace's admins (the tasks
# service can turn this into a notification; see services/webhooks/README.md).
ENDPOINT_DISABLED = event_subject(SERVICE, "endpoint", "disabled")
# Internal work item: a delivery became due (the head of its endpoint's queue for one
# record). Its own consumer retries it with back-off; nobody else should consume it.
DELIVERY_DUE = event_subject(SERVICE, "delivery", "due")


class EndpointDisabled(Payload):
    """A webhook endpoint failed persistently and was disabled; its workspace's admins
    should be told (re-enable it with `enableWebhook`)."""

    endpoint_id: str
    url: str
    reason: str
    failing_since: UtcDateTime | None = None
    disabled_at: UtcDateTime


class DeliveryDue(Payload):
    """Internal work item of the webhooks service: a delivery became due. Only its own
    durable consumer reads it (with back-off); other services must not consume it."""

    delivery_id: str
    endpoint_id: str


EVENTS: dict[str, type[Payload]] = {
    ENDPOINT_DISABLED: EndpointDisabled,
    DELIVERY_DUE: DeliveryDue,
}

ENDPOINTS: tuple[RpcEndpoint, ...] = (
    RpcEndpoint(
        RPC_AUDIT_TRAIL,
        "One page of the audit trail of a webhook endpoint (admins; the platform's "
        "`auditTrail(recordId)` asks each service).",
        AuditTrailRequest,
        AuditTrailReply,
        roles="read",
        errors=(*COMMON_ERRORS, "NOT_FOUND"),
    ),
)
