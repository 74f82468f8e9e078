"""Capturing an email, however it came in (SMTP, IMAP, an upload): exactly once per
workspace and Message-ID.

A bounce, an automatic reply or bulk mail is recorded as ignored; mail with only parties
the workspace never captures is recorded as excluded (nothing of it kept but its id); mail
of a rep whose capture is paused, or among colleagues only, is not captured either. An
invitation is captured as the meeting it carries. Anything else is matched
(`matching.py`) and goes on the timeline of its contacts or company, with its direction
(outbound when a rep sent it) and the rep as the one who logged it; when nobody known took
part it waits for its suggestions to be accepted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from crm_kit.errors import BadUserInput

from ..domain import rules
from ..domain.addresses import Participant, participant
from ..domain.email import (
    AttachmentRecord,
    CapturedEmail,
    Direction,
    EmailStatus,
    email_record_id,
)
from ..domain.matching import DealLink
from ..domain.message import ParsedMessage, parse_message
from ..domain.quoting import base_subject
from ..domain.suggestion import SuggestionSource
from . import meetings
from .matching import Parties, match, sort_parties
from .scope import Scope
from .settings import settings_of

MAX_RAW_BYTES = 10_000_000


@dataclass
class EmailOutcome:
    email: CapturedEmail
    duplicate: bool = False
    meetings: list[meetings.MeetingOutcome] = field(default_factory=list)


def _rep(parsed: ParsedMessage, parties: Parties) -> Participant | None:
    """The workspace's person this message is about: who forwarded it, else who sent it,
    else the first colleague it went to."""
    reps = {p.email: p for p in parties.reps}
    for candidate in (parsed.forwarded_by, parsed.sender):
        if candidate is not None and candidate.email in reps:
            return reps[candidate.email]
    return parties.reps[0] if parties.reps else None


async def _thread_deal(scope: Scope, parsed: ParsedMessage) -> DealLink | None:
    """The deal an earlier message of the same conversation was linked to."""
    earlier = [*parsed.in_reply_to, *parsed.references]
    if not earlier:
        return None
    ids = [email_record_id(scope.workspace_id, message_id) for message_id in earlier]
    for email in await scope.store.get_emails(ids):
        if email.deal is not None:
            return email.deal
    return None


async def capture_email(
    scope: Scope,
    raw: bytes,
    channel: str,
    *,
    internal: Sequence[str] = (),
    mailbox_user: str | None = None,
) -> EmailOutcome:
    """`internal`: addresses this capture knows are the workspace's (the SMTP envelope
    sender, the polled mailbox's address); `mailbox_user`: whose mailbox it came from."""
    if len(raw) > MAX_RAW_BYTES:
        raise BadUserInput(f"a message may have at most {MAX_RAW_BYTES} bytes", field="raw")
    now = scope.now()
    parsed = parse_message(raw, now)
    record_id = email_record_id(scope.workspace_id, parsed.message_id)
    known = await scope.store.get_emails([record_id])
    if known:
        return await _again(scope, known[0], channel)
    settings = await settings_of(scope)
    parties = sort_parties(settings, parsed.participants, internal)
    rep = _rep(parsed, parties)
    rep_user = mailbox_user or (settings.rep_of(rep.email) if rep else None)
    if rep_user is None and scope.acts_for_user:
        rep_user = scope.subject  # an upload: the uploader is the rep
    email = CapturedEmail(
        id=record_id,
        workspace_id=scope.workspace_id,
        message_id=parsed.message_id,
        thread_id=parsed.thread_key,
        status=EmailStatus.UNMATCHED,
        occurred_at=parsed.date,
        channel=channel,
        channels=[channel],
        rep_user_id=rep_user,
        captured_at=now,
    )
    outcome = EmailOutcome(email)
    if parsed.automated:
        email.status, email.reason = EmailStatus.IGNORED, parsed.automated
        _describe(email, parsed, parties, body_limit=0)
    elif settings.paused(rep_user):
        email.status = EmailStatus.PAUSED
    elif parsed.calendars:
        email.status = EmailStatus.MEETING
        _describe(email, parsed, parties, body_limit=0)
        for calendar in parsed.calendars:
            outcome.meetings += await meetings.capture_calendar(
                scope,
                calendar,
                channel,
                internal=[*internal, *(p.email for p in parties.reps)],
                mailbox_user=rep_user,
                settings=settings,
            )
    elif not parties.external:
        email.status = EmailStatus.EXCLUDED if parties.excluded else EmailStatus.IGNORED
        email.reason = None if parties.excluded else "internal"
        if not parties.excluded:
            _describe(email, parsed, parties, body_limit=0)
    else:
        _describe(email, parsed, parties, body_limit=settings.body_limit)
        sent_by_rep = parsed.sender is not None and parsed.sender.email in {
            p.email for p in parties.reps
        }
        email.direction = Direction.OUTBOUND if sent_by_rep else Direction.INBOUND
        found = await match(
            scope,
            parties.external,
            SuggestionSource.EMAIL,
            subject=base_subject(parsed.subject),
            thread_deal=await _thread_deal(scope, parsed),
            email_id=record_id,
        )
        email.matched(found)
    if not await scope.store.add_email(email):
        # Captured meanwhile by another way in (BCC and IMAP at once): that one stands.
        raced = await scope.store.get_emails([record_id])
        return await _again(scope, raced[0], channel)
    return outcome


def _describe(
    email: CapturedEmail, parsed: ParsedMessage, parties: Parties, *, body_limit: int
) -> None:
    """What is kept of the message: never the parties the workspace excludes."""
    kept = [*parties.reps, *parties.external]
    kept_emails = {p.email for p in kept}
    email.subject = rules.clip(parsed.subject, 500)
    sender = parsed.sender.email if parsed.sender else None
    email.sender = sender if sender in kept_emails else None
    email.participants = [p.label for p in kept][:50]
    email.external = [p.email for p in parties.external][:50]
    email.summary = rules.clip(parsed.text, body_limit) if body_limit else None
    email.attachments = [
        AttachmentRecord(a.name, a.content_type, a.size) for a in parsed.attachments
    ]
    email.forwarded = parsed.forwarded_by is not None


async def _again(scope: Scope, email: CapturedEmail, channel: str) -> EmailOutcome:
    async def seen(found: CapturedEmail) -> bool:
        return found.seen_again(channel)

    changed = await scope.store.change_email(email.id, seen)
    return EmailOutcome(changed or email, duplicate=True)


async def rematch(scope: Scope, email_id: str) -> CapturedEmail | None:
    """Match a captured email's parties again (a suggestion was accepted, a contact
    created): it joins the timelines of who it now finds."""
    found = await scope.store.get_emails([email_id])
    if not found or found[0].status not in (EmailStatus.CAPTURED, EmailStatus.UNMATCHED):
        return found[0] if found else None
    email = found[0]
    people = [p for p in (participant(e) for e in email.external) if p is not None]
    fresh = await match(
        scope,
        people,
        SuggestionSource.EMAIL,
        subject=base_subject(email.subject),
        thread_deal=email.deal,
        email_id=email.id,
    )

    async def attach(current: CapturedEmail) -> bool:
        return current.matched(fresh)

    return await scope.store.change_email(email.id, attach)
