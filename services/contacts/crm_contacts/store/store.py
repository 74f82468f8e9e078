"""The store port implemented once, over the kit's records: on MongoDB through the kit's
write path (`mongo.py`), in memory for unit tests (`memory.py`). Locks, `_id`-only
filters, the outbox and the relay's wake-up are the records' and the writer's business;
what is here is what the contacts service stores and how it asks for it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from crm_kit.audit_read import AuditTrail
from crm_kit.clock import utcnow
from crm_kit.filters import And, Eq, In, Ne, Or
from crm_kit.pagination import Order, Page
from crm_kit.records import Duplicate, RecordSource

from ..config import IMPORT_BATCHES
from ..domain.company import Company
from ..domain.contact import Contact
from ..domain.interaction import Interaction
from ..domain.merge import MergeRecord
from ..domain.queries import CompanyQuery, ContactQuery, InteractionQuery
from .documents import COMPANY, CONTACT, INTERACTION, MERGE, merge_id
from .filters import LIVE, companies_matching, contacts_matching, timeline_of
from .port import Change, ChangeMany, DomainTaken, EmailTaken

# Candidates a duplicate search or an email check looks at (of one address, phone...).
MATCHES = 100
NEWEST_FIRST = Order("occurred_at", descending=True)


class RecordStore:
    """The root store (every workspace): `for_workspace` scopes it."""

    def __init__(self, source: RecordSource) -> None:
        self.source = source

    def for_workspace(self, workspace_id: str) -> WorkspaceRecordStore:
        return WorkspaceRecordStore(self.source, workspace_id)

    async def pending_merges(self) -> list[MergeRecord]:
        return await self.source.records(MERGE, None).find(Ne("status", "done"))


class WorkspaceRecordStore:
    def __init__(self, source: RecordSource, workspace_id: str) -> None:
        self.workspace_id = workspace_id
        self.audit_trail = AuditTrail(source, workspace_id)
        self.companies = source.records(COMPANY, workspace_id)
        self.contacts = source.records(CONTACT, workspace_id)
        self.interactions = source.records(INTERACTION, workspace_id)
        self.merges = source.records(MERGE, workspace_id)

    # companies ------------------------------------------------------------------------
    async def add_company(self, company: Company) -> None:
        try:
            await self.companies.insert(company)
        except Duplicate as taken:
            raise DomainTaken(taken.existing_id) from None

    async def get_companies(self, ids: Sequence[str]) -> list[Company]:
        return await self.companies.get(ids)

    async def change_company(self, company_id: str, change: Change[Company]) -> Company | None:
        try:
            return await self.companies.change(company_id, change)
        except Duplicate as taken:
            raise DomainTaken(taken.existing_id) from None

    async def find_company_by_domain(self, domain: str) -> Company | None:
        return await self.companies.first(Eq("domain_key", domain))

    async def find_companies_by_domains(self, domains: Sequence[str]) -> list[Company]:
        return await self.companies.find(In("domain_key", domains)) if domains else []

    async def find_companies_by_name_keys(self, keys: Sequence[str]) -> list[Company]:
        return await self.companies.find(In("name_key", keys), order=Order("created_at"))

    async def list_companies(self, query: CompanyQuery) -> Page[Company]:
        order = Order(query.order_field, query.descending)
        return await self.companies.page(
            companies_matching(query), order=order, after=query.after, first=query.first
        )

    # contacts -------------------------------------------------------------------------
    async def add_contact(self, contact: Contact) -> None:
        try:
            await self.contacts.insert(contact)
        except Duplicate as taken:
            raise EmailTaken(taken.existing_id) from None

    async def get_contacts(self, ids: Sequence[str]) -> list[Contact]:
        return await self.contacts.get(ids)

    async def change_contact(self, contact_id: str, change: Change[Contact]) -> Contact | None:
        try:
            return await self.contacts.change(contact_id, change)
        except Duplicate as taken:
            raise EmailTaken(taken.existing_id) from None

    async def change_contacts(
        self, ids: Sequence[str], change: ChangeMany[Contact]
    ) -> Sequence[Contact]:
        try:
            return await self.contacts.change_many(ids, change)
        except Duplicate as taken:
            raise EmailTaken(taken.existing_id) from None

    async def find_contact_by_email_key(self, email: str) -> Contact | None:
        return await self.contacts.first(Eq("email_key", email))

    async def find_contacts_with_emails(self, emails: Sequence[str]) -> list[Contact]:
        if not emails:
            return []
        where = And(In("emails", emails), Eq("merged_into", None))
        # Bounded per address asked: a batch of a thousand addresses finds them all.
        return await self.contacts.find(where, limit=MATCHES * len(emails))

    async def find_contacts_with_phones(self, phones: Sequence[str]) -> list[Contact]:
        return await self.contacts.find(In("phones", phones), limit=MATCHES) if phones else []

    async def contacts_of_company(self, company_id: str, limit: int) -> list[Contact]:
        return await self.contacts.find(And(Eq("company_id", company_id), LIVE), limit=limit)

    async def set_company_name(self, company_id: str, name_key: str) -> None:
        async def rename(contact: Contact) -> bool:
            # A contact that moved to another company meanwhile keeps its own.
            if contact.company_id != company_id or contact.company_name == name_key:
                return False
            contact.company_name = name_key
            return True

        for contact_id in await self.contacts.ids(Eq("company_id", company_id)):
            await self.contacts.change(contact_id, rename)

    async def list_contacts(self, query: ContactQuery) -> Page[Contact]:
        order = Order(query.order_field, query.descending)
        return await self.contacts.page(
            contacts_matching(query), order=order, after=query.after, first=query.first
        )

    # interactions ---------------------------------------------------------------------
    async def add_interaction(self, interaction: Interaction) -> bool:
        try:
            await self.interactions.insert(interaction)
        except Duplicate:
            return False
        return True

    async def get_interactions(self, ids: Sequence[str]) -> list[Interaction]:
        return await self.interactions.get(ids)

    async def change_interaction(
        self, interaction_id: str, change: Change[Interaction]
    ) -> Interaction | None:
        return await self.interactions.change(interaction_id, change)

    async def list_interactions(self, query: InteractionQuery) -> Page[Interaction]:
        return await self.interactions.page(
            timeline_of(query), order=NEWEST_FIRST, after=query.after, first=query.first
        )

    async def count_interactions_of(self, contact_id: str) -> int:
        return await self.interactions.count(Eq("contact_ids", contact_id))

    async def interaction_ids_of(self, contact_id: str, limit: int) -> list[str]:
        return await self.interactions.ids(Eq("contact_ids", contact_id), limit=limit)

    async def move_interactions(self, from_contact: str, to_contact: str) -> int:
        async def move(interaction: Interaction) -> bool:
            return interaction.move_contact(from_contact, to_contact)

        ids = await self.interactions.ids(Eq("contact_ids", from_contact))
        for interaction_id in ids:
            await self.interactions.change(interaction_id, move)
        return len(ids)

    # imports --------------------------------------------------------------------------
    def prepare_companies(self, companies: Sequence[Company], batch_id: str) -> None:
        self.companies.prepare_batch(
            companies, batch_collection=IMPORT_BATCHES, batch_id=f"{self.workspace_id}:{batch_id}"
        )

    async def add_companies(self, companies: Sequence[Company], batch_id: str) -> list[Company]:
        return await self.companies.insert_batch(
            companies, batch_collection=IMPORT_BATCHES, batch_id=f"{self.workspace_id}:{batch_id}"
        )

    async def add_contacts(self, contacts: Sequence[Contact], batch_id: str) -> list[Contact]:
        return await self.contacts.insert_batch(
            contacts, batch_collection=IMPORT_BATCHES, batch_id=f"{self.workspace_id}:{batch_id}"
        )

    async def add_interactions(
        self, interactions: Sequence[Interaction], batch_id: str
    ) -> list[Interaction]:
        return await self.interactions.insert_batch(
            interactions,
            batch_collection=IMPORT_BATCHES,
            batch_id=f"{self.workspace_id}:{batch_id}",
        )

    async def record_activities(
        self, latest: Mapping[str, datetime], now: datetime, batch_id: str
    ) -> list[Contact]:
        async def touch(contact: Contact) -> bool:
            return contact.record_activity(latest[contact.id], now)

        return await self.contacts.change_batch(
            sorted(latest),
            touch,
            batch_collection=IMPORT_BATCHES,
            batch_id=f"{self.workspace_id}:{batch_id}:activity",
        )

    async def companies_with_keys(
        self, external_ids: Sequence[str], domains: Sequence[str]
    ) -> list[Company]:
        if not external_ids and not domains:
            return []
        keys = Or(In("external_id", external_ids), In("domain_key", domains))
        return await self.companies.find(And(keys, LIVE))

    async def companies_with_name_keys(self, keys: Sequence[str]) -> list[Company]:
        if not keys:
            return []
        named = await self.find_companies_by_name_keys(keys)
        return [company for company in named if not company.deleted]

    async def contacts_with_keys(
        self, external_ids: Sequence[str], emails: Sequence[str]
    ) -> list[Contact]:
        if not external_ids and not emails:
            return []
        keys = Or(In("external_id", external_ids), In("emails", emails))
        return await self.contacts.find(And(keys, LIVE, Eq("merged_into", None)))

    async def interactions_with_external_ids(
        self, external_ids: Sequence[str]
    ) -> list[Interaction]:
        if not external_ids:
            return []
        where = And(In("external_id", external_ids), Eq("removed_at", None))
        return await self.interactions.find(where)

    async def imported_ids(self, kind: str, job_id: str) -> list[str]:
        where = Eq("import_job", job_id)
        if kind == "companies":
            return [str(i) for i in await self.companies.ids(where)]
        if kind == "contacts":
            return [str(i) for i in await self.contacts.ids(where)]
        return [str(i) for i in await self.interactions.ids(where)]

    # merges ---------------------------------------------------------------------------
    async def add_merge(self, record: MergeRecord) -> bool:
        try:
            await self.merges.insert(record)
        except Duplicate:
            return False
        return True

    async def get_merge(self, duplicate_id: str) -> MergeRecord | None:
        found = await self.merges.get([merge_id(self.workspace_id, duplicate_id)])
        return found[0] if found else None

    async def finish_merge(self, duplicate_id: str) -> None:
        async def finish(record: MergeRecord) -> bool:
            return record.finish(utcnow())

        await self.merges.change(merge_id(self.workspace_id, duplicate_id), finish)
