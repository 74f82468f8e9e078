"""The store port. One instance serves one workspace: it adds the workspace to every
filter and every document it writes, so no caller can forget it."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from crm_contracts.envelope import CloudEvent

from ..domain.model import Company, Contact, Interaction, MergeRecord, Page

Cursor = tuple[Any, str]


class EmailTaken(Exception):
    """The unique (workspace, primary email) index refused a write."""

    def __init__(self, existing_id: str | None) -> None:
        super().__init__(f"email already used by {existing_id}")
        self.existing_id = existing_id


class DomainTaken(Exception):
    def __init__(self, existing_id: str | None) -> None:
        super().__init__(f"domain already used by {existing_id}")
        self.existing_id = existing_id


@dataclass
class ContactQuery:
    first: int
    after: Cursor | None = None
    text: str | None = None
    owner_id: str | None = None
    lifecycle_stage: str | None = None
    tag: str | None = None
    company_id: str | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
    include_deleted: bool = False
    # created_at | updated_at | last_name_key
    order_field: str = "created_at"
    descending: bool = True


@dataclass
class CompanyQuery:
    first: int
    after: Cursor | None = None
    text: str | None = None
    owner_id: str | None = None
    tag: str | None = None
    industry: str | None = None
    include_deleted: bool = False
    # created_at | updated_at | name_key
    order_field: str = "created_at"
    descending: bool = True


@dataclass
class InteractionQuery:
    """A timeline, newest first: of one contact or of one company."""

    first: int
    after: Cursor | None = None
    contact_id: str | None = None
    company_id: str | None = None


class WorkspaceStore(Protocol):
    workspace_id: str

    # Hold documents' locks for a use case's whole read-modify-write: this process's
    # updates of one document then run one after another (FerretDB v1 does not isolate
    # concurrent updates of a document). Several contacts are locked in a fixed order.
    def lock_contacts(self, ids: Iterable[str]) -> contextlib.AbstractAsyncContextManager[None]: ...
    def lock_company(self, company_id: str) -> contextlib.AbstractAsyncContextManager[None]: ...

    # companies
    async def insert_company(self, company: Company, events: list[CloudEvent]) -> None: ...
    async def get_companies(self, ids: list[str]) -> list[Company]: ...
    async def update_company(self, company: Company, events: list[CloudEvent]) -> bool: ...
    async def find_company_by_domain(self, domain: str) -> Company | None: ...
    async def find_companies_by_name_keys(self, keys: list[str]) -> list[Company]: ...
    async def list_companies(self, query: CompanyQuery) -> Page[Company]: ...

    # contacts
    async def insert_contact(self, contact: Contact, events: list[CloudEvent]) -> None: ...
    async def get_contacts(self, ids: list[str]) -> list[Contact]: ...
    async def update_contact(self, contact: Contact, events: list[CloudEvent]) -> bool: ...
    async def find_contact_by_email_key(self, email: str) -> Contact | None: ...
    async def find_contacts_with_emails(self, emails: list[str]) -> list[Contact]: ...
    async def find_contacts_with_phones(self, phones: list[str]) -> list[Contact]: ...
    async def contacts_of_company(self, company_id: str, limit: int) -> list[Contact]: ...
    async def set_company_name(self, company_id: str, name: str | None) -> None: ...
    async def list_contacts(self, query: ContactQuery) -> Page[Contact]: ...

    # interactions
    async def insert_interaction(
        self, interaction: Interaction, events: list[CloudEvent]
    ) -> bool: ...
    async def get_interactions(self, ids: list[str]) -> list[Interaction]: ...
    async def list_interactions(self, query: InteractionQuery) -> Page[Interaction]: ...
    async def count_interactions_of(self, contact_id: str) -> int: ...
    async def interaction_ids_of(self, contact_id: str, limit: int) -> list[str]: ...
    async def move_interactions(self, from_contact: str, to_contact: str) -> int: ...

    # merges: each step is conditional, so repeating a step changes nothing
    async def insert_merge(self, record: MergeRecord) -> bool: ...
    async def get_merge(self, duplicate_id: str) -> MergeRecord | None: ...
    async def finish_merge(self, duplicate_id: str) -> None: ...
    async def apply_merge_to_survivor(
        self, survivor: Contact, duplicate_id: str, events: list[CloudEvent]
    ) -> bool: ...
    async def mark_merged(
        self, duplicate: Contact, survivor_id: str, events: list[CloudEvent]
    ) -> bool: ...


class ContactsStore(Protocol):
    def for_workspace(self, workspace_id: str) -> WorkspaceStore: ...

    async def pending_merges(self) -> list[MergeRecord]: ...
