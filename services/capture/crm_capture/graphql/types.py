"""GraphQL object types. Each wraps a domain record and exposes it."""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.types import Info

from ..domain import email as emails
from ..domain import imap_account as mailboxes
from ..domain import meeting as meetings
from ..domain import settings as capture_settings
from ..domain import suggestion as suggestions
from ..domain import tracking
from ..usecases import lookups
from ..usecases.meetings import MeetingOutcome
from ..usecases.settings import inbound_address
from .context import GraphQLContext
from .enums import Direction, EmailStatus, Security, SuggestionSource, SuggestionStatus

ContextInfo = Info[GraphQLContext, None]


def _id(value: str | None) -> strawberry.ID | None:
    return strawberry.ID(value) if value else None


@strawberry.type(description="A workspace's capture settings, as the caller sees them.")
class CaptureSettings:
    inbound_address: str = strawberry.field(
        description="BCC or forward mail here to capture it (from a workspace address)."
    )
    internal_domains: list[str] = strawberry.field(
        description="The workspace's own domains: their addresses are reps, never contacts."
    )
    excluded_domains: list[str] = strawberry.field(description="Never captured.")
    excluded_addresses: list[str] = strawberry.field(description="Never captured.")
    body_limit: int = strawberry.field(description="Characters of a body kept (0: none).")
    my_addresses: list[str] = strawberry.field(description="The caller's own addresses.")
    my_capture_paused: bool
    updated_at: datetime

    @classmethod
    def of(
        cls, settings: capture_settings.CaptureSettings, domain: str, user: str
    ) -> CaptureSettings:
        return cls(
            inbound_address=inbound_address(settings, domain),
            internal_domains=list(settings.internal_domains),
            excluded_domains=list(settings.excluded_domains),
            excluded_addresses=list(settings.excluded_addresses),
            body_limit=settings.body_limit,
            my_addresses=settings.addresses_of(user),
            my_capture_paused=settings.paused(user),
            updated_at=settings.updated_at,
        )


@strawberry.federation.type(keys=["id"], description="A contact (of the contacts service).")
class Contact:
    id: strawberry.ID

    @classmethod
    def resolve_reference(cls, id: strawberry.ID) -> Contact:
        return cls(id=id)

    @strawberry.field(description="The contact's web sessions, newest first.")
    async def web_sessions(self, info: ContextInfo, first: int = 20) -> list[WebSession]:
        found = await lookups.sessions_of_contact(info.context.scope, str(self.id), first)
        return [WebSession.of(s) for s in found]


@strawberry.type
class CapturedAttachment:
    name: str | None
    content_type: str
    size: int = strawberry.field(description="Bytes (the content is not stored).")


@strawberry.type(description="An email captured (or ignored) once per Message-ID.")
class CapturedEmail:
    id: strawberry.ID = strawberry.field(description="Also the id of its interaction.")
    message_id: str
    thread_id: str
    status: EmailStatus
    reason: str | None
    subject: str | None
    sender: str | None
    participants: list[str]
    direction: Direction | None
    occurred_at: datetime
    summary: str | None
    attachments: list[CapturedAttachment]
    forwarded: bool
    contact_ids: list[strawberry.ID]
    company_id: strawberry.ID | None
    deal_id: strawberry.ID | None
    rep_user_id: str | None
    suggestion_ids: list[strawberry.ID]
    channels: list[str]
    captured_at: datetime

    @classmethod
    def of(cls, email: emails.CapturedEmail) -> CapturedEmail:
        return cls(
            id=strawberry.ID(email.id),
            message_id=email.message_id,
            thread_id=email.thread_id,
            status=email.status,
            reason=email.reason,
            subject=email.subject,
            sender=email.sender,
            participants=list(email.participants),
            direction=email.direction,
            occurred_at=email.occurred_at,
            summary=email.summary,
            attachments=[
                CapturedAttachment(name=a.name, content_type=a.content_type, size=a.size)
                for a in email.attachments
            ],
            forwarded=email.forwarded,
            contact_ids=[strawberry.ID(i) for i in email.contact_ids],
            company_id=_id(email.company_id),
            deal_id=_id(email.deal.id if email.deal else None),
            rep_user_id=email.rep_user_id,
            suggestion_ids=[strawberry.ID(i) for i in email.suggestion_ids],
            channels=list(email.channels),
            captured_at=email.captured_at,
        )

    @strawberry.field
    def contacts(self) -> list[Contact]:
        return [Contact(id=i) for i in self.contact_ids]


@strawberry.type
class MeetingOccurrence:
    interaction_id: strawberry.ID
    recurrence_id: str | None = strawberry.field(description="Null for a single meeting.")
    starts_at: datetime
    ends_at: datetime
    summary: str | None
    location: str | None
    cancelled: bool
    revision: int


@strawberry.type(description="A meeting captured once per invitation UID.")
class CapturedMeeting:
    id: strawberry.ID
    uid: str
    sequence: int
    summary: str | None
    location: str | None
    organizer: str | None
    participants: list[str]
    contact_ids: list[strawberry.ID]
    company_id: strawberry.ID | None
    deal_id: strawberry.ID | None
    cancelled: bool
    occurrences: list[MeetingOccurrence]

    @classmethod
    def of(cls, meeting: meetings.CapturedMeeting) -> CapturedMeeting:
        return cls(
            id=strawberry.ID(meeting.id),
            uid=meeting.uid,
            sequence=meeting.sequence,
            summary=meeting.summary,
            location=meeting.location,
            organizer=meeting.organizer,
            participants=list(meeting.participants),
            contact_ids=[strawberry.ID(i) for i in meeting.contact_ids],
            company_id=_id(meeting.company_id),
            deal_id=_id(meeting.deal.id if meeting.deal else None),
            cancelled=meeting.cancelled,
            occurrences=[
                MeetingOccurrence(
                    interaction_id=strawberry.ID(o.interaction_id),
                    recurrence_id=o.key or None,
                    starts_at=o.starts_at,
                    ends_at=o.ends_at,
                    summary=o.summary,
                    location=o.location,
                    cancelled=o.cancelled,
                    revision=o.revision,
                )
                for o in meeting.occurrences
            ],
        )


