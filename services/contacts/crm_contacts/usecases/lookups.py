"""Reading records: one by id (NOT_FOUND naming the field), batches for the GraphQL
loaders, lists, and the look-ups other services ask for."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from crm_kit.errors import CRMError, NotFound
from crm_kit.ids import is_id
from crm_kit.pagination import Page

from ..domain import rules
from ..domain.company import Company
from ..domain.contact import Contact
from ..domain.interaction import Interaction
from ..domain.queries import CompanyQuery, ContactQuery, InteractionQuery
from .scope import Scope
from .visibility import narrowed, narrowed_contacts, visible

T = TypeVar("T")


async def _one(
    get: Callable[[Sequence[str]], Awaitable[Sequence[T]]], record_id: str, field: str, kind: str
) -> T:
    rules.require_id(record_id, field)
    found = await get([record_id])
    if not found:
        raise NotFound(f"no {kind} {record_id}", field=field)
    return found[0]


def _live(record: T, record_id: str, field: str, kind: str) -> T:
    if getattr(record, "deleted", False):
        raise NotFound(f"{kind} {record_id} is deleted", field=field, deleted=True)
    return record


async def _visible_contacts(scope: Scope, ids: Sequence[str]) -> list[Contact]:
    return await visible(scope, await scope.store.get_contacts(ids))


async def _visible_companies(scope: Scope, ids: Sequence[str]) -> list[Company]:
    return await visible(scope, await scope.store.get_companies(ids))


async def contact(scope: Scope, contact_id: str, field: str = "id") -> Contact:
    """NOT_FOUND for a contact the caller may not see (record sharing), as for none."""

    async def get(ids: Sequence[str]) -> list[Contact]:
        return await _visible_contacts(scope, ids)

    return await _one(get, contact_id, field, "contact")


async def live_contact(scope: Scope, contact_id: str, field: str = "id") -> Contact:
    return _live(await contact(scope, contact_id, field), contact_id, field, "contact")


async def company(scope: Scope, company_id: str, field: str = "id") -> Company:
    async def get(ids: Sequence[str]) -> list[Company]:
        return await _visible_companies(scope, ids)

    return await _one(get, company_id, field, "company")


async def live_company(scope: Scope, company_id: str, field: str = "id") -> Company:
    return _live(await company(scope, company_id, field), company_id, field, "company")


def _valid_ids(ids: Sequence[str]) -> list[str]:
    return [i for i in dict.fromkeys(ids) if isinstance(i, str) and is_id(i)]


async def contacts_by_ids(scope: Scope, ids: Sequence[str]) -> dict[str, Contact]:
    """A batch (deleted ones too); ids that are not valid ids find nothing."""
    valid = _valid_ids(ids)
    return {c.id: c for c in await _visible_contacts(scope, valid)} if valid else {}


async def companies_by_ids(scope: Scope, ids: Sequence[str]) -> dict[str, Company]:
    valid = _valid_ids(ids)
    return {c.id: c for c in await _visible_companies(scope, valid)} if valid else {}


async def seen_id(scope: Scope, kind: str, record_id: str | None) -> str | None:
    """`record_id` if it names a `kind` ("contact" or "company") the caller sees, else
    None: a CONFLICT names the record it clashed with only when the caller could read it
    (otherwise the answer would lead to a record sharing hides)."""
    if not record_id:
        return None
    batch = contacts_by_ids if kind == "contact" else companies_by_ids
    return record_id if record_id in await batch(scope, [record_id]) else None


async def interactions_by_ids(scope: Scope, ids: Sequence[str]) -> dict[str, Interaction]:
    valid = _valid_ids(ids)
    return {i.id: i for i in await scope.store.get_interactions(valid)} if valid else {}


async def list_contacts(scope: Scope, query: ContactQuery) -> Page[Contact]:
    scope.require_deleted_read(query.include_deleted)
    return await scope.store.list_contacts(await narrowed_contacts(scope, query))


async def list_companies(scope: Scope, query: CompanyQuery) -> Page[Company]:
    scope.require_deleted_read(query.include_deleted)
    return await scope.store.list_companies(await narrowed(scope, query))


async def timeline(scope: Scope, query: InteractionQuery) -> Page[Interaction]:
    return await scope.store.list_interactions(query)


async def find_contact_by_email(scope: Scope, email: str, field: str = "email") -> Contact | None:
    """The live contact with this address (primary or further), if any."""
    key = rules.normalise_email(email, field)
    found = await scope.store.find_contact_by_email_key(key)
    if found is None or found.deleted:
        holders = await scope.store.find_contacts_with_emails([key])
        live = [c for c in holders if not c.deleted]
        found = live[0] if live else None
    return found if found is not None and await visible(scope, [found]) else None


async def find_companies_by_names(scope: Scope, names: Sequence[str]) -> dict[str, str]:
    """Exact, case-insensitive names to the ids of live companies (oldest wins a tie)."""
    keys = {name: rules.name_key(name) for name in names if name and name.strip()}
    if not keys:
        return {}
    companies = await scope.store.find_companies_by_name_keys(sorted(set(keys.values())))
    companies = await visible(scope, companies)
    by_key: dict[str, str] = {}
    for found in companies:  # oldest first
        if not found.deleted:
            by_key.setdefault(found.name_key, found.id)
    return {name: by_key[key] for name, key in keys.items() if key in by_key}


async def find_contacts_by_emails(
    scope: Scope, emails: Sequence[str], field: str = "emails"
) -> dict[str, Contact]:
    """The live contact holding each address (primary or further) that one holds, keyed
    by the address as asked. Raises BadUserInput naming the first malformed address."""
    keys = {email: rules.normalise_email(email, f"{field}[{n}]") for n, email in enumerate(emails)}
    if not keys:
        return {}
    holders = await scope.store.find_contacts_with_emails(sorted(set(keys.values())))
    holders = await visible(scope, holders)
    by_key: dict[str, Contact] = {}
    for holder in sorted(holders, key=lambda c: (c.deleted, c.created_at)):
        for email in holder.emails:
            if not holder.deleted:
                by_key.setdefault(email, holder)
    return {asked: by_key[key] for asked, key in keys.items() if key in by_key}


async def find_companies_by_domains(
    scope: Scope, domains: Sequence[str], field: str = "domains"
) -> dict[str, Company]:
    """The live company with each domain (`www.` and scheme ignored), keyed by the domain
    as asked."""
    keys: dict[str, str] = {}
    for n, raw in enumerate(domains):
        domain = rules.normalise_domain(raw, f"{field}[{n}]")
        if domain:
            keys[raw] = domain
    if not keys:
        return {}
    found = await visible(
        scope, await scope.store.find_companies_by_domains(sorted(set(keys.values())))
    )
    by_domain = {c.domain: c for c in found if c.domain and not c.deleted}
    return {asked: by_domain[key] for asked, key in keys.items() if key in by_domain}


async def missing_references(
    scope: Scope, contact_ids: Sequence[str], company_ids: Sequence[str]
) -> tuple[list[str], list[str]]:
    """Of ids a record is about to reference, those naming no live contact / company in
    the workspace (absent, another workspace's, deleted, merged away), in the order asked."""
    contacts = await contacts_by_ids(scope, contact_ids)
    companies = await companies_by_ids(scope, company_ids)
    return (
        [i for i in contact_ids if i not in contacts or contacts[i].deleted],
        [i for i in company_ids if i not in companies or companies[i].deleted],
    )


@dataclass(frozen=True)
class ImportReferences:
    company_names: dict[str, str]
    company_domains: dict[str, str]
    emails: dict[str, str]


async def import_references(
    scope: Scope, names: Sequence[str], domains: Sequence[str], emails: Sequence[str]
) -> ImportReferences:
    """What an import batch of another owner names, each as asked -> the live record's id:
    three reads for a whole batch. Malformed addresses and domains are left out (the row
    that holds one says so), not refused."""
    domain_keys: dict[str, str] = {}
    for raw in domains:
        try:
            domain = rules.normalise_domain(raw, "companyDomains")
        except CRMError:
            continue
        if domain:
            domain_keys[raw] = domain
    email_keys: dict[str, str] = {}
    for raw in emails:
        try:
            email_keys[raw] = rules.normalise_email(raw, "emails")
        except CRMError:
            continue
    # By the domain and address claims (look-ups by key at any size), not the held import
    # keys: those load every key of the workspace on first use, longer than a batch's
    # answer may take at 200,000 contacts.
    store = scope.store
    companies = await store.find_companies_by_domains(sorted(set(domain_keys.values())))
    by_domain = {c.domain: c.id for c in companies if c.domain and not c.deleted}
    contacts = await store.find_contacts_with_emails(sorted(set(email_keys.values())))
    by_email: dict[str, str] = {}
    for contact in sorted(contacts, key=lambda c: c.created_at):
        if contact.deleted:
            continue
        for email in contact.emails:
            by_email.setdefault(email, contact.id)
    return ImportReferences(
        company_names=await find_companies_by_names(scope, names),
        company_domains={a: by_domain[k] for a, k in domain_keys.items() if k in by_domain},
        emails={a: by_email[k] for a, k in email_keys.items() if k in by_email},
    )
