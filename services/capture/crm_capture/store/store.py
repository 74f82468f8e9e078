"""The store port implemented once, over the kit's records: on MongoDB through the kit's
write path (`mongo.py`), in memory for unit tests (`memory.py`). Everything the hot paths
read (a captured email by its Message-ID, a meeting by its UID, a visitor by its cookie, a
site by its key, a workspace by its capture address) is read by `_id`, which the embedded
database serves from its index; the lists that filter on other fields are the operators'
views, not hot paths."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from crm_kit.audit_read import AuditTrail
from crm_kit.clock import utcnow
from crm_kit.filters import ALL, Eq
from crm_kit.pagination import Order, Page
from crm_kit.records import Duplicate, Records, RecordSource

from ..domain.email import CapturedEmail
from ..domain.imap_account import ImapAccount
from ..domain.meeting import CapturedMeeting
from ..domain.queries import EmailQuery, SuggestionQuery
from ..domain.settings import CaptureSettings
from ..domain.suggestion import Suggestion
from ..domain.tracking import Site, Visitor, VisitSession
from .documents import (
    EMAIL,
    IMAP_ACCOUNT,
    INBOUND_KEY,
    LEASE,
    MEETING,
    SESSION,
    SETTINGS_RECORD,
    SITE,
    SUGGESTION,
    VISITOR,
    InboundKey,
    Lease,
)
from .filters import ENABLED, emails_matching, imap_accounts_of, suggestions_matching
from .port import Change

T = TypeVar("T")

NEWEST_SEEN = Order("last_seen_at", descending=True)
NEWEST_CAPTURED = Order("captured_at", descending=True)
NEWEST_STARTED = Order("started_at", descending=True)


async def _added(records: Records[T], record: T) -> bool:
    try:
        await records.insert(record)
    except Duplicate:
        return False
    return True


async def _one(records: Records[T], record_id: str) -> T | None:
    found = await records.get([record_id])
    return found[0] if found else None


class RecordStore:
    """The root store (every workspace): `for_workspace` scopes it."""

    def __init__(self, source: RecordSource) -> None:
        self.source = source

    def for_workspace(self, workspace_id: str) -> WorkspaceRecordStore:
        return WorkspaceRecordStore(self.source, workspace_id)

    async def workspace_of_inbound_key(self, key: str) -> str | None:
        found = await _one(self.source.records(INBOUND_KEY, None), key)
        return found.workspace_id if found else None

    async def site(self, site_id: str) -> Site | None:
        return await _one(self.source.records(SITE, None), site_id)

    async def enabled_imap_accounts(self) -> list[ImapAccount]:
        return await self.source.records(IMAP_ACCOUNT, None).find(ENABLED)


class WorkspaceRecordStore:
    def __init__(self, source: RecordSource, workspace_id: str) -> None:
        self.workspace_id = workspace_id
        self.settings = source.records(SETTINGS_RECORD, workspace_id)
        self.keys = source.records(INBOUND_KEY, workspace_id)
        self.emails = source.records(EMAIL, workspace_id)
        self.meetings = source.records(MEETING, workspace_id)
        self.suggestions = source.records(SUGGESTION, workspace_id)
        self.imap_accounts = source.records(IMAP_ACCOUNT, workspace_id)
        self.leases = source.records(LEASE, workspace_id)
        self.sites = source.records(SITE, workspace_id)
        self.visitors = source.records(VISITOR, workspace_id)
        self.sessions = source.records(SESSION, workspace_id)
        self.audit_trail = AuditTrail(source, workspace_id)

    # settings ---------------------------------------------------------------------------
    async def get_settings(self) -> CaptureSettings | None:
        return await _one(self.settings, self.workspace_id)

    async def add_settings(self, settings: CaptureSettings) -> bool:
        return await _added(self.settings, settings)

    async def change_settings(self, change: Change[CaptureSettings]) -> CaptureSettings | None:
        return await self.settings.change(self.workspace_id, change)

    async def claim_inbound_key(self, key: str) -> None:
        await self.keys.put(InboundKey(key, self.workspace_id))

    # emails -----------------------------------------------------------------------------
    async def add_email(self, email: CapturedEmail) -> bool:
        return await _added(self.emails, email)

    async def get_emails(self, ids: Sequence[str]) -> list[CapturedEmail]:
        return await self.emails.get(ids)

    async def change_email(
        self, email_id: str, change: Change[CapturedEmail]
    ) -> CapturedEmail | None:
        return await self.emails.change(email_id, change)

    async def list_emails(self, query: EmailQuery) -> Page[CapturedEmail]:
        return await self.emails.page(
            emails_matching(query), order=NEWEST_CAPTURED, after=query.after, first=query.first
        )

    # meetings ---------------------------------------------------------------------------
    async def get_meeting(self, meeting_id: str) -> CapturedMeeting | None:
        return await _one(self.meetings, meeting_id)

    async def add_meeting(self, meeting: CapturedMeeting) -> bool:
        return await _added(self.meetings, meeting)

    async def change_meeting(
        self, meeting_id: str, change: Change[CapturedMeeting]
    ) -> CapturedMeeting | None:
        return await self.meetings.change(meeting_id, change)

    # suggestions ------------------------------------------------------------------------
    async def get_suggestions(self, ids: Sequence[str]) -> list[Suggestion]:
        return await self.suggestions.get(ids)

    async def add_suggestion(self, suggestion: Suggestion) -> bool:
        return await _added(self.suggestions, suggestion)

    async def change_suggestion(
        self, suggestion_id: str, change: Change[Suggestion]
    ) -> Suggestion | None:
        return await self.suggestions.change(suggestion_id, change)

    async def list_suggestions(self, query: SuggestionQuery) -> Page[Suggestion]:
        return await self.suggestions.page(
            suggestions_matching(query), order=NEWEST_SEEN, after=query.after, first=query.first
        )

    # mailboxes --------------------------------------------------------------------------
    async def add_imap_account(self, account: ImapAccount) -> None:
        await self.imap_accounts.insert(account)

    async def get_imap_accounts(self, ids: Sequence[str]) -> list[ImapAccount]:
        return await self.imap_accounts.get(ids)

    async def change_imap_account(
        self, account_id: str, change: Change[ImapAccount]
    ) -> ImapAccount | None:
        return await self.imap_accounts.change(account_id, change)

    async def list_imap_accounts(self, user_id: str | None) -> list[ImapAccount]:
        return await self.imap_accounts.find(imap_accounts_of(user_id))

    async def take_poll_lease(self, lease_id: str) -> bool:
        return await _added(self.leases, Lease(lease_id, self.workspace_id, utcnow()))

    # tracking ---------------------------------------------------------------------------
    async def add_site(self, site: Site) -> None:
        await self.sites.insert(site)

    async def get_sites(self, ids: Sequence[str]) -> list[Site]:
        return await self.sites.get(ids)

    async def change_site(self, site_id: str, change: Change[Site]) -> Site | None:
        return await self.sites.change(site_id, change)

    async def list_sites(self) -> list[Site]:
        return await self.sites.find(ALL)

    async def get_visitor(self, visitor_id: str) -> Visitor | None:
        return await _one(self.visitors, visitor_id)

    async def add_visitor(self, visitor: Visitor) -> bool:
        return await _added(self.visitors, visitor)

    async def change_visitor(self, visitor_id: str, change: Change[Visitor]) -> Visitor | None:
        return await self.visitors.change(visitor_id, change)

    async def get_sessions(self, ids: Sequence[str]) -> list[VisitSession]:
        return await self.sessions.get(ids)

    async def add_session(self, session: VisitSession) -> bool:
        return await _added(self.sessions, session)

    async def change_session(
        self, session_id: str, change: Change[VisitSession]
    ) -> VisitSession | None:
        return await self.sessions.change(session_id, change)

    async def sessions_of_contact(self, contact_id: str, limit: int) -> list[VisitSession]:
        return await self.sessions.find(
            Eq("contact_id", contact_id), order=NEWEST_STARTED, limit=limit
        )
