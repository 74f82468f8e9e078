"""The Mongo adapter's mapping between domain records and documents (`to_doc`/`from_doc`)
and how each kind of record is stored (`crm_kit.records.RecordType`). Lists of small
records are lists of sub-documents (never lists of lists: FerretDB v1 has no nested
arrays)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from crm_kit.records import RecordType

from ..config import (
    EMAILS,
    IMAP_ACCOUNTS,
    INBOUND_KEYS,
    LEASES,
    MEETINGS,
    SESSIONS,
    SETTINGS,
    SITES,
    SUGGESTIONS,
    VISITORS,
)
from ..domain.email import AttachmentRecord, CapturedEmail, Direction, EmailStatus
from ..domain.imap_account import ImapAccount, Security
from ..domain.matching import DealLink
from ..domain.meeting import CapturedMeeting, OccurrenceState
from ..domain.settings import CaptureSettings, RepAddress
from ..domain.suggestion import Suggestion, SuggestionSource, SuggestionStatus
from ..domain.tracking import PageView, Site, Utm, Visitor, VisitSession


@dataclass
class InboundKey:
    """Mail to <key>@<capture domain> belongs to this workspace."""

    key: str
    workspace_id: str


@dataclass
class Lease:
    """One replica's claim of a job (a poll of one mailbox in one period)."""

    id: str
    workspace_id: str
    taken_at: datetime


def lease_to_doc(lease: Lease) -> dict[str, Any]:
    return {"_id": lease.id, "workspace_id": lease.workspace_id, "taken_at": lease.taken_at}


def lease_from_doc(doc: Mapping[str, Any]) -> Lease:
    return Lease(doc["_id"], doc["workspace_id"], doc["taken_at"])


def _deal_out(deal: DealLink | None) -> dict[str, Any] | None:
    return vars(deal).copy() if deal else None


def _deal_in(doc: Mapping[str, Any] | None) -> DealLink | None:
    return DealLink(**doc) if doc else None


def settings_to_doc(s: CaptureSettings) -> dict[str, Any]:
    return {
        "_id": s.workspace_id,
        "workspace_id": s.workspace_id,
        "inbound_key": s.inbound_key,
        "internal_domains": list(s.internal_domains),
        "excluded_domains": list(s.excluded_domains),
        "excluded_addresses": list(s.excluded_addresses),
        "body_limit": s.body_limit,
        "paused_users": list(s.paused_users),
        "reps": [{"email": r.email, "user_id": r.user_id} for r in s.reps],
        "updated_at": s.updated_at,
        "updated_by": s.updated_by,
        "version": s.version,
    }


def settings_from_doc(doc: Mapping[str, Any]) -> CaptureSettings:
    return CaptureSettings(
        workspace_id=doc["workspace_id"],
        inbound_key=doc["inbound_key"],
        internal_domains=list(doc.get("internal_domains") or []),
        excluded_domains=list(doc.get("excluded_domains") or []),
        excluded_addresses=list(doc.get("excluded_addresses") or []),
        body_limit=int(doc.get("body_limit") or 0),
        paused_users=list(doc.get("paused_users") or []),
        reps=[RepAddress(r["email"], r["user_id"]) for r in doc.get("reps") or []],
        updated_at=doc["updated_at"],
        updated_by=doc.get("updated_by"),
        version=int(doc.get("version") or 1),
    )


def key_to_doc(key: InboundKey) -> dict[str, Any]:
    return {"_id": key.key, "workspace_id": key.workspace_id}


def key_from_doc(doc: Mapping[str, Any]) -> InboundKey:
    return InboundKey(doc["_id"], doc["workspace_id"])


def email_to_doc(e: CapturedEmail) -> dict[str, Any]:
    return {
        "_id": e.id,
        "workspace_id": e.workspace_id,
        "message_id": e.message_id,
        "thread_id": e.thread_id,
        "status": e.status.value,
        "occurred_at": e.occurred_at,
        "channel": e.channel,
        "reason": e.reason,
        "subject": e.subject,
        "sender": e.sender,
        "participants": list(e.participants),
        "external": list(e.external),
        "direction": e.direction.value if e.direction else None,
        "summary": e.summary,
        "attachments": [vars(a).copy() for a in e.attachments],
        "forwarded": e.forwarded,
        "contact_ids": list(e.contact_ids),
        "company_id": e.company_id,
        "deal": _deal_out(e.deal),
        "rep_user_id": e.rep_user_id,
        "suggestion_ids": list(e.suggestion_ids),
        "revision": e.revision,
        "channels": list(e.channels),
        "captured_at": e.captured_at,
        "version": e.version,
    }


