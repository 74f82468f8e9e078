"""Imports of companies, contacts and interactions: the owner's side of an import batch
(`crm_contracts.import_batches`, run by `crm_kit.imports.write_batch`).

A batch's rows are mapped values by crm_tabular's target field names. Each record type is
a sink: it builds the record with the same validation as the GraphQL create (errors name
the mapped field), says its identity keys (external id, domain for a company, email for a
contact) and writes new records together, in one statement per batch.

References are resolved once per batch: a contact's company by domain, else by name; when
none exists the company is created with the contact (as HubSpot does) and the row says so
in a `company_created` warning. A created company's id derives from the job and its
domain or name, so rows of later batches, and a batch sent again, find the same one.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from crm_contracts.import_batches import ImportRow
from crm_kit.clock import to_millis
from crm_kit.errors import BadUserInput, CRMError
from crm_kit.imports import (
    Built,
    Key,
    custom_fields,
    ignored,
    import_record_id,
    integer,
    moment,
    text,
    texts,
    warning,
)
from crm_kit.unset import UNSET

from ..domain import rules
from ..domain.company import Company
from ..domain.contact import Contact, LifecycleStage
from ..domain.interaction import Direction, Interaction, InteractionKind
from .companies import company_values
from .contacts import contact_values
from .inputs import AddressInput, CompanyInput, ContactInput
from .interactions import touch_contacts
from .scope import Scope

PREFIX = "row"
ADDRESS_FIELDS = ("street", "city", "region", "postal_code", "country")
COMPANY_FIELDS = {
    "name", "domain", "website", "industry", "size", "owner_id", "tags", "external_id",
    "created_at", *(f"address.{key}" for key in ADDRESS_FIELDS),
}  # fmt: skip
CONTACT_FIELDS = {
    "first_name", "last_name", "email", "emails", "phones", "title", "company",
    "company_domain", "owner_id", "lifecycle_stage", "tags", "source", "external_id",
    "created_at",
}  # fmt: skip
INTERACTION_FIELDS = {
    "kind", "occurred_at", "subject", "summary", "direction", "duration_seconds",
    "contact_email", "participants", "company", "company_domain", "deal_external_id",
    "external_id",
}  # fmt: skip


def _text(values: dict[str, Any], name: str) -> str | None:
    return text(values, name, PREFIX)


def _texts(values: dict[str, Any], name: str) -> list[str] | None:
    return texts(values, name, PREFIX)


def _moment(values: dict[str, Any], name: str) -> datetime | None:
    return moment(values, name, PREFIX)


def _integer(values: dict[str, Any], name: str) -> int | None:
    return integer(values, name, PREFIX)


def _given(values: dict[str, Any], name: str, value: Any) -> Any:
    """The field's value when the row maps it, else UNSET (an update keeps what is stored)."""
    return value if name in values else UNSET


# -- companies ---------------------------------------------------------------------------


def _company_input(values: dict[str, Any]) -> CompanyInput:
    address = {key: _text(values, f"address.{key}") for key in ADDRESS_FIELDS}
    has_address = any(f"address.{key}" in values for key in ADDRESS_FIELDS)
    custom = custom_fields(values)
    return CompanyInput(
        name=_given(values, "name", _text(values, "name")),
        domain=_given(values, "domain", _text(values, "domain")),
        industry=_given(values, "industry", _text(values, "industry")),
        size=_given(values, "size", _integer(values, "size")),
        address=AddressInput(**address) if has_address else UNSET,
        website=_given(values, "website", _text(values, "website")),
        owner_id=_given(values, "owner_id", _text(values, "owner_id")),
        tags=_given(values, "tags", _texts(values, "tags")),
        custom_fields=custom if custom else UNSET,
    )


def _new_company(
    scope: Scope, company_id: str, job_id: str, data: CompanyInput, created: datetime | None
) -> Company:
    named = data if data.name is not UNSET else CompanyInput(**{**data.__dict__, "name": None})
    company = Company.create(
        company_id,
        scope.workspace_id,
        company_values(named, PREFIX),
        at=created or scope.now(),
        by=scope.subject,
    )
    company.import_job = job_id
    return company


