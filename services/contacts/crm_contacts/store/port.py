"""The store port: what the use cases ask of storage, in domain objects. One instance
serves one workspace: it adds the workspace to every read and write, so no caller can
forget it.

Read-modify-write goes through `change_*`: the store reads the record(s) and calls the
use case's function, which changes them and returns whether to write (or, for several,
which to write). The store keeps this process's changes of one record from interleaving
and makes the write conditional on what was read; a change that keeps losing to other
replicas raises `ChangedMeanwhile`. The function may run again on a fresh read, so it
must depend only on what it is given and on reads it makes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from typing import Protocol, TypeVar

from crm_kit.audit_read import AuditTrail
from crm_kit.context import RequestContext
from crm_kit.pagination import Page
from crm_kit.records import Stale as ChangedMeanwhile

from ..domain.company import Company
from ..domain.contact import Contact
from ..domain.interaction import Interaction
from ..domain.merge import MergeRecord
from ..domain.queries import CompanyQuery, ContactQuery, InteractionQuery

T = TypeVar("T")
Change = Callable[[T], Awaitable[bool]]
ChangeMany = Callable[[dict[str, T]], Awaitable[Sequence[T]]]

__all__ = [
    "Change",
    "ChangeMany",
    "ChangedMeanwhile",
    "ContactsStore",
    "DomainTaken",
    "EmailTaken",
    "WorkspaceStore",
]


class EmailTaken(Exception):
    """Another contact of the workspace has this primary email."""

    def __init__(self, existing_id: str | None) -> None:
        super().__init__(f"email already used by {existing_id}")
        self.existing_id = existing_id


class DomainTaken(Exception):
    """Another company of the workspace has this domain."""

    def __init__(self, existing_id: str | None) -> None:
        super().__init__(f"domain already used by {existing_id}")
        self.existing_id = existing_id


class WorkspaceStore(Protocol):
    @property
    def workspace_id(self) -> str: ...

    # The workspace's audit log (crm_kit.audit): the changes to its records.
    audit_trail: AuditTrail

    # companies
    async def add_company(self, company: Company) -> None:
        """Raises DomainTaken."""

    async def get_companies(self, ids: Sequence[str]) -> list[Company]: ...
    async def change_company(self, company_id: str, change: Change[Company]) -> Company | None:
        """None when there is no such company. Raises DomainTaken."""

    async def find_company_by_domain(self, domain: str) -> Company | None: ...
    async def find_companies_by_domains(self, domains: Sequence[str]) -> list[Company]:
        """Companies (deleted ones too) whose domain is one of these."""

    async def find_companies_by_name_keys(self, keys: Sequence[str]) -> list[Company]:
        """Oldest first."""

    async def list_companies(self, query: CompanyQuery) -> Page[Company]: ...

    # contacts
    async def add_contact(self, contact: Contact) -> None:
        """Raises EmailTaken."""

    async def get_contacts(self, ids: Sequence[str]) -> list[Contact]: ...
    async def change_contact(self, contact_id: str, change: Change[Contact]) -> Contact | None:
        """None when there is no such contact. Raises EmailTaken."""

    async def change_contacts(
        self, ids: Sequence[str], change: ChangeMany[Contact]
    ) -> Sequence[Contact]: ...
    async def find_contact_by_email_key(self, email: str) -> Contact | None:
        """The contact whose primary address (unique key) this is."""

    async def find_contacts_with_emails(self, emails: Sequence[str]) -> list[Contact]:
        """Contacts (merged ones excepted) holding any of these addresses, by id."""

    async def find_contacts_with_phones(self, phones: Sequence[str]) -> list[Contact]: ...
    async def contacts_of_company(self, company_id: str, limit: int) -> list[Contact]:
        """Live contacts of the company, by id."""

    async def set_company_name(self, company_id: str, name_key: str) -> None:
        """The company's (lower-cased) name on its contacts, for the text filter."""

    async def list_contacts(self, query: ContactQuery) -> Page[Contact]: ...

    # interactions
    async def add_interaction(self, interaction: Interaction) -> bool:
        """False when an interaction with this id exists (a repeat)."""

    async def get_interactions(self, ids: Sequence[str]) -> list[Interaction]: ...
    async def change_interaction(
        self, interaction_id: str, change: Change[Interaction]
    ) -> Interaction | None:
        """None when there is no such interaction."""

    async def list_interactions(self, query: InteractionQuery) -> Page[Interaction]: ...
    async def count_interactions_of(self, contact_id: str) -> int: ...
    async def interaction_ids_of(self, contact_id: str, limit: int) -> list[str]: ...
    async def move_interactions(self, from_contact: str, to_contact: str) -> int:
        """Safe to repeat: an interrupted move is finished by another."""

    # imports (crm_contracts.import_batches): a batch's events ride in one outbox document
    # named `batch_id` (the same when the batch is sent again)
    def prepare_companies(self, companies: Sequence[Company], batch_id: str) -> None:
        """Make ahead, without writing, what `add_companies` of these companies makes
        before it writes (an import batch, while the batch before it writes)."""

    async def add_companies(self, companies: Sequence[Company], batch_id: str) -> list[Company]:
        """One write for all; returns those refused (id or domain taken)."""

    async def add_contacts(self, contacts: Sequence[Contact], batch_id: str) -> list[Contact]:
        """One write for all; returns those refused (id or primary email taken)."""

    async def add_interactions(
        self, interactions: Sequence[Interaction], batch_id: str
    ) -> list[Interaction]:
        """One write for all; returns those refused (id taken)."""

    async def record_activities(
        self, latest: Mapping[str, datetime], now: datetime, batch_id: str
    ) -> list[Contact]:
        """Each contact's last activity moves forward to its time (`Contact.record_activity`:
        never back, never past `now`): one write for the batch's contacts, their audit
        entries in one outbox document. Returns the contacts it moved."""

    async def companies_with_keys(
        self, external_ids: Sequence[str], domains: Sequence[str]
    ) -> list[Company]:
        """Live companies holding one of these external ids or domains."""

    async def companies_with_name_keys(self, keys: Sequence[str]) -> list[Company]:
        """Live companies with one of these normalised names, the oldest first."""

    async def contacts_with_keys(
        self, external_ids: Sequence[str], emails: Sequence[str]
    ) -> list[Contact]:
        """Live, unmerged contacts holding one of these external ids or addresses."""

    async def interactions_with_external_ids(
        self, external_ids: Sequence[str]
    ) -> list[Interaction]:
        """Interactions on the timeline with these external ids."""

    async def imported_ids(self, kind: str, job_id: str) -> list[str]:
        """Ids of the `kind` records (companies, contacts, interactions) `job_id` created."""

    # merges
    async def add_merge(self, record: MergeRecord) -> bool:
        """False when a merge of that duplicate is recorded already."""

    async def get_merge(self, duplicate_id: str) -> MergeRecord | None: ...
    async def finish_merge(self, duplicate_id: str) -> None: ...


class ContactsStore(Protocol):
    def for_workspace(self, workspace_id: str) -> WorkspaceStore: ...

    async def pending_merges(self) -> list[MergeRecord]:
        """Merges a crash interrupted, in every workspace."""


class Deals(Protocol):
    """What contacts asks the deals service (NATS request/reply, acting as `caller`)."""

    async def visible(self, caller: RequestContext, deal_id: str) -> bool:
        """Whether `deal_id` names a deal of the caller's workspace that the caller sees;
        raises SERVICE_UNAVAILABLE (retryable) when deals cannot say."""
        ...
