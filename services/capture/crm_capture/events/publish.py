"""CloudEvents built from the `crm_contracts.capture` payload models. `encode` turns a
domain event into one; the store writes it into the outbox with the change that raised it
(the kit's writer calls `encode`) and the relay publishes it."""

from __future__ import annotations

from datetime import datetime

from crm_contracts import capture as contract
from crm_contracts.base import Payload
from crm_contracts.envelope import CloudEvent, new_event

from ..config import SOURCE
from ..domain import events
from ..domain.email import CapturedEmail
from ..domain.matching import DealLink
from ..domain.meeting import CapturedMeeting, OccurrenceState
from ..domain.rules import clip
from ..domain.suggestion import Suggestion
from ..domain.tracking import PageView, Site, Visitor, VisitSession

MAX_PAGES_IN_EVENT = 20
SUMMARY_LIMIT = 4000


def _event(event_type: str, workspace: str, entity_id: str, payload: Payload) -> CloudEvent:
    return new_event(
        event_type=event_type,
        source=SOURCE,
        workspace=workspace,
        subject=entity_id,
        data=payload.wire(),
    )


def deal_ref(deal: DealLink | None) -> contract.DealRef | None:
    if deal is None:
        return None
    return contract.DealRef(
        id=deal.id,
        title=deal.title,
        stage_key=deal.stage_key,
        status=deal.status,
        owner_id=deal.owner_id,
        pipeline_id=deal.pipeline_id,
    )


def email_captured(email: CapturedEmail) -> CloudEvent:
    payload = contract.EmailCaptured(
        interaction_id=email.interaction_id,
        revision=email.revision,
        kind="email",
        occurred_at=email.occurred_at,
        direction=email.direction.value if email.direction else None,
        subject=email.subject,
        summary=email.summary,
        participants=list(email.participants),
        contact_ids=list(email.contact_ids),
        company_id=email.company_id,
        deal_id=email.deal.id if email.deal else None,
        deal=deal_ref(email.deal),
        logged_by=email.rep_user_id,
        message_id=email.message_id,
        thread_id=email.thread_id,
        channel=email.channel,
        forwarded=email.forwarded,
        attachments=[
            contract.Attachment(name=a.name, content_type=a.content_type, size=a.size)
            for a in email.attachments
        ],
    )
    return _event(contract.EMAIL_CAPTURED, email.workspace_id, email.id, payload)


def _meeting_summary(meeting: CapturedMeeting, occurrence: OccurrenceState) -> str | None:
    lines = [f"Location: {occurrence.location}"] if occurrence.location else []
    if meeting.description:
        lines.append(meeting.description)
    return clip("\n".join(lines), SUMMARY_LIMIT)


def meeting_captured(meeting: CapturedMeeting, occurrence: OccurrenceState) -> CloudEvent:
    payload = contract.MeetingCaptured(
        interaction_id=occurrence.interaction_id,
        revision=occurrence.revision,
        kind="meeting",
        occurred_at=occurrence.starts_at,
        subject=occurrence.summary or meeting.summary,
        summary=_meeting_summary(meeting, occurrence),
        participants=list(meeting.participants),
        duration_seconds=int((occurrence.ends_at - occurrence.starts_at).total_seconds()),
        contact_ids=list(meeting.contact_ids),
        company_id=meeting.company_id,
        deal_id=meeting.deal.id if meeting.deal else None,
        deal=deal_ref(meeting.deal),
        logged_by=meeting.rep_user_id,
        uid=meeting.uid,
        recurrence_id=occurrence.key or None,
        sequence=meeting.sequence,
        ends_at=occurrence.ends_at,
        location=occurrence.location,
        organizer=meeting.organizer,
        channel=meeting.channel,
    )
    return _event(
        contract.MEETING_CAPTURED, meeting.workspace_id, occurrence.interaction_id, payload
    )


def meeting_cancelled(meeting: CapturedMeeting, occurrence: OccurrenceState) -> CloudEvent:
    payload = contract.MeetingCancelled(
        interaction_id=occurrence.interaction_id,
        revision=occurrence.revision,
        uid=meeting.uid,
        recurrence_id=occurrence.key or None,
        sequence=meeting.sequence,
        occurred_at=occurrence.starts_at,
        contact_ids=list(meeting.contact_ids),
        company_id=meeting.company_id,
        logged_by=meeting.rep_user_id,
    )
    return _event(
        contract.MEETING_CANCELLED, meeting.workspace_id, occurrence.interaction_id, payload
    )


