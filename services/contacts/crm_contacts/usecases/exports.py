"""Exports of companies, contacts and interactions (`crm_contacts.export_pages`): one page
of a list as the caller sees it, each record as a row its import reads back
(`crm_tabular.targets`), and the names other owners' rows refer to.

Companies and contacts come from the list use cases the GraphQL `companies` and
`contacts` queries use, so record sharing leaves out what the caller may not see;
addresses and phone numbers are empty for a role that may not read them. Interactions
come from the timeline read (a contact's, a company's, or the workspace's); a caller who
does not see every contact keeps the entries of the contacts or company it sees, as the
timelines it can open show them. References are written the way the imports resolve
them: a company by name and domain, a person by email, a deal by its external id.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from crm_contracts.export_pages import ExportNames
from crm_kit.exports import RowsPage, columns_of, custom_cells, external_id_of, iso
from crm_kit.pagination import Page

from ..domain.company import Company
from ..domain.contact import Contact
from ..domain.interaction import Interaction
from ..domain.queries import CompanyQuery, ContactQuery, InteractionQuery
from . import lookups
from .scope import Scope
from .visibility import EMAIL, PHONE, reads

COMPANY_COLUMNS = columns_of(
    (
        "external_id", "name", "domain", "website", "industry", "size", "owner_id", "tags",
        "address.street", "address.city", "address.region", "address.postal_code",
        "address.country", "created_at",
    )
)  # fmt: skip
CONTACT_COLUMNS = columns_of(
    (
        "external_id", "first_name", "last_name", "email", "emails", "phones", "title",
        "company", "company_domain", "owner_id", "lifecycle_stage", "tags", "source",
        "created_at",
    )
)  # fmt: skip
INTERACTION_COLUMNS = columns_of(
    (
        "external_id", "kind", "occurred_at", "subject", "summary", "direction",
        "duration_seconds", "contact_email", "participants", "company", "deal_external_id",
    )
)  # fmt: skip
# How the deals service keys a deal made through the API (its `externalId`): the key a
# deals export writes, so an interaction's deal is written the same way.
DEAL_KEY = "crm:{}"


def _next(page: Page[Any], cursor: Any) -> str | None:
    return cursor(page.items[-1]) if page.has_next and page.items else None


async def company_rows(scope: Scope, query: CompanyQuery, cursor: Any) -> RowsPage:
    page = await lookups.list_companies(scope, query)
    rows = [_company_row(company) for company in page.items]
    return RowsPage(rows, _next(page, cursor), page.total)


def _company_row(company: Company) -> dict[str, Any]:
    address = company.address
    return {
        "external_id": external_id_of(company.external_id, company.id),
        "name": company.name,
        "domain": company.domain,
        "website": company.website,
        "industry": company.industry,
        "size": company.size,
        "owner_id": company.owner_id,
        "tags": list(company.tags),
        "address.street": address.street,
        "address.city": address.city,
        "address.region": address.region,
        "address.postal_code": address.postal_code,
        "address.country": address.country,
        "created_at": iso(company.created_at),
        "id": company.id,
        **custom_cells(company.custom_fields),
    }


async def contact_rows(scope: Scope, query: ContactQuery, cursor: Any) -> RowsPage:
    page = await lookups.list_contacts(scope, query)
    emails, phones = await reads(scope, EMAIL), await reads(scope, PHONE)
    companies = await lookups.companies_by_ids(
        scope, sorted({c.company_id for c in page.items if c.company_id})
    )
    rows = [_contact_row(c, companies, emails=emails, phones=phones) for c in page.items]
    return RowsPage(rows, _next(page, cursor), page.total)


def _contact_row(
    contact: Contact, companies: dict[str, Company], *, emails: bool, phones: bool
) -> dict[str, Any]:
    company = companies.get(contact.company_id or "")
    return {
        "external_id": external_id_of(contact.external_id, contact.id),
        "first_name": contact.first_name,
        "last_name": contact.last_name,
        "email": contact.email if emails else None,
        "emails": contact.emails[1:] if emails else None,
        "phones": list(contact.phones) if phones else None,
        "title": contact.title,
        "company": company.name if company else None,
        "company_domain": company.domain if company else None,
        "owner_id": contact.owner_id,
        "lifecycle_stage": str(contact.lifecycle_stage),
        "tags": list(contact.tags),
        "source": contact.source,
        "created_at": iso(contact.created_at),
        "id": contact.id,
        **custom_cells(contact.custom_fields),
    }


async def interaction_rows(scope: Scope, query: InteractionQuery, cursor: Any) -> RowsPage:
    page = await lookups.timeline(scope, query)
    contacts = await lookups.contacts_by_ids(
        scope, sorted({i for entry in page.items for i in entry.contact_ids})
    )
    companies = await lookups.companies_by_ids(
        scope, sorted({e.company_id for e in page.items if e.company_id})
    )
    everything = (await scope.access()).of("contact").everything
    emails = await reads(scope, EMAIL)
    rows = [
        _interaction_row(entry, contacts, companies, emails=emails)
        for entry in page.items
        if everything or _sees(entry, contacts, companies)
    ]
    # Left out entries make the total an upper bound: only given when nothing is left out.
    return RowsPage(rows, _next(page, cursor), page.total if everything else None)


def _sees(entry: Interaction, contacts: dict[str, Contact], companies: dict[str, Company]) -> bool:
    return any(i in contacts for i in entry.contact_ids) or entry.company_id in companies


def _interaction_row(
    entry: Interaction,
    contacts: dict[str, Contact],
    companies: dict[str, Company],
    *,
    emails: bool,
) -> dict[str, Any]:
    first = next((contacts[i] for i in entry.contact_ids if i in contacts), None)
    company = companies.get(entry.company_id or "")
    return {
        "external_id": external_id_of(entry.external_id, entry.id),
        "kind": str(entry.kind),
        "occurred_at": iso(entry.occurred_at),
        "subject": entry.subject,
        "summary": entry.summary,
        "direction": str(entry.direction) if entry.direction else None,
        "duration_seconds": entry.duration_seconds,
        "contact_email": first.email if first is not None and emails else None,
        "participants": list(entry.participants) if emails else None,
        "company": company.name if company else None,
        "deal_external_id": DEAL_KEY.format(entry.deal_id) if entry.deal_id else None,
        "id": entry.id,
    }


async def names(
    scope: Scope, company_ids: Sequence[str], contact_ids: Sequence[str]
) -> ExportNames:
    """The names of the companies and the addresses of the contacts the caller sees."""
    companies = await lookups.companies_by_ids(scope, company_ids)
    contacts = await lookups.contacts_by_ids(scope, contact_ids)
    emails = await reads(scope, EMAIL)
    return ExportNames(
        companies={i: c.name for i, c in companies.items() if not c.deleted},
        emails={i: c.email for i, c in contacts.items() if emails and c.email and not c.deleted},
    )
