"""Use cases: what GraphQL, the NATS endpoints and the importer ask of the service.

Each use case validates input (errors name the GraphQL input field at fault), applies the
domain rules, and hands the store the new state together with the events it causes (the
store tells the outbox relay). An update holds the lock of the record(s) it changes from
its read to its write (`store.lock_contacts` / `store.lock_company`), so concurrent
updates of one record in this process apply one after another; across processes the
version check turns a race into CONFLICT."""

from __future__ import annotations

import contextlib
import copy
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from crm_contracts.envelope import CloudEvent
from crm_kit.context import RequestContext
from crm_kit.errors import BadUserInput, Conflict, Forbidden, NotFound
from crm_kit.ids import new_id

from .config import default_phone_region
from .domain import rules
from .domain.duplicates import DuplicateCandidate, rank
from .domain.merge import FieldChange, plan_merge
from .domain.model import (
    Address,
    Company,
    Contact,
    Direction,
    Interaction,
    InteractionKind,
    LifecycleStage,
    MergeRecord,
    Page,
    to_millis,
    utcnow,
)
from .events import publish
from .store.protocol import (
    CompanyQuery,
    ContactQuery,
    DomainTaken,
    EmailTaken,
    InteractionQuery,
    WorkspaceStore,
)

MAX_CUSTOM_FIELDS_BYTES = 16_000
# camelCase names of contact and company attributes, as clients see them.
_CONTACT_FIELDS = {
    "first_name": "firstName",
    "last_name": "lastName",
    "emails": "emails",
    "phones": "phones",
    "title": "title",
    "company_id": "companyId",
    "owner_id": "ownerId",
    "lifecycle_stage": "lifecycleStage",
    "tags": "tags",
    "source": "source",
    "custom_fields": "customFields",
}
_COMPANY_FIELDS = {
    "name": "name",
    "domain": "domain",
    "industry": "industry",
    "size": "size",
    "address": "address",
    "website": "website",
    "owner_id": "ownerId",
    "tags": "tags",
    "custom_fields": "customFields",
}


def wire_field(name: str) -> str:
    """The client-facing (camelCase) name of a contact attribute."""
    return _CONTACT_FIELDS.get(name, name)


@dataclass
class MergeOutcome:
    survivor: Contact
    duplicate_id: str
    dry_run: bool
    changes: list[FieldChange]
    moved_interactions: int
    interaction_ids: list[str] = field(default_factory=list)
    already_merged: bool = False


