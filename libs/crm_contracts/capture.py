"""Events published by the capture service and its request/reply endpoints.

Capture turns emails, calendar invitations and web visits into interactions without
anyone typing them. It never writes another service's data: each captured interaction
travels as one of these events, and the contacts service turns it into (or updates, or
removes) the interaction whose id the event names (`interactionId`, derived from what was
captured, so a redelivered or repeated event changes nothing; `revision` orders the
versions of one interaction). Automation rules may trigger on them too: the fields a rule
needs to find its deal, contact, company and owner are named as the tasks service's
rules look for them (`dealId`, `deal.ownerId`, `contactIds`, `companyId`, `loggedBy`).
"""

from __future__ import annotations

from .audit_trail import AuditTrailReply, AuditTrailRequest
from .base import Payload, UtcDateTime
from .endpoints import COMMON_ERRORS, RpcEndpoint
from .envelope import event_subject
from .streams import rpc_subject

SERVICE = "capture"

EMAIL_CAPTURED = event_subject(SERVICE, "email", "captured")
MEETING_CAPTURED = event_subject(SERVICE, "meeting", "captured")
MEETING_CANCELLED = event_subject(SERVICE, "meeting", "cancelled")
VISIT_RECORDED = event_subject(SERVICE, "visit", "recorded")
HOT_LEAD_DETECTED = event_subject(SERVICE, "hot_lead", "detected")
SUGGESTION_CREATED = event_subject(SERVICE, "suggestion", "created")

RPC_EMAIL_CAPTURE = rpc_subject(SERVICE, "email", "capture")
RPC_AUDIT_TRAIL = rpc_subject(SERVICE, "audit", "trail")

# What `source` says on the interactions the contacts service makes of these events.
INTERACTION_SOURCE = "capture"


class DealRef(Payload):
    """The open deal a captured interaction was linked to, as the deals service said when
    it was captured."""

    id: str
    title: str | None = None
    stage_key: str | None = None
    status: str | None = None
    owner_id: str | None = None
    pipeline_id: str | None = None


class CapturedInteraction(Payload):
    """What every captured interaction carries: enough for the contacts service to write
    the interaction, and for a rule to find what it is about."""

    interaction_id: str  # the interaction's id on the timeline (derived, stable)
    revision: int  # higher wins: a lower or equal revision of one interaction is a repeat
    kind: str  # email, meeting, web_visit
    occurred_at: UtcDateTime
    direction: str | None = None  # inbound, outbound (emails)
    subject: str | None = None
    summary: str | None = None
    participants: list[str] = []  # addresses (emails, meetings)
    duration_seconds: int | None = None
    contact_ids: list[str] = []
    company_id: str | None = None
    deal_id: str | None = None
    deal: DealRef | None = None
    logged_by: str | None = None  # the rep's user id when known


class Attachment(Payload):
    name: str | None = None
    content_type: str
    size: int  # bytes (the content is not stored)


class EmailCaptured(CapturedInteraction):
    message_id: str
    thread_id: str
    channel: str  # smtp, imap, upload
    forwarded: bool = False
    attachments: list[Attachment] = []


class MeetingCaptured(CapturedInteraction):
    """A meeting occurrence, new or changed (a higher `sequence` of its invitation)."""

    uid: str
    recurrence_id: str | None = None  # the occurrence's original start, for a series
    sequence: int = 0
    ends_at: UtcDateTime | None = None
    location: str | None = None
    organizer: str | None = None
    channel: str  # smtp, imap, upload


class MeetingCancelled(Payload):
    """A meeting occurrence was cancelled (or left its series): its interaction goes."""

    interaction_id: str
    revision: int
    uid: str
    recurrence_id: str | None = None
    sequence: int = 0
    occurred_at: UtcDateTime
    contact_ids: list[str] = []
    company_id: str | None = None
    logged_by: str | None = None


class UtmTags(Payload):
    source: str | None = None
    medium: str | None = None
    campaign: str | None = None
    term: str | None = None
    content: str | None = None


