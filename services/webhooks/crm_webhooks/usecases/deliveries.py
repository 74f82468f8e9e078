"""Admins read an endpoint's deliveries and send one again (same `webhook-id`)."""

from __future__ import annotations

from crm_kit.errors import NotFound, PreconditionFailed
from crm_kit.pagination import Page, page_size

from ..domain.delivery import Delivery
from .endpoints import get as get_endpoint
from .intake import enqueue
from .scope import Scope


async def of_endpoint(
    scope: Scope, endpoint_id: str, first: int | None, after: str | None
) -> Page[Delivery]:
    await get_endpoint(scope, endpoint_id, "webhookId")
    return await scope.store.deliveries(endpoint_id, page_size(first), after)


async def redeliver(scope: Scope, delivery_id: str) -> Delivery:
    scope.require_admin()
    found = await scope.store.delivery(delivery_id)
    if found is None:
        raise NotFound(f"no delivery {delivery_id}", field="deliveryId")
    endpoint = await scope.store.endpoint(found.endpoint_id)
    if endpoint is None or not endpoint.enabled:
        raise PreconditionFailed("its endpoint is disabled or deleted", field="deliveryId")

    async def requeue(delivery: Delivery) -> bool:
        delivery.requeue()
        return True

    await scope.store.change_delivery(delivery_id, requeue)
    await scope.store.change_lane(found.lane_id, enqueue(delivery_id))
    again = await scope.store.delivery(delivery_id)
    assert again is not None
    return again
