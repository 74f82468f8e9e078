"""In-memory fake of the store for unit tests: same behaviour as the Mongo adapter,
including the unique indexes, and an outbox list to assert on."""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from crm_contracts.envelope import CloudEvent
from crm_kit.locks import DocLocks, hold_locks

from ..config import COMPANIES, CONTACTS
from ..domain.model import Company, Contact, Interaction, MergeRecord, Page, utcnow
from ..domain.rules import email_key, name_key, search_text
from .protocol import (
    CompanyQuery,
    ContactQuery,
    Cursor,
    DomainTaken,
    EmailTaken,
    InteractionQuery,
)

T = TypeVar("T")


def _sort_value(item: Any, field: str) -> Any:
    if field == "last_name_key":
        return item.last_name.lower()
    if field == "name_key":
        return name_key(item.name)
    return getattr(item, field)


def _page(
    items: Iterable[T],
    field: str,
    descending: bool,
    after: Cursor | None,
    first: int,
) -> Page[T]:
    rows = list(items)
    total = len(rows)
    rows.sort(key=lambda r: (_sort_value(r, field), r.id), reverse=descending)  # type: ignore[attr-defined]
    if after is not None:
        value, after_id = after

        def beyond(row: Any) -> bool:
            key = (_sort_value(row, field), row.id)
            return key < (value, after_id) if descending else key > (value, after_id)

        rows = [r for r in rows if beyond(r)]
    return Page(copy.deepcopy(rows[:first]), total, len(rows) > first)


class MemoryContactsStore:
    def __init__(self) -> None:
        self.companies: dict[str, Company] = {}
        self.contacts: dict[str, Contact] = {}
        self.interactions: dict[str, Interaction] = {}
        self.merges: dict[tuple[str, str], MergeRecord] = {}
        self.outbox: list[CloudEvent] = []
        self.locks = DocLocks()

    def for_workspace(self, workspace_id: str) -> MemoryWorkspaceStore:
        return MemoryWorkspaceStore(self, workspace_id)

    async def pending_merges(self) -> list[MergeRecord]:
        return [copy.deepcopy(m) for m in self.merges.values() if m.status != "done"]

    def events_of_type(self, event_type: str) -> list[CloudEvent]:
        return [event for event in self.outbox if event.type == event_type]


def _email_key_of(contact: Contact) -> str:
    return f"merged:{contact.id}" if contact.merged_into else email_key(contact)