@strawberry.type
class MeetingCaptureResult:
    uid: str
    status: str = strawberry.field(
        description="captured, updated, cancelled, unchanged (an older or repeated version) "
        "or ignored (see reason)."
    )
    reason: str | None
    meeting: CapturedMeeting | None

    @classmethod
    def of(cls, outcome: MeetingOutcome) -> MeetingCaptureResult:
        return cls(
            uid=outcome.uid,
            status=outcome.status,
            reason=outcome.reason,
            meeting=CapturedMeeting.of(outcome.meeting) if outcome.meeting else None,
        )


@strawberry.type
class EmailCaptureResult:
    email: CapturedEmail
    duplicate: bool = strawberry.field(
        description="It was captured before (by another way in, or by another rep)."
    )
    meetings: list[MeetingCaptureResult] = strawberry.field(
        description="The meetings an invitation carried."
    )


@strawberry.type(description="An address captured that matches no contact.")
class CaptureSuggestion:
    id: strawberry.ID
    email: str
    name: str | None
    domain: str
    company_id: strawberry.ID | None = strawberry.field(
        description="The company its domain matched (the new contact's, once accepted)."
    )
    source: SuggestionSource
    status: SuggestionStatus
    seen_count: int
    first_seen_at: datetime
    last_seen_at: datetime
    contact_id: strawberry.ID | None
    captured_email_ids: list[strawberry.ID]

    @classmethod
    def of(cls, suggestion: suggestions.Suggestion) -> CaptureSuggestion:
        return cls(
            id=strawberry.ID(suggestion.id),
            email=suggestion.email,
            name=suggestion.name,
            domain=suggestion.domain,
            company_id=_id(suggestion.company_id),
            source=suggestion.source,
            status=suggestion.status,
            seen_count=suggestion.seen_count,
            first_seen_at=suggestion.first_seen_at,
            last_seen_at=suggestion.last_seen_at,
            contact_id=_id(suggestion.contact_id),
            captured_email_ids=[strawberry.ID(i) for i in suggestion.email_ids],
        )


@strawberry.type(description="A mailbox polled over IMAP (its password is never shown).")
class Mailbox:
    id: strawberry.ID
    host: str
    port: int
    security: Security
    username: str
    folder: str
    enabled: bool
    last_uid: int
    captured: int
    fetched: int
    last_polled_at: datetime | None
    last_error: str | None

    @classmethod
    def of(cls, account: mailboxes.ImapAccount) -> Mailbox:
        return cls(
            id=strawberry.ID(account.id),
            host=account.host,
            port=account.port,
            security=account.security,
            username=account.username,
            folder=account.folder,
            enabled=account.enabled,
            last_uid=account.last_uid,
            captured=account.captured,
            fetched=account.fetched,
            last_polled_at=account.last_polled_at,
            last_error=account.last_error,
        )


@strawberry.type(description="A site whose visits are tracked.")
class TrackingSite:
    id: strawberry.ID = strawberry.field(description="The public site key the snippet carries.")
    name: str
    domains: list[str]
    require_consent: bool
    hot_paths: list[str]
    hot_threshold: int
    hot_window_days: int
    enabled: bool
    snippet: str = strawberry.field(description="The tag to put on the site's pages.")

    @classmethod
    def of(cls, site: tracking.Site, public_url: str) -> TrackingSite:
        src = f"{public_url.rstrip('/')}/t/s.js"
        return cls(
            id=strawberry.ID(site.id),
            name=site.name,
            domains=list(site.domains),
            require_consent=site.require_consent,
            hot_paths=list(site.hot_paths),
            hot_threshold=site.hot_threshold,
            hot_window_days=site.hot_window_days,
            enabled=site.enabled,
            snippet=f'<script async src="{src}" data-site="{site.id}"></script>',
        )


@strawberry.type
class WebPageView:
    url: str
    path: str
    title: str | None
    referrer: str | None
    utm_source: str | None
    utm_medium: str | None
    utm_campaign: str | None
    at: datetime
    duration_seconds: int | None


@strawberry.type(description="One visit of a site: page views at most 30 minutes apart.")
class WebSession:
    id: strawberry.ID = strawberry.field(description="Also the id of its interaction.")
    started_at: datetime
    last_at: datetime
    page_count: int
    duration_seconds: int
    pages: list[WebPageView]

    @classmethod
    def of(cls, session: tracking.VisitSession) -> WebSession:
        return cls(
            id=strawberry.ID(session.id),
            started_at=session.started_at,
            last_at=session.last_at,
            page_count=session.page_count,
            duration_seconds=session.duration_seconds,
            pages=[
                WebPageView(
                    url=p.url,
                    path=p.path,
                    title=p.title,
                    referrer=p.referrer,
                    utm_source=p.utm.source if p.utm else None,
                    utm_medium=p.utm.medium if p.utm else None,
                    utm_campaign=p.utm.campaign if p.utm else None,
                    at=p.at,
                    duration_seconds=p.duration_seconds,
                )
                for p in session.pages
            ],
        )
