"""Every event the contacts domain raises. Each entity module defines the events of its
changes (they name the entity as it is when written: events are encoded in the same write,
`crm_kit.entity`); the outbound adapter (`crm_contacts.events.publish`) turns them into the
public contract's CloudEvents. Changed fields are named as clients see them (camelCase)."""

from __future__ import annotations

from .company import CompanyCreated, CompanyDeleted, CompanyRestored, CompanyUpdated
from .contact import ContactCreated, ContactDeleted, ContactMerged, ContactRestored, ContactUpdated
from .interaction import InteractionLogged, InteractionRemoved, InteractionUpdated

DomainEvent = (
    ContactCreated
    | ContactUpdated
    | ContactDeleted
    | ContactRestored
    | ContactMerged
    | CompanyCreated
    | CompanyUpdated
    | CompanyDeleted
    | CompanyRestored
    | InteractionLogged
    | InteractionUpdated
    | InteractionRemoved
)

__all__ = [
    "CompanyCreated",
    "CompanyDeleted",
    "CompanyRestored",
    "CompanyUpdated",
    "ContactCreated",
    "ContactDeleted",
    "ContactMerged",
    "ContactRestored",
    "ContactUpdated",
    "DomainEvent",
    "InteractionLogged",
    "InteractionRemoved",
    "InteractionUpdated",
]