class PageView(Payload):
    url: str
    path: str
    title: str | None = None
    referrer: str | None = None
    utm: UtmTags | None = None
    at: UtcDateTime
    duration_seconds: int | None = None


class VisitRecorded(CapturedInteraction):
    """A web session of an identified visitor (new, or grown by a page view): one
    `web_visit` interaction per session."""

    session_id: str
    visitor_id: str
    site_id: str
    ended_at: UtcDateTime
    page_count: int
    pages: list[PageView] = []  # the first pages of the session (bounded)


class HotLeadDetected(Payload):
    """An identified visitor viewed the site's hot pages (pricing...) often enough within
    the window: sent once per contact and window."""

    contact_id: str
    contact_ids: list[str] = []
    company_id: str | None = None
    site_id: str
    visitor_id: str
    hot_views: int
    window_days: int
    first_at: UtcDateTime
    last_at: UtcDateTime
    paths: list[str] = []


class SuggestionCreated(Payload):
    """An address captured that matches no contact: a rep may accept it (a contact is
    created) or reject it (it is never suggested again)."""

    suggestion_id: str
    email: str
    name: str | None = None
    domain: str
    company_id: str | None = None
    source: str  # email, meeting, web_form
    first_seen_at: UtcDateTime


# The tracking endpoints are public (browsers on customer sites call them) but the capture
# service, like every subgraph, is reached only through the gateway: the gateway forwards
# each tracking request as a `ForwardedHit` signed with an internal assertion for this
# audience (header `crm-assertion`, issuer `gateway`, bound to the forwarded body), so
# what capture trusts of the browser (its address, user agent, Do-Not-Track) is what the
# gateway saw.
TRACKING_AUDIENCE = "tracking:capture"
TRACKING_SNIPPET_PATH = "/track/snippet.js"
TRACKING_COLLECT_PATH = "/track/collect"


class BrowserInfo(Payload):
    ip: str
    user_agent: str | None = None
    do_not_track: bool = False  # DNT: 1 or Sec-GPC: 1
    origin: str | None = None
    referer: str | None = None


class ForwardedHit(Payload):
    browser: BrowserInfo
    body: str = ""  # the browser's request body, as sent (the snippet's JSON)


# Request/reply bodies (JSON, camelCase).


class EmailCaptureRequest(Payload):
    """A message to capture in the caller's workspace, as an upload (the caller's roles
    must allow writing)."""

    raw: str  # RFC 5322 text


class EmailCaptureReply(Payload):
    status: str  # captured, unmatched, ignored, excluded, paused, meeting
    duplicate: bool  # the workspace had captured this Message-ID already
    message_id: str
    interaction_id: str | None = None
    contact_ids: list[str] = []
    company_id: str | None = None
    deal_id: str | None = None
    suggestion_ids: list[str] = []


EVENTS: dict[str, type[Payload]] = {
    EMAIL_CAPTURED: EmailCaptured,
    MEETING_CAPTURED: MeetingCaptured,
    MEETING_CANCELLED: MeetingCancelled,
    VISIT_RECORDED: VisitRecorded,
    HOT_LEAD_DETECTED: HotLeadDetected,
    SUGGESTION_CREATED: SuggestionCreated,
}

ENDPOINTS: tuple[RpcEndpoint, ...] = (
    RpcEndpoint(
        RPC_AUDIT_TRAIL,
        "One page of the audit trail of the capture settings, a mailbox or a site (admins; "
        "the platform's `auditTrail(recordId)` asks each service).",
        AuditTrailRequest,
        AuditTrailReply,
        roles="read",
        errors=(*COMMON_ERRORS, "NOT_FOUND"),
    ),
    RpcEndpoint(
        RPC_EMAIL_CAPTURE,
        "Capture an RFC 5322 message as the caller (exactly once per workspace by Message-ID).",
        EmailCaptureRequest,
        EmailCaptureReply,
        roles="write",
        errors=COMMON_ERRORS,
    ),
)
