"""Events of other services this service reacts to, registered by payload model
(`crm_kit.inbound`).

`capture-contacts`: a contact created (by anyone: a rep typing it, an import, an accepted
suggestion) resolves the pending suggestions for its addresses, so what was captured with
them joins its timeline. Idempotent on its own terms (a resolved suggestion is not
pending any more), so the processed-event record is not needed.
"""

from __future__ import annotations

from crm_contracts import contacts
from crm_kit.inbound import Delivery, Subscription

from ..config import DURABLE_CONTACTS
from ..usecases import suggestions
from ..usecases.routing import service_context
from ..usecases.scope import Scopes


def subscriptions(scopes: Scopes) -> list[Subscription]:
    async def contact_created(delivery: Delivery[contacts.ContactCreated]) -> None:
        contact = delivery.payload.contact
        scope = scopes(service_context(delivery.workspace))
        await suggestions.contact_created(scope, contact.id, contact.company_id, contact.emails)

    created = Subscription(DURABLE_CONTACTS, record_processed=False)
    created.on(contacts.ContactCreated, contact_created)
    return [created]