def email_from_doc(doc: Mapping[str, Any]) -> CapturedEmail:
    direction = doc.get("direction")
    return CapturedEmail(
        id=doc["_id"],
        workspace_id=doc["workspace_id"],
        message_id=doc["message_id"],
        thread_id=doc["thread_id"],
        status=EmailStatus(doc["status"]),
        occurred_at=doc["occurred_at"],
        channel=doc["channel"],
        reason=doc.get("reason"),
        subject=doc.get("subject"),
        sender=doc.get("sender"),
        participants=list(doc.get("participants") or []),
        external=list(doc.get("external") or []),
        direction=Direction(direction) if direction else None,
        summary=doc.get("summary"),
        attachments=[AttachmentRecord(**a) for a in doc.get("attachments") or []],
        forwarded=bool(doc.get("forwarded")),
        contact_ids=list(doc.get("contact_ids") or []),
        company_id=doc.get("company_id"),
        deal=_deal_in(doc.get("deal")),
        rep_user_id=doc.get("rep_user_id"),
        suggestion_ids=list(doc.get("suggestion_ids") or []),
        revision=int(doc.get("revision") or 0),
        channels=list(doc.get("channels") or []),
        captured_at=doc["captured_at"],
        version=int(doc.get("version") or 1),
    )


def meeting_to_doc(m: CapturedMeeting) -> dict[str, Any]:
    return {
        "_id": m.id,
        "workspace_id": m.workspace_id,
        "uid": m.uid,
        "sequence": m.sequence,
        "stamp": m.stamp,
        "channel": m.channel,
        "summary": m.summary,
        "description": m.description,
        "location": m.location,
        "organizer": m.organizer,
        "participants": list(m.participants),
        "external": list(m.external),
        "contact_ids": list(m.contact_ids),
        "company_id": m.company_id,
        "deal": _deal_out(m.deal),
        "rep_user_id": m.rep_user_id,
        "occurrences": [vars(o).copy() for o in m.occurrences],
        "cancelled": m.cancelled,
        "captured_at": m.captured_at,
        "updated_at": m.updated_at,
        "version": m.version,
    }


def meeting_from_doc(doc: Mapping[str, Any]) -> CapturedMeeting:
    return CapturedMeeting(
        id=doc["_id"],
        workspace_id=doc["workspace_id"],
        uid=doc["uid"],
        sequence=int(doc.get("sequence") or 0),
        stamp=doc.get("stamp"),
        channel=doc["channel"],
        summary=doc.get("summary"),
        description=doc.get("description"),
        location=doc.get("location"),
        organizer=doc.get("organizer"),
        participants=list(doc.get("participants") or []),
        external=list(doc.get("external") or []),
        contact_ids=list(doc.get("contact_ids") or []),
        company_id=doc.get("company_id"),
        deal=_deal_in(doc.get("deal")),
        rep_user_id=doc.get("rep_user_id"),
        occurrences=[OccurrenceState(**o) for o in doc.get("occurrences") or []],
        cancelled=bool(doc.get("cancelled")),
        captured_at=doc["captured_at"],
        updated_at=doc["updated_at"],
        version=int(doc.get("version") or 1),
    )


def suggestion_to_doc(s: Suggestion) -> dict[str, Any]:
    return {
        "_id": s.id,
        "workspace_id": s.workspace_id,
        "email": s.email,
        "domain": s.domain,
        "source": s.source.value,
        "first_seen_at": s.first_seen_at,
        "last_seen_at": s.last_seen_at,
        "name": s.name,
        "company_id": s.company_id,
        "status": s.status.value,
        "seen_count": s.seen_count,
        "email_ids": list(s.email_ids),
        "meeting_ids": list(s.meeting_ids),
        "visitor_ids": list(s.visitor_ids),
        "contact_id": s.contact_id,
        "decided_by": s.decided_by,
        "decided_at": s.decided_at,
        "version": s.version,
    }