def _company_keys(company: Company, by_name: bool = False) -> list[Key]:
    keys: list[Key] = []
    if company.external_id:
        keys.append(("external_id", company.external_id))
    if company.domain:
        keys.append(("domain", company.domain))
    if by_name:
        keys.append(("name", company.name_key))
    return keys


class CompanySink:
    """`by_name`: a company's normalised name identifies it too (the CLI importer's rule,
    for files without domains: running one twice adds nothing); the contract's identity
    keys are the external id and the domain."""

    kind = "company"

    def __init__(self, scope: Scope, job_id: str, *, by_name: bool = False) -> None:
        self.scope = scope
        self.job_id = job_id
        self.by_name = by_name

    def id_of(self, record: Company) -> str:
        return record.id

    async def prepare(self, rows: Sequence[ImportRow]) -> None:
        return None

    async def build(self, row: ImportRow, record_id: str) -> Built[Company]:
        values = row.values
        data = _company_input(values)
        company = _new_company(
            self.scope, record_id, self.job_id, data, _moment(values, "created_at")
        )
        company.external_id = _text(values, "external_id")
        keys = _company_keys(company, self.by_name)
        return Built(company, keys, ignored(values, COMPANY_FIELDS, "companies", custom=True))

    async def existing(self, keys: Sequence[Key]) -> dict[Key, Company]:
        external = [v for k, v in keys if k == "external_id"]
        domains = [v for k, v in keys if k == "domain"]
        found = await self.scope.store.companies_with_keys(external, domains)
        names = [v for k, v in keys if k == "name"]
        if names:
            named = await self.scope.store.companies_with_name_keys(names)  # oldest first
            found += reversed(named)  # the oldest of a name is the one that stays below
        return {key: c for c in found for key in _company_keys(c, self.by_name)}

    async def update(
        self, existing: Company, built: Company, row: ImportRow, *, dry_run: bool
    ) -> bool:
        values = company_values(_company_input(row.values), PREFIX)
        if dry_run:
            return bool(
                copy.deepcopy(existing).change(values, at=self.scope.now(), by=self.scope.subject)
            )

        async def change(company: Company) -> bool:
            return bool(company.change(values, at=self.scope.now(), by=self.scope.subject))

        before = existing.version
        saved = await self.scope.store.change_company(existing.id, change)
        return saved is not None and saved.version != before

    async def insert(self, records: Sequence[Company], batch_id: str) -> list[Company]:
        return await self.scope.store.add_companies(records, batch_id)

    async def get(self, ids: Sequence[str]) -> list[Company]:
        return await self.scope.store.get_companies(ids)


# -- contacts ----------------------------------------------------------------------------


class CompanyResolver:
    """A batch's companies by domain, then by name: found once per batch; those not found
    are made (created with the first row that names them, unless a dry run)."""

    def __init__(self, scope: Scope, job_id: str) -> None:
        self.scope = scope
        self.job_id = job_id
        self.by_domain: dict[str, Company] = {}
        self.by_name: dict[str, Company] = {}
        self.made: dict[str, Company] = {}

    async def prepare(self, pairs: Sequence[tuple[str | None, str | None]]) -> None:
        domains = sorted({d for _, d in pairs if d})
        names = sorted({rules.name_key(n) for n, _ in pairs if n})
        store = self.scope.store
        for company in await store.companies_with_keys([], domains):
            if company.domain:
                self.by_domain[company.domain] = company
        for company in await store.find_companies_by_name_keys(names):
            if not company.deleted:
                self.by_name.setdefault(company.name_key, company)

    def find(self, name: str | None, domain: str | None) -> Company | None:
        """The stored company with this domain, else (when it has no other) this name."""
        if domain and domain in self.by_domain:
            return self.by_domain[domain]
        key = rules.name_key(name) if name else None
        if key and key in self.by_name and (not domain or not self.by_name[key].domain):
            return self.by_name[key]
        return None

    def resolve(self, name: str | None, domain: str | None) -> tuple[Company | None, bool]:
        """The company, and whether this import makes it (new: stored with the row)."""
        found = self.find(name, domain)
        if found is not None or (not name and not domain):
            return found, False
        made_key = f"domain:{domain}" if domain else f"name:{rules.name_key(name or '')}"
        if made_key in self.made:
            return self.made[made_key], False
        company_id = import_record_id(self.scope.workspace_id, self.job_id, made_key, 0)
        data = CompanyInput(name=name or domain, domain=domain)
        company = _new_company(self.scope, company_id, self.job_id, data, None)
        self.made[made_key] = company
        return company, True


