"""CloudEvents built from the `crm_contracts.contacts` payload models. They are written
into the outbox with the state change that causes them; the relay publishes them."""

from __future__ import annotations

from datetime import datetime

from crm_contracts import contacts as contract
from crm_contracts.envelope import CloudEvent, new_event

from ..config import SOURCE
from ..domain.model import Company, Contact, Interaction


def iso(moment: datetime | None) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment else None


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
        updated_at=iso(contact.updated_at),
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
        updated_at=iso(company.updated_at),
    )


def _event(event_type: str, workspace: str, entity_id: str, payload: object) -> CloudEvent:
    return new_event(
        event_type=event_type,
        source=SOURCE,
        workspace=workspace,
        subject=entity_id,
        data=payload.wire(),  # type: ignore[attr-defined]
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
    payload = contract.CompanyCreated(company=company_snapshot(company))
    return _event(contract.COMPANY_CREATED, company.workspace_id, company.id, payload)


def company_updated(company: Company, changed: list[str]) -> CloudEvent:
    payload = contract.CompanyUpdated(company=company_snapshot(company), changed_fields=changed)
    return _event(contract.COMPANY_UPDATED, company.workspace_id, company.id, payload)


def company_deleted(company: Company) -> CloudEvent:
    payload = contract.CompanyDeleted(id=company.id)
    return _event(contract.COMPANY_DELETED, company.workspace_id, company.id, payload)


def company_restored(company: Company) -> CloudEvent:
    payload = contract.CompanyRestored(company=company_snapshot(company))
    return _event(contract.COMPANY_RESTORED, company.workspace_id, company.id, payload)


def interaction_logged(interaction: Interaction) -> CloudEvent:
    payload = contract.InteractionLogged(
        id=interaction.id,
        kind=interaction.kind.value,
        occurred_at=iso(interaction.occurred_at) or "",
        direction=interaction.direction.value if interaction.direction else None,
        subject=interaction.subject,
        summary=interaction.summary,
        duration_seconds=interaction.duration_seconds,
        contact_ids=list(interaction.contact_ids),
        company_id=interaction.company_id,
        deal_id=interaction.deal_id,
        logged_by=interaction.logged_by,
    )
    return _event(contract.INTERACTION_LOGGED, interaction.workspace_id, interaction.id, payload)
