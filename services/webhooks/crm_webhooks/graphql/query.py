"""Query resolvers: thin, everything real happens in the use cases (admins only)."""

from __future__ import annotations

import strawberry

from crm_kit.audit_graphql import log_field
from crm_kit.pagination import encode_cursor
from crm_kit.relay_types import Connection, connection

from ..domain.endpoint import deliverable_types
from ..usecases import deliveries, endpoints
from .context import ContextInfo
from .types import Webhook, WebhookDelivery, WebhookSettings


@strawberry.type
class Query:
    webhooks_audit_log = log_field("webhook endpoints")

    @strawberry.field(description="The workspace's webhooks. Admins only.")
    async def webhooks(self, info: ContextInfo) -> list[Webhook]:
        return [Webhook.of(e) for e in await endpoints.listed(info.context.scope)]

    @strawberry.field(description="Admins only.")
    async def webhook(self, info: ContextInfo, id: strawberry.ID) -> Webhook:
        return Webhook.of(await endpoints.get(info.context.scope, str(id)))

    @strawberry.field(description="A webhook's deliveries, newest first. Admins only.")
    async def webhook_deliveries(
        self,
        info: ContextInfo,
        webhook_id: strawberry.ID,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[WebhookDelivery]:
        page = await deliveries.of_endpoint(info.context.scope, str(webhook_id), first, after)
        return connection(page, WebhookDelivery.of, lambda d: encode_cursor(d.created_at, d.id))

    @strawberry.field(description="The event types a webhook may name.")
    def webhook_event_types(self) -> list[str]:
        return deliverable_types()

    @strawberry.field(description="Admins only.")
    async def webhook_settings(self, info: ContextInfo) -> WebhookSettings:
        return WebhookSettings.of(await endpoints.settings(info.context.scope))