def _contact_input(values: dict[str, Any]) -> ContactInput:
    stage = _text(values, "lifecycle_stage")
    try:
        lifecycle = LifecycleStage(stage.lower()) if stage else None
    except ValueError:
        choices = ", ".join(s.value for s in LifecycleStage)
        raise BadUserInput(
            f"{stage!r} is not one of {choices}", field=f"{PREFIX}.lifecycle_stage"
        ) from None
    custom = custom_fields(values)
    return ContactInput(
        first_name=_given(values, "first_name", _text(values, "first_name")),
        last_name=_given(values, "last_name", _text(values, "last_name")),
        email=_given(values, "email", _text(values, "email")),
        emails=_given(values, "emails", _texts(values, "emails")),
        phones=_given(values, "phones", _texts(values, "phones")),
        title=_given(values, "title", _text(values, "title")),
        owner_id=_given(values, "owner_id", _text(values, "owner_id")),
        lifecycle_stage=_given(values, "lifecycle_stage", lifecycle),
        tags=_given(values, "tags", _texts(values, "tags")),
        source=_given(values, "source", _text(values, "source")),
        custom_fields=custom if custom else UNSET,
    )


def _contact_keys(contact: Contact) -> list[Key]:
    keys: list[Key] = []
    if contact.external_id:
        keys.append(("external_id", contact.external_id))
    keys.extend(("email", email) for email in contact.emails)
    return keys


def _company_ref(values: dict[str, Any]) -> tuple[str | None, str | None]:
    domain = _text(values, "company_domain")
    return _text(values, "company"), rules.normalise_domain(domain, f"{PREFIX}.company_domain")


class ContactSink:
    kind = "contact"

    def __init__(self, scope: Scope, job_id: str, *, dry_run: bool) -> None:
        self.scope = scope
        self.job_id = job_id
        self.dry_run = dry_run
        self.companies = CompanyResolver(scope, job_id)
        # Companies this batch makes, by the contact (id) whose row names them first.
        self.new_companies: dict[str, Company] = {}

    def id_of(self, record: Contact) -> str:
        return record.id

    async def prepare(self, rows: Sequence[ImportRow]) -> None:
        pairs = []
        for row in rows:
            try:
                pairs.append(_company_ref(row.values))
            except CRMError:
                continue  # the row's own build reports it
        await self.companies.prepare(pairs)

    async def build(self, row: ImportRow, record_id: str) -> Built[Contact]:
        values = row.values
        data = _contact_input(values)
        template = Contact(
            id=record_id, workspace_id=self.scope.workspace_id, first_name="", last_name=""
        )
        named = (
            data
            if data.first_name is not UNSET
            else ContactInput(**{**data.__dict__, "first_name": None})
        )
        attributes = await contact_values(self.scope, named, PREFIX, template)
        created = _moment(values, "created_at")
        contact = Contact.create(
            record_id,
            self.scope.workspace_id,
            attributes,
            at=created or self.scope.now(),
            by=self.scope.subject,
        )
        contact.external_id = _text(values, "external_id")
        contact.import_job = self.job_id
        issues = ignored(values, CONTACT_FIELDS, "contacts", custom=True)
        company, made = self.companies.resolve(*_company_ref(values))
        if company is not None:
            contact.company_id, contact.company_name = company.id, company.name_key
            if made:
                self.new_companies[contact.id] = company
                issues.append(
                    warning(
                        "company_created",
                        f"no company {company.name!r} found: it is created with this contact",
                        "company_domain" if company.domain else "company",
                    )
                )
        return Built(contact, _contact_keys(contact), issues)

    async def existing(self, keys: Sequence[Key]) -> dict[Key, Contact]:
        external = [v for k, v in keys if k == "external_id"]
        emails = [v for k, v in keys if k == "email"]
        found = await self.scope.store.contacts_with_keys(external, emails)
        return {key: contact for contact in found for key in _contact_keys(contact)}

    async def update(
        self, existing: Contact, built: Contact, row: ImportRow, *, dry_run: bool
    ) -> bool:
        data = _contact_input(row.values)
        now, by = self.scope.now(), self.scope.subject

        async def values_for(contact: Contact) -> dict[str, Any]:
            attributes = await contact_values(self.scope, data, PREFIX, contact)
            if built.company_id and built.company_id != contact.company_id:
                attributes["company_id"], attributes["company_name"] = (
                    built.company_id,
                    built.company_name,
                )
            return attributes

        if dry_run:
            held = copy.deepcopy(existing)
            return bool(held.change(await values_for(held), at=now, by=by))

        async def change(contact: Contact) -> bool:
            return bool(contact.change(await values_for(contact), at=now, by=by))

        before = existing.version
        saved = await self.scope.store.change_contact(existing.id, change)
        return saved is not None and saved.version != before

    async def insert(self, records: Sequence[Contact], batch_id: str) -> list[Contact]:
        made = {
            company.id: company
            for contact in records
            if (company := self.new_companies.get(contact.id)) is not None
        }
        if made:
            # Before the contacts that point at them; one stored already (a batch sent
            # again) is refused, which leaves it as it is.
            await self.scope.store.add_companies(list(made.values()), f"{batch_id}:companies")
        return await self.scope.store.add_contacts(records, batch_id)

    async def get(self, ids: Sequence[str]) -> list[Contact]:
        return await self.scope.store.get_contacts(ids)


