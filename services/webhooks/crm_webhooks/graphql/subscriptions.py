"""Live field: the notice to admins that a webhook was disabled after persistent failure,
fed by this service's own `endpoint.disabled` events (`crm_kit.live`, never a poll). Admins
of the event's workspace only, as every webhooks field."""

from __future__ import annotations

from collections.abc import AsyncGenerator

import strawberry

from crm_contracts.webhooks import ENDPOINT_DISABLED, EndpointDisabled
from crm_kit.live import live_events

from ..domain.endpoint import Endpoint
from .context import ContextInfo
from .types import Webhook


@strawberry.type
class Subscription:
    @strawberry.subscription(
        description="Each webhook of the workspace disabled after persistent failure, from "
        "now on: the notice to admins (fix the receiver, then enableWebhook and redeliver). "
        "Admins only."
    )
    async def webhook_disabled(self, info: ContextInfo) -> AsyncGenerator[Webhook, None]:
        scope = info.context.scope
        scope.require_admin()
        async for event in live_events([ENDPOINT_DISABLED]):
            disabled = event.payload(EndpointDisabled)

            async def read(endpoint_id: str = disabled.endpoint_id) -> Endpoint | None:
                return await scope.store.endpoint(endpoint_id)

            # The endpoint as stored now (once per event for every admin listening); an
            # endpoint deleted since is not announced.
            endpoint = await event.shared(("endpoint", disabled.endpoint_id), read)
            if endpoint is not None:
                yield Webhook.of(endpoint)
