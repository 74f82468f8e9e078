"""CloudEvents built from the `crm_contracts.contacts` payload models. `encode` turns a
domain event into one; the store writes it into the outbox with the change that raised
it (the kit's writer calls `encode`) and the relay publishes it."""

from __future__ import annotations

from typing import Any

from crm_contracts import contacts as contract
from crm_contracts.base import Payload, wire_time
from crm_contracts.envelope import CloudEvent, new_event, wire_event

from ..config import SOURCE
from ..domain import events
from ..domain.company import Company
from ..domain.contact import Contact
from ..domain.interaction import Interaction


def contact_snapshot(contact: Contact) -> contract.ContactSnapshot:
    return contract.ContactSnapshot(
        id=contact.id,
        first_name=contact.first_name,
        last_name=contact.last_name,
        email=contact.email,
        emails=list(contact.emails),
        phones=list(contact.phones),
        title=contact.title,
        company_id=contact.company_id,
        owner_id=contact.owner_id,
        lifecycle_stage=contact.lifecycle_stage.value,
        tags=list(contact.tags),
        source=contact.source,
        deleted=contact.deleted,
        merged_into=contact.merged_into,
        updated_at=contact.updated_at,
    )


def company_snapshot(company: Company) -> contract.CompanySnapshot:
    return contract.CompanySnapshot(
        id=company.id,
        name=company.name,
        domain=company.domain,
        industry=company.industry,
        owner_id=company.owner_id,
        tags=list(company.tags),
        size=company.size,
        website=company.website,
        country=company.address.country,
        deleted=company.deleted,
        updated_at=company.updated_at,
    )


def company_snapshot_wire(company: Company) -> dict[str, Any]:
    """`company_snapshot(company).wire()`, made directly (the same dict, tested): a
    `company.created` per imported company, where validating the model and dumping it
    again cost more than the rest of the event."""
    return {
        "id": company.id,
        "name": company.name,
        "domain": company.domain,
        "industry": company.industry,
        "ownerId": company.owner_id,
        "tags": list(company.tags),
        "size": company.size,
        "website": company.website,
        "country": company.address.country,
        "deleted": company.deleted,
        "updatedAt": None if company.updated_at is None else wire_time(company.updated_at),
    }


def _event(event_type: str, workspace: str, entity_id: str, payload: Payload) -> CloudEvent:
    return new_event(
        event_type=event_type,
        source=SOURCE,
        workspace=workspace,
        subject=entity_id,
        data=payload.wire(),
    )


def contact_created(contact: Contact) -> CloudEvent:
    payload = contract.ContactCreated(contact=contact_snapshot(contact))
    return _event(contract.CONTACT_CREATED, contact.workspace_id, contact.id, payload)


def contact_updated(contact: Contact, changed: list[str]) -> CloudEvent:
    payload = contract.ContactUpdated(contact=contact_snapshot(contact), changed_fields=changed)
    return _event(contract.CONTACT_UPDATED, contact.workspace_id, contact.id, payload)


def contact_deleted(contact: Contact) -> CloudEvent:
    payload = contract.ContactDeleted(
        id=contact.id, company_id=contact.company_id, email=contact.email
    )
    return _event(contract.CONTACT_DELETED, contact.workspace_id, contact.id, payload)


def contact_restored(contact: Contact) -> CloudEvent:
    payload = contract.ContactRestored(contact=contact_snapshot(contact))
    return _event(contract.CONTACT_RESTORED, contact.workspace_id, contact.id, payload)


def contact_merged(survivor: Contact, duplicate: Contact, moved: int) -> CloudEvent:
    payload = contract.ContactMerged(
        survivor_id=survivor.id,
        merged_id=duplicate.id,
        moved_interactions=moved,
        survivor=contact_snapshot(survivor),
        merged_emails=list(duplicate.emails),
    )
    return _event(contract.CONTACT_MERGED, duplicate.workspace_id, duplicate.id, payload)


def company_created(company: Company) -> CloudEvent:
    # `contract.CompanyCreated(company=company_snapshot(company)).wire()`, as its wire form.
    return wire_event(
        event_type=contract.COMPANY_CREATED,
        source=SOURCE,
        workspace=company.workspace_id,
        subject=company.id,
        data={"company": company_snapshot_wire(company)},
    )


def company_updated(company: Company, changed: list[str]) -> CloudEvent:
    payload = contract.CompanyUpdated(company=company_snapshot(company), changed_fields=changed)
    return _event(contract.COMPANY_UPDATED, company.workspace_id, company.id, payload)


def company_deleted(company: Company) -> CloudEvent:
    payload = contract.CompanyDeleted(id=company.id)
    return _event(contract.COMPANY_DELETED, company.workspace_id, company.id, payload)


def company_restored(company: Company) -> CloudEvent:
    payload = contract.CompanyRestored(company=company_snapshot(company))
    return _event(contract.COMPANY_RESTORED, company.workspace_id, company.id, payload)


def _interaction_fields(interaction: Interaction) -> dict[str, Any]:
    return dict(
        id=interaction.id,
        kind=interaction.kind.value,
        occurred_at=interaction.occurred_at,
        direction=interaction.direction.value if interaction.direction else None,
        subject=interaction.subject,
        summary=interaction.summary,
        duration_seconds=interaction.duration_seconds,
        contact_ids=list(interaction.contact_ids),
        company_id=interaction.company_id,
        deal_id=interaction.deal_id,
        logged_by=interaction.logged_by,
        source=interaction.source,
        participants=list(interaction.participants),
    )


def interaction_logged(interaction: Interaction) -> CloudEvent:
    payload = contract.InteractionLogged(**_interaction_fields(interaction))
    return _event(contract.INTERACTION_LOGGED, interaction.workspace_id, interaction.id, payload)


def interaction_updated(interaction: Interaction) -> CloudEvent:
    payload = contract.InteractionUpdated(**_interaction_fields(interaction))
    return _event(contract.INTERACTION_UPDATED, interaction.workspace_id, interaction.id, payload)


def interaction_removed(interaction: Interaction) -> CloudEvent:
    payload = contract.InteractionRemoved(
        id=interaction.id,
        kind=interaction.kind.value,
        contact_ids=list(interaction.contact_ids),
        company_id=interaction.company_id,
        deal_id=interaction.deal_id,
        source=interaction.source,
    )
    return _event(contract.INTERACTION_REMOVED, interaction.workspace_id, interaction.id, payload)


def encode(event: object) -> CloudEvent:
    """The writer's `encode`: a domain event of this service as its CloudEvent."""
    match event:
        case events.ContactCreated(contact):
            return contact_created(contact)
        case events.ContactUpdated(contact, changed):
            return contact_updated(contact, changed)
        case events.ContactDeleted(contact):
            return contact_deleted(contact)
        case events.ContactRestored(contact):
            return contact_restored(contact)
        case events.ContactMerged(survivor, duplicate, moved):
            return contact_merged(survivor, duplicate, moved)
        case events.CompanyCreated(company):
            return company_created(company)
        case events.CompanyUpdated(company, changed):
            return company_updated(company, changed)
        case events.CompanyDeleted(company):
            return company_deleted(company)
        case events.CompanyRestored(company):
            return company_restored(company)
        case events.InteractionLogged(interaction):
            return interaction_logged(interaction)
        case events.InteractionUpdated(interaction):
            return interaction_updated(interaction)
        case events.InteractionRemoved(interaction):
            return interaction_removed(interaction)
    raise TypeError(f"not a contacts domain event: {type(event).__name__}")