def _custom_fields(value: Any, field_name: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BadUserInput("must be a JSON object", field=field_name)
    if len(orjson.dumps(value)) > MAX_CUSTOM_FIELDS_BYTES:
        raise BadUserInput(f"must be at most {MAX_CUSTOM_FIELDS_BYTES} bytes", field=field_name)
    return value


def _website(value: str | None, field_name: str) -> str | None:
    text = rules.clean_text(value, field_name, limit=500)
    if text is None:
        return None
    if "//" not in text:
        text = f"https://{text}"
    rules.normalise_domain(text, field_name)  # must have a valid host
    return text


def _size(value: int | None, field_name: str) -> int | None:
    if value is not None and value < 0:
        raise BadUserInput("must not be negative", field=field_name)
    return value


def _owner(value: str | None, field_name: str) -> str | None:
    return rules.clean_text(value, field_name, limit=100)


def _changed(before: object, after: object, names: dict[str, str]) -> list[str]:
    return [wire for attr, wire in names.items() if getattr(before, attr) != getattr(after, attr)]


class ContactsService:
    """Use cases for one caller in one workspace (the store is already scoped to it)."""

    def __init__(
        self,
        store: WorkspaceStore,
        caller: RequestContext,
        phone_region: str | None = None,
    ) -> None:
        self.store = store
        self.caller = caller
        self.phone_region = phone_region or default_phone_region()

    # authorisation -------------------------------------------------------------------
    def require_write(self) -> None:
        if not self.caller.can_write:
            raise Forbidden("your role may read but not change records")

    def require_admin_read(self, include_deleted: bool) -> None:
        if include_deleted and not self.caller.has_role("admin", "manager"):
            raise Forbidden(
                "only managers and admins may list deleted records", field="filter.includeDeleted"
            )

    def _now(self) -> datetime:
        return utcnow()

    # reads -------------------------------------------------------------------------
    async def contact(self, contact_id: str, field: str = "id") -> Contact:
        rules.require_id(contact_id, field)
        found = await self.store.get_contacts([contact_id])
        if not found:
            raise NotFound(f"no contact {contact_id}", field=field)
        return found[0]

    async def live_contact(self, contact_id: str, field: str = "id") -> Contact:
        contact = await self.contact(contact_id, field)
        if contact.deleted:
            raise NotFound(f"contact {contact_id} is deleted", field=field, deleted=True)
        return contact

    async def company(self, company_id: str, field: str = "id") -> Company:
        rules.require_id(company_id, field)
        found = await self.store.get_companies([company_id])
        if not found:
            raise NotFound(f"no company {company_id}", field=field)
        return found[0]

    async def live_company(self, company_id: str, field: str = "id") -> Company:
        company = await self.company(company_id, field)
        if company.deleted:
            raise NotFound(f"company {company_id} is deleted", field=field, deleted=True)
        return company

    async def list_contacts(self, query: ContactQuery) -> Page[Contact]:
        self.require_admin_read(query.include_deleted)
        return await self.store.list_contacts(query)

    async def list_companies(self, query: CompanyQuery) -> Page[Company]:
        self.require_admin_read(query.include_deleted)
        return await self.store.list_companies(query)

    async def timeline(self, query: InteractionQuery) -> Page[Interaction]:
        return await self.store.list_interactions(query)

    async def find_contact_by_email(self, email: str, field: str = "email") -> Contact | None:
        key = rules.normalise_email(email, field)
        contact = await self.store.find_contact_by_email_key(key)
        if contact is None or contact.deleted:
            holders = await self.store.find_contacts_with_emails([key])
            live = [c for c in holders if not c.deleted]
            return live[0] if live else None
        return contact

    async def find_companies_by_names(self, names: list[str]) -> dict[str, str]:
        keys = {name: rules.name_key(name) for name in names if name and name.strip()}
        if not keys:
            return {}
        companies = await self.store.find_companies_by_name_keys(sorted(set(keys.values())))
        by_key: dict[str, str] = {}
        for company in companies:  # oldest first: the first one wins a tie
            if not company.deleted:
                by_key.setdefault(rules.name_key(company.name), company.id)
        return {name: by_key[key] for name, key in keys.items() if key in by_key}

    # companies -----------------------------------------------------------------------
    def _company_fields(self, data: dict[str, Any], prefix: str, company: Company) -> None:
        if "name" in data:
            name = rules.clean_text(data["name"], f"{prefix}.name", required=True)
            assert name is not None
            company.name = name
        if "domain" in data:
            company.domain = rules.normalise_domain(data["domain"], f"{prefix}.domain")
        if "industry" in data:
            industry = rules.clean_text(data["industry"], f"{prefix}.industry", limit=100)
            company.industry = industry.lower() if industry else None
        if "size" in data:
            company.size = _size(data["size"], f"{prefix}.size")
        if "address" in data:
            raw = data["address"] or {}
            company.address = Address(
                **{
                    key: rules.clean_text(raw.get(key), f"{prefix}.address.{key}")
                    for key in ("street", "city", "region", "postal_code", "country")
                }
            )
        if "website" in data:
            company.website = _website(data["website"], f"{prefix}.website")
        if "owner_id" in data:
            company.owner_id = _owner(data["owner_id"], f"{prefix}.ownerId")
        if "tags" in data:
            company.tags = rules.normalise_tags(data["tags"] or [], f"{prefix}.tags")
        if "custom_fields" in data:
            company.custom_fields = _custom_fields(data["custom_fields"], f"{prefix}.customFields")

    def build_company(self, data: dict[str, Any], prefix: str = "input") -> Company:
        """A new, validated company (not saved): create_company, and import dry runs."""
        now = self._now()
        company = Company(
            id=data.get("id") or new_id(),
            workspace_id=self.store.workspace_id,
            name="",
            created_at=now,
            updated_at=now,
            created_by=self.caller.subject,
            updated_by=self.caller.subject,
        )
        self._company_fields({"name": data.get("name"), **data}, prefix, company)
        return company

    async def create_company(self, data: dict[str, Any], prefix: str = "input") -> Company:
        self.require_write()
        company = self.build_company(data, prefix)
        try:
            await self.store.insert_company(company, [publish.company_created(company)])
        except DomainTaken as taken:
            raise Conflict(
                f"a company with domain {company.domain} exists",
                field=f"{prefix}.domain",
                existingId=taken.existing_id,
            ) from None
        return company

    async def _save_company(self, before: Company, after: Company, event: CloudEvent) -> None:
        try:
            saved = await self.store.update_company(after, [event])
        except DomainTaken as taken:
            raise Conflict(
                f"a company with domain {after.domain} exists",
                field="input.domain",
                existingId=taken.existing_id,
            ) from None
        if not saved:
            raise Conflict("the company changed meanwhile; read it again and retry")
        if before.name != after.name:
            await self.store.set_company_name(after.id, rules.name_key(after.name))

    async def update_company(
        self, company_id: str, data: dict[str, Any], prefix: str = "input"
    ) -> Company:
        self.require_write()
        async with self.store.lock_company(company_id):
            before = await self.live_company(company_id)
            after = copy.deepcopy(before)
            self._company_fields(data, prefix, after)
            changed = _changed(before, after, _COMPANY_FIELDS)
            if not changed:
                return before
            after.updated_at, after.updated_by = self._now(), self.caller.subject
            await self._save_company(before, after, publish.company_updated(after, changed))
            return after

    async def delete_company(self, company_id: str) -> Company:
        self.require_write()
        async with self.store.lock_company(company_id):
            company = await self.company(company_id)
            if company.deleted:
                return company
            before = copy.deepcopy(company)
            company.deleted_at = company.updated_at = self._now()
            company.updated_by = self.caller.subject
            await self._save_company(before, company, publish.company_deleted(company))
            return company

    async def restore_company(self, company_id: str) -> Company:
        self.require_write()
        async with self.store.lock_company(company_id):
            company = await self.company(company_id)
            if not company.deleted:
                return company
            before = copy.deepcopy(company)
            company.deleted_at = None
            company.updated_at, company.updated_by = self._now(), self.caller.subject
            await self._save_company(before, company, publish.company_restored(company))
            return company

    # contacts ------------------------------------------------------------------------
    async def _contact_fields(self, data: dict[str, Any], prefix: str, contact: Contact) -> None:
        if "first_name" in data:
            first = rules.clean_text(data["first_name"], f"{prefix}.firstName", required=True)
            contact.first_name = first or ""
        if "last_name" in data:
            contact.last_name = rules.clean_text(data["last_name"], f"{prefix}.lastName") or ""
        if "email" in data or "emails" in data:
            primary = contact.emails[:1]
            if "email" in data:
                raw = data["email"]
                primary = [rules.normalise_email(raw, f"{prefix}.email")] if raw else []
            others = contact.emails[1:]
            if "emails" in data:
                others = rules.normalise_emails(data["emails"] or [], f"{prefix}.emails")
            if not primary and others:
                primary, others = others[:1], others[1:]
            contact.emails = list(dict.fromkeys(primary + others))
        if "phones" in data:
            contact.phones = rules.normalise_phones(
                data["phones"] or [], self.phone_region, f"{prefix}.phones"
            )
        if "title" in data:
            contact.title = rules.clean_text(data["title"], f"{prefix}.title")
        if "company_id" in data:
            company_id = data["company_id"]
            if company_id:
                company = await self.live_company(company_id, f"{prefix}.companyId")
                contact.company_id = company.id
                contact.company_name = rules.name_key(company.name)
            else:
                contact.company_id = contact.company_name = None
        if "owner_id" in data:
            contact.owner_id = _owner(data["owner_id"], f"{prefix}.ownerId")
        if "lifecycle_stage" in data:
            stage = data["lifecycle_stage"]
            contact.lifecycle_stage = LifecycleStage(stage) if stage else LifecycleStage.LEAD
        if "tags" in data:
            contact.tags = rules.normalise_tags(data["tags"] or [], f"{prefix}.tags")
        if "source" in data:
            contact.source = rules.clean_text(data["source"], f"{prefix}.source")
        if "custom_fields" in data:
            contact.custom_fields = _custom_fields(data["custom_fields"], f"{prefix}.customFields")

    async def _check_emails_free(self, contact: Contact, prefix: str) -> None:
        """The index guards primary emails; secondary ones are checked here."""
        if not contact.emails:
            return
        for other in await self.store.find_contacts_with_emails(contact.emails):
            if other.id == contact.id or other.merged_into:
                continue
            shared = sorted(set(other.emails) & set(contact.emails))
            raise Conflict(
                f"{shared[0]} already belongs to contact {other.id}",
                field=f"{prefix}.email" if shared[0] == contact.email else f"{prefix}.emails",
                existingId=other.id,
                existingDeleted=other.deleted,
            )

    def _email_conflict(self, taken: EmailTaken, contact: Contact, prefix: str) -> Conflict:
        return Conflict(
            f"{contact.email} already belongs to contact {taken.existing_id}",
            field=f"{prefix}.email",
            existingId=taken.existing_id,
        )

    async def create_contact(self, data: dict[str, Any], prefix: str = "input") -> Contact:
        self.require_write()
        now = self._now()
        contact = Contact(
            id=data.get("id") or new_id(),
            workspace_id=self.store.workspace_id,
            first_name="",
            last_name="",
            created_at=now,
            updated_at=now,
            created_by=self.caller.subject,
            updated_by=self.caller.subject,
        )
        await self._contact_fields(
            {"first_name": data.get("first_name"), "last_name": data.get("last_name"), **data},
            prefix,
            contact,
        )
        await self._check_emails_free(contact, prefix)
        try:
            await self.store.insert_contact(contact, [publish.contact_created(contact)])
        except EmailTaken as taken:
            raise self._email_conflict(taken, contact, prefix) from None
        return contact

    async def _save_contact(self, contact: Contact, event: CloudEvent, prefix: str) -> None:
        try:
            saved = await self.store.update_contact(contact, [event])
        except EmailTaken as taken:
            raise self._email_conflict(taken, contact, prefix) from None
        if not saved:
            raise Conflict("the contact changed meanwhile; read it again and retry")

    async def update_contact(
        self, contact_id: str, data: dict[str, Any], prefix: str = "input"
    ) -> Contact:
        self.require_write()
        async with self.store.lock_contacts([contact_id]):
            before = await self.live_contact(contact_id)
            after = copy.deepcopy(before)
            await self._contact_fields(data, prefix, after)
            changed = _changed(before, after, _CONTACT_FIELDS)
            if not changed:
                return before
            if after.emails != before.emails:
                await self._check_emails_free(after, prefix)
            after.updated_at, after.updated_by = self._now(), self.caller.subject
            await self._save_contact(after, publish.contact_updated(after, changed), prefix)
            return after

    async def delete_contact(self, contact_id: str) -> Contact:
        self.require_write()
        async with self.store.lock_contacts([contact_id]):
            contact = await self.contact(contact_id)
            if contact.deleted:
                return contact
            contact.deleted_at = contact.updated_at = self._now()
            contact.updated_by = self.caller.subject
            await self._save_contact(contact, publish.contact_deleted(contact), "input")
            return contact

    async def restore_contact(self, contact_id: str) -> Contact:
        self.require_write()
        async with self.store.lock_contacts([contact_id]):
            contact = await self.contact(contact_id)
            if contact.merged_into:
                raise Conflict(
                    f"contact {contact_id} was merged into {contact.merged_into}; it cannot be "
                    "restored",
                    field="id",
                    existingId=contact.merged_into,
                )
            if not contact.deleted:
                return contact
            contact.deleted_at = None
            contact.updated_at, contact.updated_by = self._now(), self.caller.subject
            await self._check_emails_free(contact, "input")
            await self._save_contact(contact, publish.contact_restored(contact), "input")
            return contact

    # interactions --------------------------------------------------------------------
    async def log_interaction(self, data: dict[str, Any], prefix: str = "input") -> Interaction:
        self.require_write()
        contact_ids: list[str] = []
        if data.get("contact_id"):
            contact_ids.append(data["contact_id"])
        contact_ids += [c for c in data.get("contact_ids") or [] if c not in contact_ids]
        contacts = []
        for contact_id in contact_ids:
            named_first = contact_id == data.get("contact_id")
            where = f"{prefix}.contactId" if named_first else f"{prefix}.contactIds"
            contacts.append(await self.live_contact(contact_id, where))
        company_id = data.get("company_id")
        if company_id:
            company_id = (await self.live_company(company_id, f"{prefix}.companyId")).id
        else:
            company_id = next((c.company_id for c in contacts if c.company_id), None)
        if not contacts and not company_id:
            raise BadUserInput("name a contact or a company", field=f"{prefix}.contactId")
        deal_id = rules.clean_text(data.get("deal_id"), f"{prefix}.dealId", limit=64)
        duration = data.get("duration_seconds")
        if duration is not None and duration < 0:
            raise BadUserInput("must not be negative", field=f"{prefix}.durationSeconds")
        occurred_at = data.get("occurred_at") or self._now()
        participants = [
            p
            for p in (
                rules.clean_text(x, f"{prefix}.participants")
                for x in data.get("participants") or []
            )
            if p
        ]
        interaction = Interaction(
            id=data.get("id") or new_id(),
            workspace_id=self.store.workspace_id,
            kind=InteractionKind(data["kind"]),
            occurred_at=to_millis(occurred_at),
            direction=Direction(data["direction"]) if data.get("direction") else None,
            subject=rules.clean_text(data.get("subject"), f"{prefix}.subject", limit=500),
            summary=rules.clean_text(data.get("summary"), f"{prefix}.summary", limit=10_000),
            participants=participants,
            duration_seconds=duration,
            contact_ids=[c.id for c in contacts],
            company_id=company_id,
            deal_id=deal_id,
            logged_by=self.caller.subject,
            created_at=self._now(),
        )
        inserted = await self.store.insert_interaction(
            interaction, [publish.interaction_logged(interaction)]
        )
        if not inserted:
            raise Conflict(f"interaction {interaction.id} exists", existingId=interaction.id)
        return interaction

    # duplicates and merging -----------------------------------------------------------
    async def find_duplicates(self, contact_id: str) -> list[DuplicateCandidate]:
        target = await self.live_contact(contact_id, "contactId")
        pool: dict[str, Contact] = {}
        for group in (
            await self.store.find_contacts_with_emails(target.emails),
            await self.store.find_contacts_with_phones(target.phones),
            await self.store.contacts_of_company(target.company_id, 500)
            if target.company_id
            else [],
        ):
            pool.update({c.id: c for c in group})
        return rank(target, list(pool.values()))

    async def merge_contacts(
        self, survivor_id: str, duplicate_id: str, dry_run: bool = False
    ) -> MergeOutcome:
        if not dry_run:
            self.require_write()
        rules.require_id(survivor_id, "survivorId")
        rules.require_id(duplicate_id, "duplicateId")
        if survivor_id == duplicate_id:
            raise BadUserInput("a contact cannot be merged into itself", field="duplicateId")
        # A merge holds both contacts from its reads to its last write (in a fixed order,
        # so two merges of the same pair cannot deadlock); a dry run changes nothing.
        locks = (
            contextlib.nullcontext()
            if dry_run
            else self.store.lock_contacts([survivor_id, duplicate_id])
        )
        async with locks:
            return await self._merge_contacts(survivor_id, duplicate_id, dry_run)

    async def _merge_contacts(
        self, survivor_id: str, duplicate_id: str, dry_run: bool
    ) -> MergeOutcome:
        survivor = await self.contact(survivor_id, "survivorId")
        duplicate = await self.contact(duplicate_id, "duplicateId")
        record = await self.store.get_merge(duplicate_id)
        if record is not None and record.survivor_id != survivor_id:
            raise Conflict(
                f"contact {duplicate_id} is being merged into {record.survivor_id}",
                field="duplicateId",
                existingId=record.survivor_id,
            )
        if duplicate.merged_into == survivor_id and record and record.status == "done":
            return MergeOutcome(
                survivor,
                duplicate_id,
                dry_run,
                [FieldChange(name, None, None) for name in record.changed_fields],
                record.moved_interactions,
                already_merged=True,
            )
        if survivor.deleted:
            raise BadUserInput("the survivor is deleted; restore it first", field="survivorId")
        if duplicate.merged_into and duplicate.merged_into != survivor_id:
            raise Conflict(
                f"contact {duplicate_id} was merged into {duplicate.merged_into}",
                field="duplicateId",
                existingId=duplicate.merged_into,
            )
        if duplicate.deleted and record is None:
            raise BadUserInput("the duplicate is deleted; restore it first", field="duplicateId")
        plan = plan_merge(survivor, duplicate)
        moved = await self.store.count_interactions_of(duplicate_id)
        moving_ids = await self.store.interaction_ids_of(duplicate_id, 100)
        if dry_run:
            return MergeOutcome(survivor, duplicate_id, True, plan.changes, moved, moving_ids)
        if record is None:
            record = MergeRecord(
                duplicate_id=duplicate_id,
                workspace_id=self.store.workspace_id,
                survivor_id=survivor_id,
                moved_interactions=moved,
                changed_fields=[_CONTACT_FIELDS.get(f, f) for f in plan.changed_fields],
            )
            if not await self.store.insert_merge(record):
                raise Conflict("a merge of this contact is under way; retry", field="duplicateId")
        survivor = await self._run_merge(survivor, duplicate, record)
        return MergeOutcome(
            survivor, duplicate_id, False, plan.changes, record.moved_interactions, moving_ids
        )

    async def _run_merge(
        self, survivor: Contact, duplicate: Contact, record: MergeRecord
    ) -> Contact:
        """Every step is safe to repeat, so a merge interrupted anywhere is resumed by
        running it again (`resume_merge`, or the client repeating the mutation)."""
        await self.store.move_interactions(duplicate.id, survivor.id)
        if duplicate.id not in survivor.merged_from:
            plan = plan_merge(survivor, duplicate)
            plan.apply(survivor)
            survivor.updated_at, survivor.updated_by = self._now(), self.caller.subject
            changed = [_CONTACT_FIELDS.get(f, f) for f in plan.changed_fields]
            events = [publish.contact_updated(survivor, changed)] if changed else []
            await self.store.apply_merge_to_survivor(survivor, duplicate.id, events)
        if duplicate.merged_into is None:
            duplicate.merged_into = survivor.id
            duplicate.deleted_at = duplicate.deleted_at or self._now()
            duplicate.updated_at, duplicate.updated_by = self._now(), self.caller.subject
            event = publish.contact_merged(survivor, duplicate, record.moved_interactions)
            await self.store.mark_merged(duplicate, survivor.id, [event])
        await self.store.finish_merge(duplicate.id)
        return survivor

    async def resume_merge(self, record: MergeRecord) -> None:
        async with self.store.lock_contacts([record.survivor_id, record.duplicate_id]):
            survivor = await self.contact(record.survivor_id)
            duplicate = await self.contact(record.duplicate_id)
            await self._run_merge(survivor, duplicate, record)
