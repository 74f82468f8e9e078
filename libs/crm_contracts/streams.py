"""JetStream streams and request/reply subjects of every service.

Each service's events live in one stream that captures `crm.<service>.>`. Request/reply
endpoints use the `rpc.` prefix, which no stream captures: otherwise the stream would
answer the request itself and store it (GUIDE §3).
"""

from __future__ import annotations

from dataclasses import dataclass

SERVICES = ("contacts", "deals", "tasks", "capture", "webhooks", "imports")


@dataclass(frozen=True)
class StreamSpec:
    name: str
    subjects: tuple[str, ...]


def stream_for(service: str) -> StreamSpec:
    return StreamSpec(name=f"CRM_{service.upper()}", subjects=(f"crm.{service}.>",))


# Failed deliveries that ran out of retries land here, one subject per consumer.
DEAD_LETTER_STREAM = StreamSpec(name="CRM_DEAD_LETTER", subjects=("dlq.>",))


def dead_letter_subject(service: str, consumer: str) -> str:
    return f"dlq.{service}.{consumer}"


def max_deliveries_advisory(stream: str, durable: str) -> str:
    """Where the JetStream server says a durable's event ran out of deliveries unsettled."""
    return f"$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.{stream}.{durable}"


def rpc_subject(service: str, entity: str, operation: str) -> str:
    return f"rpc.{service}.{entity}.{operation}"


# Request/reply header: the caller's signed internal assertion (crm_kit.assertions), which
# names the calling party, the user or service identity it acts for, the workspace and the
# roles. A bare workspace header is never trusted.
RPC_HEADER_ASSERTION = "crm-assertion"
