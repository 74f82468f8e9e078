"""What a message's own words are: the quoted history of a reply is cut off, and an
inline forward (the text a mail client writes when forwarding without attaching) is read
back into the original's sender, date, subject and recipients."""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from email.utils import getaddresses

from dateutil import parser as dateparser

from .addresses import Participant, participant, unique

FORWARD_SUBJECT = re.compile(r"^\s*(fwd?|fw|wg|tr|rv|vs|doorst|enc)\s*:", re.IGNORECASE)
REPLY_PREFIX = re.compile(r"^\s*((re|aw|sv|antw|ref|fwd?|fw|wg|tr|rv)\s*(\[\d+\])?\s*:\s*)+", re.I)

# The line a mail client writes above an inline forward (Gmail, Apple Mail, Outlook,
# Thunderbird; English, German, French, Spanish, Italian).
_FORWARD_MARKER = re.compile(
    r"^\s*(?:-{2,}\s*(?:forwarded message|original message|weitergeleitete nachricht|"
    r"ursprüngliche nachricht|message transféré|message d'origine|mensaje reenviado|"
    r"messaggio inoltrato)\s*-*|begin forwarded message:?|début du message réexpédié\s*:?)\s*$",
    re.IGNORECASE,
)
# Header lines of an inline forward block, in the languages above.
_FIELDS = {
    "from": "from", "von": "from", "de": "from", "da": "from",
    "date": "date", "sent": "date", "datum": "date", "gesendet": "date", "envoyé": "date",
    "enviado": "date", "inviato": "date", "fecha": "date",
    "subject": "subject", "betreff": "subject", "objet": "subject", "asunto": "subject",
    "oggetto": "subject",
    "to": "to", "an": "to", "à": "to", "para": "to", "a": "to",
    "cc": "cc", "kopie": "cc",
}  # fmt: skip
_FIELD_LINE = re.compile(r"^\s*\*?([A-Za-zÀ-ÿ]+)\*?\s*:\s*(.*)$")
# Where a reply's quoted history starts.
_QUOTE_STARTS = (
    re.compile(r"^\s*On .{4,200}\bwrote:\s*$", re.IGNORECASE),
    re.compile(r"^\s*Am .{4,200}\bschrieb .{1,200}:\s*$", re.IGNORECASE),
    re.compile(r"^\s*Le .{4,200}\ba écrit\s*:\s*$", re.IGNORECASE),
    re.compile(r"^\s*El .{4,200}\bescribió:\s*$", re.IGNORECASE),
    re.compile(r"^\s*-{2,}\s*(original message|ursprüngliche nachricht)\s*-{2,}\s*$", re.I),
    re.compile(r"^\s*_{10,}\s*$"),
)
_WROTE_TAIL = re.compile(r"^\s*(\S.{0,200}\s)?wrote:\s*$", re.IGNORECASE)
# Common zone abbreviations mail clients print in forwarded dates (seconds east of UTC).
_ZONES = {
    "UTC": 0, "GMT": 0, "BST": 3600, "CET": 3600, "CEST": 7200, "EET": 7200, "EEST": 10800,
    "EST": -18000, "EDT": -14400, "CST": -21600, "CDT": -18000, "MST": -25200,
    "MDT": -21600, "PST": -28800, "PDT": -25200, "IST": 19800, "JST": 32400,
}  # fmt: skip


@dataclass
class InlineForward:
    sender: Participant | None
    date: datetime | None
    subject: str | None
    to: list[Participant] = field(default_factory=list)
    cc: list[Participant] = field(default_factory=list)
    body: str = ""  # the forwarded text
    note: str = ""  # what the forwarder wrote above it


def base_subject(subject: str | None) -> str:
    """The subject without reply/forward prefixes: what a thread is called."""
    return REPLY_PREFIX.sub("", subject or "").strip()


def is_forward_subject(subject: str | None) -> bool:
    return bool(FORWARD_SUBJECT.match(subject or ""))


