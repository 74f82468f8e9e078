"""Events of other services this service reacts to, registered by payload model
(`crm_kit.inbound`): contract model -> handler, one `Subscription` per durable consumer.

`contacts-captures`: the capture service's emails, meetings and web sessions become
interactions on the timeline (and a cancelled meeting leaves it). Idempotent on the
interaction id the event names and its revision (`usecases/captures.py`), so the
processed-event record is not needed. The handlers act as `service:capture` (the events'
producer) with a writer's role; the interaction names the rep as `loggedBy`.
"""

from __future__ import annotations

from typing import Any

from crm_contracts import capture
from crm_kit.context import RequestContext
from crm_kit.inbound import Delivery, Subscription

from ..config import DURABLE_CAPTURES
from ..domain.interaction import Direction, InteractionKind
from ..usecases import captures
from ..usecases.inputs import CapturedInteractionInput
from ..usecases.scope import Scope, Scopes


def _captured(payload: capture.CapturedInteraction) -> CapturedInteractionInput:
    return CapturedInteractionInput(
        interaction_id=payload.interaction_id,
        revision=payload.revision,
        kind=InteractionKind(payload.kind),
        occurred_at=payload.occurred_at,
        direction=Direction(payload.direction) if payload.direction else None,
        subject=payload.subject,
        summary=payload.summary,
        participants=list(payload.participants),
        duration_seconds=payload.duration_seconds,
        contact_ids=list(payload.contact_ids),
        company_id=payload.company_id,
        deal_id=payload.deal_id,
        logged_by=payload.logged_by,
    )


def subscriptions(scopes: Scopes) -> list[Subscription]:
    def scope_of(delivery: Delivery[Any]) -> Scope:
        return scopes(RequestContext(delivery.workspace, "service:capture", frozenset({"rep"})))

    async def recorded(delivery: Delivery[Any]) -> None:
        await captures.record_captured(scope_of(delivery), _captured(delivery.payload))

    async def cancelled(delivery: Delivery[capture.MeetingCancelled]) -> None:
        payload = delivery.payload
        await captures.remove_captured(
            scope_of(delivery),
            payload.interaction_id,
            payload.revision,
            InteractionKind.MEETING,
            payload.occurred_at,
        )

    captured = Subscription(DURABLE_CAPTURES, record_processed=False)
    captured.on(capture.EmailCaptured, recorded)
    captured.on(capture.MeetingCaptured, recorded)
    captured.on(capture.VisitRecorded, recorded)
    captured.on(capture.MeetingCancelled, cancelled)
    return [captured]