def _page(page: PageView) -> contract.PageView:
    utm = page.utm
    return contract.PageView(
        url=page.url,
        path=page.path,
        title=page.title,
        referrer=page.referrer,
        utm=contract.UtmTags(**vars(utm)) if utm else None,
        at=page.at,
        duration_seconds=page.duration_seconds,
    )


def _visit_summary(session: VisitSession) -> str:
    lines = []
    for page in session.pages:
        stay = f" ({page.duration_seconds}s)" if page.duration_seconds is not None else ""
        lines.append(f"{page.title or page.path} — {page.path}{stay}")
    first = session.pages[0] if session.pages else None
    if first is not None and first.utm is not None and first.utm.source:
        campaign = f" / {first.utm.campaign}" if first.utm.campaign else ""
        lines.append(f"From: {first.utm.source}{campaign}")
    elif first is not None and first.referrer:
        lines.append(f"From: {first.referrer}")
    more = session.page_count - len(session.pages)
    if more > 0:
        lines.append(f"… and {more} more pages")
    return "\n".join(lines)


def visit_recorded(session: VisitSession) -> CloudEvent:
    pages = session.page_count
    payload = contract.VisitRecorded(
        interaction_id=session.interaction_id,
        revision=session.revision,
        kind="web_visit",
        occurred_at=session.started_at,
        subject=f"Web visit: {pages} page{'s' if pages != 1 else ''}",
        summary=clip(_visit_summary(session), SUMMARY_LIMIT),
        duration_seconds=session.duration_seconds,
        contact_ids=[session.contact_id] if session.contact_id else [],
        company_id=session.company_id,
        session_id=session.id,
        visitor_id=session.visitor_id,
        site_id=session.site_id,
        ended_at=session.last_at,
        page_count=pages,
        pages=[_page(p) for p in session.pages[:MAX_PAGES_IN_EVENT]],
    )
    return _event(contract.VISIT_RECORDED, session.workspace_id, session.id, payload)


def hot_lead_detected(visitor: Visitor, site: Site, views: list[datetime]) -> CloudEvent:
    assert visitor.contact_id is not None
    payload = contract.HotLeadDetected(
        contact_id=visitor.contact_id,
        contact_ids=[visitor.contact_id],
        company_id=visitor.company_id,
        site_id=site.id,
        visitor_id=visitor.id,
        hot_views=len(views),
        window_days=site.hot_window_days,
        first_at=min(views),
        last_at=max(views),
        paths=list(visitor.hot_paths_seen),
    )
    return _event(contract.HOT_LEAD_DETECTED, visitor.workspace_id, visitor.contact_id, payload)


def suggestion_created(suggestion: Suggestion) -> CloudEvent:
    payload = contract.SuggestionCreated(
        suggestion_id=suggestion.id,
        email=suggestion.email,
        name=suggestion.name,
        domain=suggestion.domain,
        company_id=suggestion.company_id,
        source=suggestion.source.value,
        first_seen_at=suggestion.first_seen_at,
    )
    return _event(contract.SUGGESTION_CREATED, suggestion.workspace_id, suggestion.id, payload)


def encode(event: object) -> CloudEvent:
    """The writer's `encode`: a domain event of this service as its CloudEvent."""
    match event:
        case events.EmailCaptured(email):
            return email_captured(email)
        case events.MeetingOccurrenceCaptured(meeting, occurrence):
            return meeting_captured(meeting, occurrence)
        case events.MeetingOccurrenceCancelled(meeting, occurrence):
            return meeting_cancelled(meeting, occurrence)
        case events.VisitSessionRecorded(session):
            return visit_recorded(session)
        case events.HotLeadDetected(visitor, site, views):
            return hot_lead_detected(visitor, site, views)
        case events.SuggestionCreated(suggestion):
            return suggestion_created(suggestion)
    raise TypeError(f"not a capture domain event: {type(event).__name__}")