def suggestion_from_doc(doc: Mapping[str, Any]) -> Suggestion:
    return Suggestion(
        id=doc["_id"],
        workspace_id=doc["workspace_id"],
        email=doc["email"],
        domain=doc["domain"],
        source=SuggestionSource(doc["source"]),
        first_seen_at=doc["first_seen_at"],
        last_seen_at=doc["last_seen_at"],
        name=doc.get("name"),
        company_id=doc.get("company_id"),
        status=SuggestionStatus(doc["status"]),
        seen_count=int(doc.get("seen_count") or 1),
        email_ids=list(doc.get("email_ids") or []),
        meeting_ids=list(doc.get("meeting_ids") or []),
        visitor_ids=list(doc.get("visitor_ids") or []),
        contact_id=doc.get("contact_id"),
        decided_by=doc.get("decided_by"),
        decided_at=doc.get("decided_at"),
        version=int(doc.get("version") or 1),
    )


def imap_to_doc(a: ImapAccount) -> dict[str, Any]:
    return {
        "_id": a.id,
        "workspace_id": a.workspace_id,
        "user_id": a.user_id,
        "host": a.host,
        "port": a.port,
        "security": a.security.value,
        "username": a.username,
        "secret": a.secret,
        "folder": a.folder,
        "enabled": a.enabled,
        "uid_validity": a.uid_validity,
        "last_uid": a.last_uid,
        "captured": a.captured,
        "fetched": a.fetched,
        "last_polled_at": a.last_polled_at,
        "last_error": a.last_error,
        "created_at": a.created_at,
        "version": a.version,
    }


def imap_from_doc(doc: Mapping[str, Any]) -> ImapAccount:
    return ImapAccount(
        id=doc["_id"],
        workspace_id=doc["workspace_id"],
        user_id=doc["user_id"],
        host=doc["host"],
        port=int(doc["port"]),
        security=Security(doc["security"]),
        username=doc["username"],
        secret=doc["secret"],
        folder=doc.get("folder") or "INBOX",
        enabled=bool(doc.get("enabled", True)),
        uid_validity=doc.get("uid_validity"),
        last_uid=int(doc.get("last_uid") or 0),
        captured=int(doc.get("captured") or 0),
        fetched=int(doc.get("fetched") or 0),
        last_polled_at=doc.get("last_polled_at"),
        last_error=doc.get("last_error"),
        created_at=doc["created_at"],
        version=int(doc.get("version") or 1),
    )


def site_to_doc(s: Site) -> dict[str, Any]:
    return {
        "_id": s.id,
        "workspace_id": s.workspace_id,
        "name": s.name,
        "domains": list(s.domains),
        "require_consent": s.require_consent,
        "hot_paths": list(s.hot_paths),
        "hot_threshold": s.hot_threshold,
        "hot_window_days": s.hot_window_days,
        "enabled": s.enabled,
        "created_at": s.created_at,
        "created_by": s.created_by,
        "version": s.version,
    }


def site_from_doc(doc: Mapping[str, Any]) -> Site:
    return Site(
        id=doc["_id"],
        workspace_id=doc["workspace_id"],
        name=doc["name"],
        domains=list(doc.get("domains") or []),
        require_consent=bool(doc.get("require_consent")),
        hot_paths=list(doc.get("hot_paths") or []),
        hot_threshold=int(doc.get("hot_threshold") or 1),
        hot_window_days=int(doc.get("hot_window_days") or 7),
        enabled=bool(doc.get("enabled", True)),
        created_at=doc["created_at"],
        created_by=doc.get("created_by"),
        version=int(doc.get("version") or 1),
    )


