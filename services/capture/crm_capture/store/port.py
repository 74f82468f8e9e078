"""The ports the use cases see, in domain objects.

- `CaptureStore` / `WorkspaceStore`: the service's own records, one workspace at a time
  (the store adds the workspace to every read and write). Read-modify-write goes through
  `change_*` (as in every service: the function may run again on a fresh read).
- `Directory`: what capture asks of the contacts and deals services (never their
  databases: request/reply over NATS, as the caller it is given).
- `SecretBox`: encrypts what must not be stored readable (mailbox passwords).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol, TypeVar

from crm_kit.audit_read import AuditTrail
from crm_kit.context import RequestContext
from crm_kit.pagination import Page
from crm_kit.records import Stale as ChangedMeanwhile

from ..domain.email import CapturedEmail
from ..domain.imap_account import ImapAccount
from ..domain.matching import (
    ContactExists,
    DealLink,
    DirectoryUnavailable,
    KnownCompany,
    KnownContact,
)
from ..domain.meeting import CapturedMeeting
from ..domain.queries import EmailQuery, SuggestionQuery
from ..domain.settings import CaptureSettings
from ..domain.suggestion import Suggestion
from ..domain.tracking import Site, Visitor, VisitSession

T = TypeVar("T")
Change = Callable[[T], Awaitable[bool]]

__all__ = [
    "CaptureStore",
    "Change",
    "ChangedMeanwhile",
    "ContactExists",
    "Directory",
    "DirectoryUnavailable",
    "SecretBox",
    "WorkspaceStore",
]


class WorkspaceStore(Protocol):
    # The audit log of the settings, mailboxes and sites (crm_kit.audit).
    audit_trail: AuditTrail

    @property
    def workspace_id(self) -> str: ...

    # settings
    async def get_settings(self) -> CaptureSettings | None: ...
    async def add_settings(self, settings: CaptureSettings) -> bool:
        """False when the workspace has settings already."""

    async def change_settings(self, change: Change[CaptureSettings]) -> CaptureSettings | None: ...
    async def claim_inbound_key(self, key: str) -> None:
        """Route mail to <key>@<capture domain> to this workspace."""

    # emails
    async def add_email(self, email: CapturedEmail) -> bool:
        """False when this message was captured already (same id)."""

    async def get_emails(self, ids: Sequence[str]) -> list[CapturedEmail]: ...
    async def change_email(
        self, email_id: str, change: Change[CapturedEmail]
    ) -> CapturedEmail | None: ...
    async def list_emails(self, query: EmailQuery) -> Page[CapturedEmail]: ...

    # meetings
    async def get_meeting(self, meeting_id: str) -> CapturedMeeting | None: ...
    async def add_meeting(self, meeting: CapturedMeeting) -> bool: ...
    async def change_meeting(
        self, meeting_id: str, change: Change[CapturedMeeting]
    ) -> CapturedMeeting | None: ...

    # suggestions
    async def get_suggestions(self, ids: Sequence[str]) -> list[Suggestion]: ...
    async def add_suggestion(self, suggestion: Suggestion) -> bool: ...
    async def change_suggestion(
        self, suggestion_id: str, change: Change[Suggestion]
    ) -> Suggestion | None: ...
    async def list_suggestions(self, query: SuggestionQuery) -> Page[Suggestion]: ...

    # mailboxes
    async def add_imap_account(self, account: ImapAccount) -> None: ...
    async def get_imap_accounts(self, ids: Sequence[str]) -> list[ImapAccount]: ...
    async def change_imap_account(
        self, account_id: str, change: Change[ImapAccount]
    ) -> ImapAccount | None: ...
    async def list_imap_accounts(self, user_id: str | None) -> list[ImapAccount]:
        """Enabled ones (of one user, or every user's)."""

    async def take_poll_lease(self, lease_id: str) -> bool:
        """True for exactly one caller per lease id (one poll of a mailbox at a time)."""

    # tracking
    async def add_site(self, site: Site) -> None: ...
    async def get_sites(self, ids: Sequence[str]) -> list[Site]: ...
    async def change_site(self, site_id: str, change: Change[Site]) -> Site | None: ...
    async def list_sites(self) -> list[Site]: ...
    async def get_visitor(self, visitor_id: str) -> Visitor | None: ...
    async def add_visitor(self, visitor: Visitor) -> bool: ...
    async def change_visitor(self, visitor_id: str, change: Change[Visitor]) -> Visitor | None: ...
    async def get_sessions(self, ids: Sequence[str]) -> list[VisitSession]: ...
    async def add_session(self, session: VisitSession) -> bool: ...
    async def change_session(
        self, session_id: str, change: Change[VisitSession]
    ) -> VisitSession | None: ...
    async def sessions_of_contact(self, contact_id: str, limit: int) -> list[VisitSession]:
        """Newest first."""


class CaptureStore(Protocol):
    def for_workspace(self, workspace_id: str) -> WorkspaceStore: ...
    async def workspace_of_inbound_key(self, key: str) -> str | None: ...
    async def site(self, site_id: str) -> Site | None:
        """A site by its public key, whichever workspace has it."""

    async def enabled_imap_accounts(self) -> list[ImapAccount]:
        """Every workspace's mailboxes to poll."""


class Directory(Protocol):
    """Contacts, companies and deals as their services answer, for `caller` (the user a
    capture acts for, or `service:capture`)."""

    async def contacts_by_emails(
        self, caller: RequestContext, emails: Sequence[str]
    ) -> dict[str, KnownContact]: ...
    async def companies_by_domains(
        self, caller: RequestContext, domains: Sequence[str]
    ) -> dict[str, KnownCompany]: ...
    async def create_contact(
        self,
        caller: RequestContext,
        *,
        email: str,
        first_name: str,
        last_name: str | None,
        company_id: str | None,
    ) -> KnownContact:
        """Raises ContactExists, or crm_kit.errors (Forbidden, BadUserInput) as the contacts
        service answers."""

    async def open_deals(
        self, caller: RequestContext, contact_ids: Sequence[str], company_id: str | None
    ) -> list[DealLink]:
        """Open deals of these contacts or of the company (none when deals is away)."""


class SecretBox(Protocol):
    def encrypt(self, plain: str) -> str: ...
    def decrypt(self, token: str) -> str: ...
