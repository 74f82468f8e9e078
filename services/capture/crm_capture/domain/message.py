"""Raw messages (RFC 5322, MIME) read with the standard library's `email` package and its
modern policy: headers decoded (RFC 2047 encoded words, RFC 2231 file names), bodies
decoded (quoted-printable, base64) in their declared charset, or the one detected when
the declaration is missing or wrong; HTML-only bodies as text; attachments listed by name,
type and size (never stored); calendar parts kept for the meeting reader; a forward read
as the original it carries (its sender, date, subject and recipients)."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from email import message_from_bytes, policy
from email.message import EmailMessage, Message
from email.utils import parsedate_to_datetime
from typing import Any, cast

import charset_normalizer

from crm_kit.clock import to_millis
from crm_kit.errors import BadUserInput

from .addresses import Participant, from_header, unique
from .classify import automated_reason
from .html_text import html_to_text
from .quoting import find_inline_forward, is_forward_subject, strip_quoted

_MESSAGE_ID = re.compile(r"<([^<>\s]{1,500})>")
# Message-IDs of earlier messages read for threading (a References header can be long).
MAX_REFERENCES = 50
_CALENDAR_TYPES = ("text/calendar", "application/ics")
# What an undeclared or wrongly declared charset is looked for among: the ones mail is
# written in (a detector free to choose any code page picks DOS ones for mostly-ASCII text).
_LIKELY_CHARSETS = [
    "utf_8", "cp1252", "iso8859_15", "iso8859_2", "cp1250", "cp1251", "koi8_r", "iso8859_7",
    "cp1253", "cp1254", "iso8859_9", "cp1255", "cp1256", "shift_jis", "euc_jp", "iso2022_jp",
    "gb18030", "big5", "euc_kr",
]  # fmt: skip
MAX_ATTACHMENTS = 50


@dataclass(frozen=True)
class AttachmentInfo:
    name: str | None
    content_type: str
    size: int


@dataclass
class ParsedMessage:
    message_id: str  # without angle brackets
    synthetic_id: bool  # the message had none: one was derived from its content
    in_reply_to: list[str]
    references: list[str]
    subject: str | None
    sender: Participant | None  # for a forward: the original's sender
    to: list[Participant]
    cc: list[Participant]
    date: datetime  # UTC, milliseconds
    text: str  # the message's own words (a reply's quoted history cut off)
    attachments: list[AttachmentInfo] = field(default_factory=list)
    calendars: list[str] = field(default_factory=list)  # text/calendar parts and .ics files
    automated: str | None = None  # bounce, auto-reply, bulk: never captured
    forwarded_by: Participant | None = None  # who forwarded it (then sender is the original's)

    @property
    def participants(self) -> list[Participant]:
        return unique([*([self.sender] if self.sender else []), *self.to, *self.cc])

    @property
    def thread_key(self) -> str:
        """The conversation it belongs to: the first message its references name."""
        if self.references:
            return self.references[0]
        if self.in_reply_to:
            return self.in_reply_to[0]
        return self.message_id


def _ids(value: Any) -> list[str]:
    return list(dict.fromkeys(_MESSAGE_ID.findall(str(value or ""))))[:MAX_REFERENCES]


def _addresses(message: Message, name: str) -> list[Participant]:
    try:
        header = message.get(name)
    except (IndexError, ValueError, TypeError):
        return []  # a header the parser cannot make sense of
    addresses = getattr(header, "addresses", None)
    return from_header(addresses) if addresses else []


def _date(message: Message) -> tuple[datetime | None, tzinfo | None]:
    raw = message.get("date")
    if raw is None:
        return None, None
    try:
        moment = parsedate_to_datetime(str(raw))
    except (TypeError, ValueError, IndexError):
        return None, None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment, moment.tzinfo


def part_text(part: Message) -> str:
    """A text part's content in its declared charset; when that is missing, unknown or
    wrong, in the charset detected from the bytes."""
    payload = cast(bytes, part.get_payload(decode=True) or b"")
    charset = part.get_content_charset() or "us-ascii"
    try:
        return payload.decode(charset)
    except (LookupError, UnicodeDecodeError):
        best = charset_normalizer.from_bytes(payload, cp_isolation=_LIKELY_CHARSETS).best()
        return str(best) if best is not None else payload.decode("utf-8", "replace")


def _body(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain", "html"))
    if part is None:
        return ""
    text = part_text(part)
    return html_to_text(text) if part.get_content_type() == "text/html" else text


def _parts(message: EmailMessage) -> tuple[list[AttachmentInfo], list[str]]:
    body = message.get_body(preferencelist=("plain", "html"))
    attachments: list[AttachmentInfo] = []
    calendars: list[str] = []
    for part in message.walk():
        if part.is_multipart() or part is body:
            continue
        content_type = part.get_content_type()
        name = part.get_filename()
        if content_type in _CALENDAR_TYPES or (name or "").lower().endswith(".ics"):
            calendars.append(part_text(part))
        if name or part.get_content_disposition() == "attachment":
            size = len(cast(bytes, part.get_payload(decode=True) or b""))
            if len(attachments) < MAX_ATTACHMENTS:
                attachments.append(AttachmentInfo(name, content_type, size))
    return attachments, calendars


def _embedded_original(message: EmailMessage) -> EmailMessage | None:
    """A forward as an attachment: the message/rfc822 part it carries."""
    for part in message.walk():
        if part.get_content_type() == "message/rfc822":
            inner = part.get_payload()
            if isinstance(inner, list) and inner and isinstance(inner[0], EmailMessage):
                return inner[0]
    return None


def _synthetic_id(message: Message, text: str) -> str:
    """A stable id for a message without one: the same bytes give the same id."""
    basis = "\n".join(
        [str(message.get(h, "")) for h in ("from", "to", "date", "subject")] + [text[:2000]]
    )
    return f"{hashlib.sha256(basis.encode()).hexdigest()[:32]}@capture.invalid"


def parse_message(raw: bytes, now: datetime, field: str = "raw") -> ParsedMessage:
    """Read one message. Raises BadUserInput when the bytes are not a message at all."""
    message = message_from_bytes(raw, policy=policy.default)
    senders = _addresses(message, "from")
    if not senders and not message.get("message-id") and not message.get("subject"):
        raise BadUserInput("not an RFC 5322 message (no From, Subject or Message-ID)", field=field)
    date, zone = _date(message)
    own_text = _body(message)
    attachments, calendars = _parts(message)
    ids = _ids(message.get("message-id"))
    parsed = ParsedMessage(
        message_id=ids[0] if ids else _synthetic_id(message, own_text),
        synthetic_id=not ids,
        in_reply_to=_ids(message.get("in-reply-to")),
        references=_ids(message.get("references")),
        subject=_subject(message),
        sender=senders[0] if senders else None,
        to=_addresses(message, "to"),
        cc=_addresses(message, "cc"),
        date=to_millis(date or now),
        text=strip_quoted(own_text),
        attachments=attachments,
        calendars=calendars,
        automated=automated_reason(message, senders[0] if senders else None),
    )
    if is_forward_subject(parsed.subject) or _embedded_original(message) is not None:
        _read_forward(parsed, message, own_text, zone)
    return parsed


def _subject(message: Message) -> str | None:
    subject = " ".join(str(message.get("subject", "") or "").split())
    return subject or None


def _read_forward(
    parsed: ParsedMessage, message: EmailMessage, own_text: str, zone: tzinfo | None
) -> None:
    """A forward becomes the original it carries: the forwarder is remembered (the rep
    who shared it), the original's sender, recipients, date and subject are the message's."""
    embedded = _embedded_original(message)
    if embedded is not None:
        original_date, _ = _date(embedded)
        original_senders = _addresses(embedded, "from")
        ids = _ids(embedded.get("message-id"))
        parsed.forwarded_by = parsed.sender
        parsed.sender = original_senders[0] if original_senders else parsed.sender
        parsed.to = _addresses(embedded, "to")
        parsed.cc = _addresses(embedded, "cc")
        parsed.date = to_millis(original_date) if original_date else parsed.date
        parsed.subject = _subject(embedded) or parsed.subject
        if ids:
            # The original's own id: the same message captured from the recipient's mailbox
            # is the same interaction.
            parsed.message_id, parsed.synthetic_id = ids[0], False
            parsed.in_reply_to = _ids(embedded.get("in-reply-to"))
            parsed.references = _ids(embedded.get("references"))
        note = strip_quoted(own_text)
        parsed.text = "\n\n".join(t for t in (note, strip_quoted(_body(embedded))) if t)
        parsed.automated = parsed.automated or automated_reason(
            embedded, original_senders[0] if original_senders else None
        )
        return
    inline = find_inline_forward(own_text, zone)
    if inline is None or inline.sender is None:
        return  # a forward we cannot read back: it stays the forwarder's message
    parsed.forwarded_by = parsed.sender
    parsed.sender = inline.sender
    parsed.to, parsed.cc = inline.to, inline.cc
    parsed.date = to_millis(inline.date) if inline.date else parsed.date
    parsed.subject = inline.subject or parsed.subject
    # An inline forward keeps no Message-ID: the id is derived from the original's sender,
    # date and subject, so the same forward captured twice is still one interaction.
    basis = f"{inline.sender.email}|{parsed.date.isoformat()}|{parsed.subject}"
    parsed.message_id = f"fwd-{hashlib.sha256(basis.encode()).hexdigest()[:32]}@capture.invalid"
    parsed.synthetic_id = True
    parsed.in_reply_to, parsed.references = [], []
    parsed.text = "\n\n".join(t for t in (inline.note, strip_quoted(inline.body)) if t)