# -- interactions ------------------------------------------------------------------------


class InteractionSink:
    kind = "interaction"

    def __init__(self, scope: Scope, job_id: str) -> None:
        self.scope = scope
        self.job_id = job_id
        self.contacts: dict[str, Contact] = {}
        self.companies = CompanyResolver(scope, job_id)

    def id_of(self, record: Interaction) -> str:
        return record.id

    async def prepare(self, rows: Sequence[ImportRow]) -> None:
        emails: set[str] = set()
        pairs = []
        for row in rows:
            try:
                for name in ("contact_email",):
                    email = _text(row.values, name)
                    if email:
                        emails.add(rules.normalise_email(email, name))
                for email in _texts(row.values, "participants") or []:
                    emails.add(rules.normalise_email(email, "participants"))
                pairs.append(_company_ref(row.values))
            except CRMError:
                continue  # the row's own build reports it
        found = await self.scope.store.contacts_with_keys([], sorted(emails))
        for contact in found:
            for email in contact.emails:
                self.contacts.setdefault(email, contact)
        await self.companies.prepare(pairs)

    async def build(self, row: ImportRow, record_id: str) -> Built[Interaction]:
        values = row.values
        issues = ignored(values, INTERACTION_FIELDS, "interactions", custom=False)
        kind_text = _text(values, "kind")
        try:
            kind = InteractionKind((kind_text or "").lower())
        except ValueError:
            choices = ", ".join(k.value for k in InteractionKind)
            raise BadUserInput(
                f"{kind_text!r} is not one of {choices}", field=f"{PREFIX}.kind"
            ) from None
        direction_text = _text(values, "direction")
        try:
            direction = Direction(direction_text.lower()) if direction_text else None
        except ValueError:
            raise BadUserInput(
                f"{direction_text!r} is not inbound or outbound", field=f"{PREFIX}.direction"
            ) from None
        contact_ids: list[str] = []
        email = _text(values, "contact_email")
        if email:
            address = rules.normalise_email(email, f"{PREFIX}.contact_email")
            if address in self.contacts:
                contact_ids.append(self.contacts[address].id)
            else:
                issues.append(
                    warning("unknown_contact", f"no contact has {address}", "contact_email")
                )
        participants = []
        for other in _texts(values, "participants") or []:
            address = rules.normalise_email(other, f"{PREFIX}.participants")
            participants.append(address)
            holder = self.contacts.get(address)
            if holder is not None and holder.id not in contact_ids:
                contact_ids.append(holder.id)
        name, domain = _company_ref(values)
        company_id = None
        if name or domain:
            company = self.companies.find(name, domain)
            if company is None:
                issues.append(
                    warning("unknown_company", f"no company {name or domain!r}", "company")
                )
            else:
                company_id = company.id
        if company_id is None and contact_ids:
            company_id = next(
                (
                    c.company_id
                    for c in self.contacts.values()
                    if c.id in contact_ids and c.company_id
                ),
                None,
            )
        if not contact_ids and not company_id:
            raise BadUserInput(
                "no contact or company of the workspace matches this row",
                field=f"{PREFIX}.contact_email",
            )
        duration = _integer(values, "duration_seconds")
        if duration is not None and duration < 0:
            raise BadUserInput("must not be negative", field=f"{PREFIX}.duration_seconds")
        deal = _text(values, "deal_external_id")
        if deal:
            issues.append(
                warning(
                    "deal_not_linked",
                    "deals are linked from the deal's side: not linked",
                    "deal_external_id",
                )
            )
        now = self.scope.now()
        interaction = Interaction(
            id=record_id,
            workspace_id=self.scope.workspace_id,
            kind=kind,
            occurred_at=_moment(values, "occurred_at") or to_millis(now),
            direction=direction,
            subject=rules.clean_text(_text(values, "subject"), f"{PREFIX}.subject", limit=500),
            summary=rules.clean_text(_text(values, "summary"), f"{PREFIX}.summary", limit=10_000),
            participants=participants,
            duration_seconds=duration,
            contact_ids=contact_ids,
            company_id=company_id,
            logged_by=self.scope.subject,
            created_at=now,
            source="import",
            external_id=_text(values, "external_id"),
            import_job=self.job_id,
        ).logged()
        keys = [("external_id", interaction.external_id)] if interaction.external_id else []
        return Built(interaction, keys, issues)

    async def existing(self, keys: Sequence[Key]) -> dict[Key, Interaction]:
        found = await self.scope.store.interactions_with_external_ids([v for _, v in keys])
        return {("external_id", i.external_id): i for i in found if i.external_id}

    async def update(
        self, existing: Interaction, built: Interaction, row: ImportRow, *, dry_run: bool
    ) -> bool:
        return False  # a timeline entry is a record of what happened: not rewritten

    async def insert(self, records: Sequence[Interaction], batch_id: str) -> list[Interaction]:
        refused = await self.scope.store.add_interactions(records, batch_id)
        # Each contact's last activity moves once per batch, to its latest entry.
        taken = {interaction.id for interaction in refused}
        latest: dict[str, datetime] = {}
        for interaction in records:
            if interaction.id in taken:
                continue
            for contact_id in interaction.contact_ids:
                held = latest.get(contact_id)
                if held is None or interaction.occurred_at > held:
                    latest[contact_id] = interaction.occurred_at
        for contact_id, at in latest.items():
            await touch_contacts(self.scope, [contact_id], at)
        return refused

    async def get(self, ids: Sequence[str]) -> list[Interaction]:
        return await self.scope.store.get_interactions(ids)


# -- undo --------------------------------------------------------------------------------


async def undo_import(scope: Scope, job_id: str) -> int:
    """Remove what import `job_id` created and nobody changed since (version 1), with the
    events (deleted, removed) through the outbox; answers how many."""
    scope.require_write()
    store = scope.store
    now, by = scope.now(), scope.subject
    removed = 0

    async def take_off(interaction: Interaction) -> bool:
        nonlocal removed
        done = interaction.remove(interaction.revision + 1, now)
        removed += done
        return done

    async def delete_unchanged(record: Company | Contact) -> bool:
        nonlocal removed
        done = record.version == 1 and record.delete(at=now, by=by)
        removed += done
        return done

    # Timeline entries first, companies last: nothing left points at a removed record.
    for interaction_id in await store.imported_ids("interactions", job_id):
        await store.change_interaction(interaction_id, take_off)
    for contact_id in await store.imported_ids("contacts", job_id):
        await store.change_contact(contact_id, delete_unchanged)
    for company_id in await store.imported_ids("companies", job_id):
        await store.change_company(company_id, delete_unchanged)
    return removed