def visitor_to_doc(v: Visitor) -> dict[str, Any]:
    return {
        "_id": v.id,
        "workspace_id": v.workspace_id,
        "site_id": v.site_id,
        "first_seen_at": v.first_seen_at,
        "last_seen_at": v.last_seen_at,
        "contact_id": v.contact_id,
        "company_id": v.company_id,
        "email": v.email,
        "identified_at": v.identified_at,
        "session_ids": list(v.session_ids),
        "session_count": v.session_count,
        "hot_views": list(v.hot_views),
        "hot_paths_seen": list(v.hot_paths_seen),
        "hot_signalled_at": v.hot_signalled_at,
        "version": v.version,
    }


def visitor_from_doc(doc: Mapping[str, Any]) -> Visitor:
    return Visitor(
        id=doc["_id"],
        workspace_id=doc["workspace_id"],
        site_id=doc["site_id"],
        first_seen_at=doc["first_seen_at"],
        last_seen_at=doc["last_seen_at"],
        contact_id=doc.get("contact_id"),
        company_id=doc.get("company_id"),
        email=doc.get("email"),
        identified_at=doc.get("identified_at"),
        session_ids=list(doc.get("session_ids") or []),
        session_count=int(doc.get("session_count") or 0),
        hot_views=list(doc.get("hot_views") or []),
        hot_paths_seen=list(doc.get("hot_paths_seen") or []),
        hot_signalled_at=doc.get("hot_signalled_at"),
        version=int(doc.get("version") or 1),
    )


def _page_out(page: PageView) -> dict[str, Any]:
    return {
        "url": page.url,
        "path": page.path,
        "at": page.at,
        "title": page.title,
        "referrer": page.referrer,
        "utm": vars(page.utm).copy() if page.utm else None,
        "duration_seconds": page.duration_seconds,
    }


def _page_in(doc: Mapping[str, Any]) -> PageView:
    utm = doc.get("utm")
    return PageView(
        url=doc["url"],
        path=doc["path"],
        at=doc["at"],
        title=doc.get("title"),
        referrer=doc.get("referrer"),
        utm=Utm(**utm) if utm else None,
        duration_seconds=doc.get("duration_seconds"),
    )


def session_to_doc(s: VisitSession) -> dict[str, Any]:
    return {
        "_id": s.id,
        "workspace_id": s.workspace_id,
        "site_id": s.site_id,
        "visitor_id": s.visitor_id,
        "started_at": s.started_at,
        "last_at": s.last_at,
        "pages": [_page_out(p) for p in s.pages],
        "page_count": s.page_count,
        "contact_id": s.contact_id,
        "company_id": s.company_id,
        "revision": s.revision,
        "version": s.version,
    }


def session_from_doc(doc: Mapping[str, Any]) -> VisitSession:
    return VisitSession(
        id=doc["_id"],
        workspace_id=doc["workspace_id"],
        site_id=doc["site_id"],
        visitor_id=doc["visitor_id"],
        started_at=doc["started_at"],
        last_at=doc["last_at"],
        pages=[_page_in(p) for p in doc.get("pages") or []],
        page_count=int(doc.get("page_count") or 0),
        contact_id=doc.get("contact_id"),
        company_id=doc.get("company_id"),
        revision=int(doc.get("revision") or 0),
        version=int(doc.get("version") or 1),
    )


SETTINGS_RECORD = RecordType(SETTINGS, settings_to_doc, settings_from_doc, versioned=True)
INBOUND_KEY = RecordType(INBOUND_KEYS, key_to_doc, key_from_doc)
LEASE = RecordType(LEASES, lease_to_doc, lease_from_doc)
EMAIL = RecordType(EMAILS, email_to_doc, email_from_doc, versioned=True)
MEETING = RecordType(MEETINGS, meeting_to_doc, meeting_from_doc, versioned=True)
SUGGESTION = RecordType(SUGGESTIONS, suggestion_to_doc, suggestion_from_doc, versioned=True)
IMAP_ACCOUNT = RecordType(IMAP_ACCOUNTS, imap_to_doc, imap_from_doc, versioned=True)
SITE = RecordType(SITES, site_to_doc, site_from_doc, versioned=True)
VISITOR = RecordType(VISITORS, visitor_to_doc, visitor_from_doc, versioned=True)
SESSION = RecordType(SESSIONS, session_to_doc, session_from_doc, versioned=True)