class MemoryWorkspaceStore:
    def __init__(self, root: MemoryContactsStore, workspace_id: str) -> None:
        self._root = root
        self.workspace_id = workspace_id

    def _mine(self, rows: dict[str, T]) -> list[T]:
        return [r for r in rows.values() if r.workspace_id == self.workspace_id]  # type: ignore[attr-defined]

    def _emit(self, events: list[CloudEvent]) -> None:
        self._root.outbox.extend(events)

    # locking (as in the Mongo adapter: a use case's read-modify-write of a document)
    def lock_contacts(self, ids: Iterable[str]) -> contextlib.AbstractAsyncContextManager[None]:
        return hold_locks(self._root.locks, [DocLocks.key(CONTACTS, i) for i in ids])

    def lock_company(self, company_id: str) -> contextlib.AbstractAsyncContextManager[None]:
        return hold_locks(self._root.locks, [DocLocks.key(COMPANIES, company_id)])

    # companies
    async def insert_company(self, company: Company, events: list[CloudEvent]) -> None:
        company.workspace_id = self.workspace_id
        if company.domain:
            for other in self._mine(self._root.companies):
                if other.domain == company.domain:
                    raise DomainTaken(other.id)
        self._root.companies[company.id] = copy.deepcopy(company)
        self._emit(events)

    async def get_companies(self, ids: list[str]) -> list[Company]:
        found = [self._root.companies.get(i) for i in ids]
        return [copy.deepcopy(c) for c in found if c and c.workspace_id == self.workspace_id]

    async def update_company(self, company: Company, events: list[CloudEvent]) -> bool:
        current = self._root.companies.get(company.id)
        if current is None or current.workspace_id != self.workspace_id:
            return False
        if current.version != company.version:
            return False
        if company.domain:
            for other in self._mine(self._root.companies):
                if other.id != company.id and other.domain == company.domain:
                    raise DomainTaken(other.id)
        company.version += 1
        self._root.companies[company.id] = copy.deepcopy(company)
        self._emit(events)
        return True

    async def find_company_by_domain(self, domain: str) -> Company | None:
        for company in self._mine(self._root.companies):
            if company.domain == domain:
                return copy.deepcopy(company)
        return None

    async def find_companies_by_name_keys(self, keys: list[str]) -> list[Company]:
        wanted = set(keys)
        found = [c for c in self._mine(self._root.companies) if name_key(c.name) in wanted]
        found.sort(key=lambda c: (c.created_at, c.id))
        return copy.deepcopy(found)

    async def list_companies(self, query: CompanyQuery) -> Page[Company]:
        def keep(c: Company) -> bool:
            if c.deleted and not query.include_deleted:
                return False
            if query.text and query.text.lower() not in " ".join(
                filter(None, [name_key(c.name), c.domain])
            ):
                return False
            if query.owner_id is not None and c.owner_id != query.owner_id:
                return False
            if query.tag is not None and query.tag not in c.tags:
                return False
            return query.industry is None or c.industry == query.industry

        rows = filter(keep, self._mine(self._root.companies))
        return _page(rows, query.order_field, query.descending, query.after, query.first)

    # contacts
    def _check_email_unique(self, contact: Contact) -> None:
        key = _email_key_of(contact)
        for other in self._mine(self._root.contacts):
            if other.id != contact.id and _email_key_of(other) == key:
                raise EmailTaken(other.id)

    async def insert_contact(self, contact: Contact, events: list[CloudEvent]) -> None:
        contact.workspace_id = self.workspace_id
        self._check_email_unique(contact)
        self._root.contacts[contact.id] = copy.deepcopy(contact)
        self._emit(events)

    async def get_contacts(self, ids: list[str]) -> list[Contact]:
        found = [self._root.contacts.get(i) for i in ids]
        return [copy.deepcopy(c) for c in found if c and c.workspace_id == self.workspace_id]

    async def update_contact(self, contact: Contact, events: list[CloudEvent]) -> bool:
        current = self._root.contacts.get(contact.id)
        if current is None or current.workspace_id != self.workspace_id:
            return False
        if current.version != contact.version:
            return False
        self._check_email_unique(contact)
        contact.version += 1
        self._root.contacts[contact.id] = copy.deepcopy(contact)
        self._emit(events)
        return True

    async def find_contact_by_email_key(self, email: str) -> Contact | None:
        for contact in self._mine(self._root.contacts):
            if _email_key_of(contact) == email:
                return copy.deepcopy(contact)
        return None

    def _matching(self, test: Callable[[Contact], bool]) -> list[Contact]:
        rows = [c for c in self._mine(self._root.contacts) if test(c)]
        rows.sort(key=lambda c: c.id)
        return copy.deepcopy(rows)

    async def find_contacts_with_emails(self, emails: list[str]) -> list[Contact]:
        return self._matching(lambda c: bool(set(c.emails) & set(emails)))

    async def find_contacts_with_phones(self, phones: list[str]) -> list[Contact]:
        return self._matching(lambda c: bool(set(c.phones) & set(phones)))

    async def contacts_of_company(self, company_id: str, limit: int) -> list[Contact]:
        return self._matching(lambda c: c.company_id == company_id and not c.deleted)[:limit]

    async def set_company_name(self, company_id: str, name: str | None) -> None:
        for contact in self._mine(self._root.contacts):
            if contact.company_id == company_id:
                contact.company_name = name

    async def list_contacts(self, query: ContactQuery) -> Page[Contact]:
        def keep(c: Contact) -> bool:
            if c.deleted and not query.include_deleted:
                return False
            if query.text:
                needle = query.text.lower()
                if needle not in search_text(c) and needle not in (c.company_name or ""):
                    return False
            checks = [
                query.owner_id is None or c.owner_id == query.owner_id,
                query.lifecycle_stage is None or c.lifecycle_stage == query.lifecycle_stage,
                query.tag is None or query.tag in c.tags,
                query.company_id is None or c.company_id == query.company_id,
                query.created_after is None or c.created_at >= query.created_after,
                query.created_before is None or c.created_at < query.created_before,
            ]
            return all(checks)

        rows = filter(keep, self._mine(self._root.contacts))
        return _page(rows, query.order_field, query.descending, query.after, query.first)

    # interactions
    async def insert_interaction(self, interaction: Interaction, events: list[CloudEvent]) -> bool:
        if interaction.id in self._root.interactions:
            return False
        interaction.workspace_id = self.workspace_id
        self._root.interactions[interaction.id] = copy.deepcopy(interaction)
        self._emit(events)
        return True

    def _timeline(self, contact_id: str | None, company_id: str | None) -> list[Interaction]:
        return [
            i
            for i in self._mine(self._root.interactions)
            if (contact_id is None or contact_id in i.contact_ids)
            and (company_id is None or i.company_id == company_id)
        ]

    async def get_interactions(self, ids: list[str]) -> list[Interaction]:
        found = [self._root.interactions.get(i) for i in ids]
        return [copy.deepcopy(i) for i in found if i and i.workspace_id == self.workspace_id]

    async def list_interactions(self, query: InteractionQuery) -> Page[Interaction]:
        rows = self._timeline(query.contact_id, query.company_id)
        return _page(rows, "occurred_at", True, query.after, query.first)

    async def count_interactions_of(self, contact_id: str) -> int:
        return len(self._timeline(contact_id, None))

    async def interaction_ids_of(self, contact_id: str, limit: int) -> list[str]:
        return sorted(i.id for i in self._timeline(contact_id, None))[:limit]

    async def move_interactions(self, from_contact: str, to_contact: str) -> int:
        moved = 0
        for interaction in self._timeline(from_contact, None):
            ids = [to_contact if i == from_contact else i for i in interaction.contact_ids]
            interaction.contact_ids = list(dict.fromkeys(ids))
            moved += 1
        return moved

    # merges
    async def insert_merge(self, record: MergeRecord) -> bool:
        key = (self.workspace_id, record.duplicate_id)
        if key in self._root.merges:
            return False
        self._root.merges[key] = copy.deepcopy(record)
        return True

    async def get_merge(self, duplicate_id: str) -> MergeRecord | None:
        return copy.deepcopy(self._root.merges.get((self.workspace_id, duplicate_id)))

    async def finish_merge(self, duplicate_id: str) -> None:
        record = self._root.merges.get((self.workspace_id, duplicate_id))
        if record is not None:
            record.status = "done"
            record.finished_at = utcnow()

    async def apply_merge_to_survivor(
        self, survivor: Contact, duplicate_id: str, events: list[CloudEvent]
    ) -> bool:
        current = self._root.contacts.get(survivor.id)
        if current is None or current.workspace_id != self.workspace_id:
            return False
        if duplicate_id in current.merged_from:
            return False
        survivor.merged_from = [*current.merged_from, duplicate_id]
        survivor.version = current.version + 1
        self._root.contacts[survivor.id] = copy.deepcopy(survivor)
        self._emit(events)
        return True

    async def mark_merged(
        self, duplicate: Contact, survivor_id: str, events: list[CloudEvent]
    ) -> bool:
        current = self._root.contacts.get(duplicate.id)
        if current is None or current.workspace_id != self.workspace_id:
            return False
        if current.merged_into is not None:
            return False
        current.merged_into = survivor_id
        current.deleted_at = duplicate.deleted_at or utcnow()
        current.updated_at = duplicate.updated_at
        current.updated_by = duplicate.updated_by
        current.version += 1
        self._emit(events)
        return True
