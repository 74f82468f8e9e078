"""Mutations: admins manage their workspace's webhooks."""

from __future__ import annotations

from typing import TypeVar

import strawberry

from crm_kit.unset import UNSET, Unset

from ..usecases import deliveries, endpoints
from .context import ContextInfo
from .types import Webhook, WebhookDelivery, WebhookSecret, WebhookSettings

T = TypeVar("T")


@strawberry.input
class CreateWebhookInput:
    url: str
    events: list[str] = strawberry.field(description='Event types, or ["*"] for all.')
    description: str | None = None


@strawberry.input
class UpdateWebhookInput:
    url: str | None = strawberry.UNSET
    events: list[str] | None = strawberry.UNSET
    description: str | None = strawberry.UNSET
    enabled: bool | None = strawberry.UNSET


def _given(value: T | None) -> T | Unset:
    """Not sent (or null for a field that cannot be cleared): keep it."""
    return UNSET if value is None or value is strawberry.UNSET else value


@strawberry.type
class Mutation:
    @strawberry.mutation(description="Register an endpoint; the secret is shown only here.")
    async def create_webhook(self, info: ContextInfo, input: CreateWebhookInput) -> WebhookSecret:
        endpoint, secret = await endpoints.create(
            info.context.scope, input.url, list(input.events), input.description
        )
        return WebhookSecret(webhook=Webhook.of(endpoint), secret=secret)

    @strawberry.mutation
    async def update_webhook(
        self, info: ContextInfo, id: strawberry.ID, input: UpdateWebhookInput
    ) -> Webhook:
        description: str | Unset | None = (
            UNSET if input.description is strawberry.UNSET else input.description
        )
        data = endpoints.EndpointInput(
            url=_given(input.url),
            events=_given(input.events),
            description=description,
            enabled=_given(input.enabled),
        )
        return Webhook.of(await endpoints.update(info.context.scope, str(id), data))

    @strawberry.mutation(description="Stop deliveries (pending ones settle as failed).")
    async def disable_webhook(self, info: ContextInfo, id: strawberry.ID) -> Webhook:
        return Webhook.of(await endpoints.set_enabled(info.context.scope, str(id), False))

    @strawberry.mutation
    async def enable_webhook(self, info: ContextInfo, id: strawberry.ID) -> Webhook:
        return Webhook.of(await endpoints.set_enabled(info.context.scope, str(id), True))

    @strawberry.mutation(
        description="A new secret (shown only here); the old one keeps signing for 24 h."
    )
    async def rotate_webhook_secret(self, info: ContextInfo, id: strawberry.ID) -> WebhookSecret:
        endpoint, secret = await endpoints.rotate(info.context.scope, str(id))
        return WebhookSecret(webhook=Webhook.of(endpoint), secret=secret)

    @strawberry.mutation
    async def delete_webhook(self, info: ContextInfo, id: strawberry.ID) -> strawberry.ID:
        return strawberry.ID(await endpoints.delete(info.context.scope, str(id)))

    @strawberry.mutation(description="Send a delivery again (the same webhook-id).")
    async def redeliver(self, info: ContextInfo, delivery_id: strawberry.ID) -> WebhookDelivery:
        return WebhookDelivery.of(await deliveries.redeliver(info.context.scope, str(delivery_id)))

    @strawberry.mutation(description="Admins only; private networks where the deployment allows.")
    async def set_webhook_settings(
        self, info: ContextInfo, allow_private_networks: bool
    ) -> WebhookSettings:
        found = await endpoints.set_private_networks(info.context.scope, allow_private_networks)
        return WebhookSettings.of(found)
