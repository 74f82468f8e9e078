"""Events of other services this service reacts to, registered by payload model
(`crm_kit.inbound`): contract model -> handler, one `Subscription` per durable consumer.

None yet: contacts is upstream of deals and tasks. A consumer, when one is needed, is
registered here and started by `app.py`:

    def subscriptions(scopes: Scopes) -> list[Subscription]:
        async def deal_won(delivery: Delivery[deals.DealClosed]) -> None:
            scope = scopes(service_caller(delivery.workspace))
            await lifecycle.mark_customers(scope, delivery.payload.deal.contact_ids)

        won = Subscription("contacts-deal-won")
        won.on(deals.DealClosed, deal_won, subjects=[deals.DEAL_WON])
        return [won]
"""

from __future__ import annotations

from crm_kit.inbound import Subscription

from ..usecases.scope import Scopes


def subscriptions(scopes: Scopes) -> list[Subscription]:
    del scopes  # no inbound events yet
    return []
