"""Contacts imported: a row makes a contact with `createContact`'s rules (addresses and
phones normalised); identity keys the external id and every address. The contact's company
is found by domain, else by name, and created with the first row naming it when none
exists (a `company_created` warning), as HubSpot does."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

from crm_contracts.import_batches import ImportRow
from crm_kit.errors import BadUserInput, CRMError
from crm_kit.imports import Built, Key, custom_fields, ignored, warning
from crm_kit.unset import UNSET

from ...domain.company import Company
from ...domain.contact import Contact, LifecycleStage
from ..contacts import contact_values
from ..inputs import ContactInput
from ..scope import Scope
from .companies import CompanyResolver, company_ref
from .rows import PREFIX, given, moment, text, texts

CONTACT_FIELDS = {
    "first_name", "last_name", "email", "emails", "phones", "title", "company",
    "company_domain", "owner_id", "lifecycle_stage", "tags", "source", "external_id",
    "created_at",
}  # fmt: skip


def contact_input(values: dict[str, Any]) -> ContactInput:
    stage = text(values, "lifecycle_stage")
    try:
        lifecycle = LifecycleStage(stage.lower()) if stage else None
    except ValueError:
        choices = ", ".join(s.value for s in LifecycleStage)
        raise BadUserInput(
            f"{stage!r} is not one of {choices}", field=f"{PREFIX}.lifecycle_stage"
        ) from None
    custom = custom_fields(values)
    return ContactInput(
        first_name=given(values, "first_name", text(values, "first_name")),
        last_name=given(values, "last_name", text(values, "last_name")),
        email=given(values, "email", text(values, "email")),
        emails=given(values, "emails", texts(values, "emails")),
        phones=given(values, "phones", texts(values, "phones")),
        title=given(values, "title", text(values, "title")),
        owner_id=given(values, "owner_id", text(values, "owner_id")),
        lifecycle_stage=given(values, "lifecycle_stage", lifecycle),
        tags=given(values, "tags", texts(values, "tags")),
        source=given(values, "source", text(values, "source")),
        custom_fields=custom if custom else UNSET,
    )


def contact_keys(contact: Contact) -> list[Key]:
    keys: list[Key] = []
    if contact.external_id:
        keys.append(("external_id", contact.external_id))
    keys.extend(("email", email) for email in contact.emails)
    return keys


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
                pairs.append(company_ref(row.values))
            except CRMError:
                continue  # the row's own build reports it
        await self.companies.prepare(pairs)

    async def build(self, row: ImportRow, record_id: str) -> Built[Contact]:
        values = row.values
        data = contact_input(values)
        template = Contact(
            id=record_id, workspace_id=self.scope.workspace_id, first_name="", last_name=""
        )
        named = (
            data
            if data.first_name is not UNSET
            else ContactInput(**{**data.__dict__, "first_name": None})
        )
        attributes = await contact_values(self.scope, named, PREFIX, template)
        created = moment(values, "created_at")
        contact = Contact.create(
            record_id,
            self.scope.workspace_id,
            attributes,
            at=created or self.scope.now(),
            by=self.scope.subject,
        )
        contact.external_id = text(values, "external_id")
        contact.import_job = self.job_id
        issues = ignored(values, CONTACT_FIELDS, "contacts", custom=True)
        company, made = self.companies.resolve(*company_ref(values))
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
        return Built(contact, contact_keys(contact), issues)

    async def existing(self, keys: Sequence[Key]) -> dict[Key, Contact]:
        external = [v for k, v in keys if k == "external_id"]
        emails = [v for k, v in keys if k == "email"]
        found = await self.scope.store.contacts_with_keys(external, emails)
        return {key: contact for contact in found for key in contact_keys(contact)}

    async def update(
        self, existing: Contact, built: Contact, row: ImportRow, *, dry_run: bool
    ) -> bool:
        data = contact_input(row.values)
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
