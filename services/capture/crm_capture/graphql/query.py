"""Read resolvers: thin, they translate arguments and call the use cases."""

from __future__ import annotations

import strawberry

from crm_kit.audit_graphql import log_field
from crm_kit.ids import is_id
from crm_kit.relay_types import Connection, connection

from ..domain.queries import EmailQuery, SuggestionQuery
from ..usecases import lookups, mailboxes, settings, sites, suggestions
from .enums import EmailStatus, SuggestionStatus
from .paging import cursor_of, parse_after, parse_first
from .types import (
    CapturedEmail,
    CapturedMeeting,
    CaptureSettings,
    CaptureSuggestion,
    ContextInfo,
    Mailbox,
    TrackingSite,
)


@strawberry.type
class Query:
    capture_audit_log = log_field("capture settings, mailboxes and tracked sites")

    @strawberry.field(description="The workspace's capture settings (made on first read).")
    async def capture_settings(self, info: ContextInfo) -> CaptureSettings:
        scope = info.context.scope
        found = await settings.settings_of(scope)
        return CaptureSettings.of(found, scope.config.domain, scope.subject)

    @strawberry.field(description="Addresses captured that match no contact, newest first.")
    async def capture_suggestions(
        self,
        info: ContextInfo,
        status: SuggestionStatus | None = SuggestionStatus.PENDING,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[CaptureSuggestion]:
        query = SuggestionQuery(first=parse_first(first), after=parse_after(after), status=status)
        page = await suggestions.list_suggestions(info.context.scope, query)
        return connection(page, CaptureSuggestion.of, lambda s: cursor_of(s, "last_seen_at"))

    @strawberry.field(description="Emails captured (or ignored), newest captured first.")
    async def captured_emails(
        self,
        info: ContextInfo,
        status: EmailStatus | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[CapturedEmail]:
        query = EmailQuery(first=parse_first(first), after=parse_after(after), status=status)
        page = await lookups.list_emails(info.context.scope, query)
        return connection(page, CapturedEmail.of, lambda e: cursor_of(e, "captured_at"))

    @strawberry.field(description="A captured email by its id (= its interaction's id).")
    async def captured_email(self, info: ContextInfo, id: strawberry.ID) -> CapturedEmail | None:
        if not is_id(str(id)):
            return None
        found = await lookups.emails_by_ids(info.context.scope, [str(id)])
        email = found.get(str(id))
        return CapturedEmail.of(email) if email else None

    @strawberry.field(description="A captured meeting by its invitation's UID.")
    async def captured_meeting(self, info: ContextInfo, uid: str) -> CapturedMeeting | None:
        meeting = await lookups.meeting_by_uid(info.context.scope, uid)
        return CapturedMeeting.of(meeting) if meeting else None

    @strawberry.field(description="The caller's mailboxes polled over IMAP.")
    async def my_mailboxes(self, info: ContextInfo) -> list[Mailbox]:
        return [Mailbox.of(a) for a in await mailboxes.my_accounts(info.context.scope)]

    @strawberry.field(description="The sites whose visits are tracked.")
    async def tracking_sites(self, info: ContextInfo) -> list[TrackingSite]:
        scope = info.context.scope
        return [TrackingSite.of(s, scope.config.public_url) for s in await sites.list_sites(scope)]