def parse_loose_date(text: str, default_zone: tzinfo | None) -> datetime | None:
    """A date as mail clients print it in forwards ("Mon, Mar 2, 2026 at 10:15 AM",
    "2 March 2026 at 10:15:00 CET", RFC 5322...); naive ones take `default_zone`."""
    # (email.utils' RFC 5322 parser is no help here: it misreads "4:12 PM" without a
    # word of complaint; dateutil reads RFC 5322 dates as well.)
    cleaned = re.sub(r"\bat\b|\bum\b|\bà\b", " ", text.strip())
    if not cleaned.strip():
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            moment = dateparser.parse(cleaned, fuzzy=True, tzinfos=_ZONES)
    except (ValueError, OverflowError, TypeError):
        return None
    if moment.tzinfo is None and default_zone is not None:
        moment = moment.replace(tzinfo=default_zone)
    return moment


def _people(value: str) -> list[Participant]:
    # Outlook writes "Ann Smith [mailto:ann@acme.com]"; make it an angle address.
    value = re.sub(r"\[mailto:([^\]]+)\]", r"<\1>", value)
    found = (participant(email, name) for name, email in getaddresses([value]))
    return unique(p for p in found if p is not None)


def find_inline_forward(text: str, default_zone: tzinfo | None) -> InlineForward | None:
    """The first inline forward block of `text`, if there is one."""
    lines = text.splitlines()
    for index, line in enumerate(lines):
        if not _FORWARD_MARKER.match(line):
            continue
        headers: dict[str, str] = {}
        cursor = index + 1
        while cursor < len(lines) and not lines[cursor].strip():
            cursor += 1  # blank lines between the marker and the headers
        last: str | None = None
        while cursor < len(lines) and lines[cursor].strip():
            matched = _FIELD_LINE.match(lines[cursor])
            name = _FIELDS.get(matched.group(1).lower()) if matched else None
            if matched and name and name not in headers:
                headers[name] = matched.group(2).strip()
                last = name
            elif last in ("to", "cc", "subject"):
                headers[last] += " " + lines[cursor].strip()  # a folded long line
            cursor += 1
        if "from" not in headers:
            continue
        senders = _people(headers["from"])
        return InlineForward(
            sender=senders[0] if senders else None,
            date=parse_loose_date(headers.get("date", ""), default_zone),
            subject=headers.get("subject") or None,
            to=_people(headers.get("to", "")),
            cc=_people(headers.get("cc", "")),
            body="\n".join(lines[cursor:]).strip(),
            note="\n".join(lines[:index]).strip(),
        )
    return None


def strip_quoted(text: str) -> str:
    """A reply's own words: cut at the quoted history, without `>` lines or the
    signature."""
    kept: list[str] = []
    lines = text.splitlines()
    for index, line in enumerate(lines):
        if any(pattern.match(line) for pattern in _QUOTE_STARTS):
            break
        # "On Mon, 2 Mar 2026 at 10:15, Ann Smith <ann@acme.com>" / "wrote:" on two lines.
        following = lines[index + 1] if index + 1 < len(lines) else ""
        if line.strip().lower().startswith("on ") and _WROTE_TAIL.match(following):
            break
        if _outlook_header_block(lines, index):
            break
        if line.rstrip() == "--":
            break  # the signature delimiter ("-- ")
        if line.lstrip().startswith(">"):
            continue
        kept.append(line)
    return "\n".join(kept).strip()


def _outlook_header_block(lines: list[str], index: int) -> bool:
    """Outlook quotes a reply's history under "From: …" followed by "Sent: …"."""
    if not re.match(r"^\s*\*?(from|von|de)\*?\s*:", lines[index], re.IGNORECASE):
        return False
    window = lines[index + 1 : index + 4]
    return any(re.match(r"^\s*\*?(sent|date|gesendet|envoyé)\*?\s*:", w, re.I) for w in window)
