"""A captured email: one per workspace and Message-ID, whichever way it came in (BCC to
the capture address, a mailbox polled over IMAP, an upload) and however often."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from crm_kit.clock import utcnow
from crm_kit.entity import Entity

from .ids import derived_id
from .matching import DealLink, Match


class EmailStatus(StrEnum):
    CAPTURED = "captured"  # on the timeline of its contacts or company
    UNMATCHED = "unmatched"  # nobody known took part: suggestions wait for a decision
    IGNORED = "ignored"  # a bounce, an automatic reply, bulk mail
    EXCLUDED = "excluded"  # only parties the workspace never captures
    PAUSED = "paused"  # the rep's capture is paused
    MEETING = "meeting"  # an invitation: captured as the meeting it carries


class Direction(StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"


def email_record_id(workspace_id: str, message_id: str) -> str:
    return derived_id("email", workspace_id, message_id)


@dataclass(frozen=True)
class AttachmentRecord:
    name: str | None
    content_type: str
    size: int


@dataclass
class CapturedEmail(Entity):
    id: str  # email_record_id(workspace, Message-ID); also the interaction's id
    workspace_id: str
    message_id: str
    thread_id: str
    status: EmailStatus
    occurred_at: datetime
    channel: str  # how it first came in: smtp, imap, upload
    reason: str | None = None  # why it is ignored
    subject: str | None = None
    sender: str | None = None
    participants: list[str] = field(default_factory=list)  # every party kept, as labels
    external: list[str] = field(default_factory=list)  # external addresses (matched or not)
    direction: Direction | None = None
    summary: str | None = None
    attachments: list[AttachmentRecord] = field(default_factory=list)
    forwarded: bool = False
    contact_ids: list[str] = field(default_factory=list)
    company_id: str | None = None
    deal: DealLink | None = None
    rep_user_id: str | None = None
    suggestion_ids: list[str] = field(default_factory=list)
    revision: int = 0
    channels: list[str] = field(default_factory=list)
    captured_at: datetime = field(default_factory=utcnow)
    version: int = 1

    @property
    def interaction_id(self) -> str:
        return self.id

    @property
    def on_timeline(self) -> bool:
        return self.status == EmailStatus.CAPTURED

    def matched(self, match: Match) -> bool:
        """Attach to who the participants turned out to be: captured (its event raised, a
        new revision) when someone known took part; False when nothing changed."""
        if self.status not in (EmailStatus.CAPTURED, EmailStatus.UNMATCHED):
            return False
        same = (
            self.contact_ids == match.contact_ids
            and self.company_id == match.company_id
            and self.deal == match.deal
        )
        if same and self.revision:
            return False
        self.contact_ids = list(match.contact_ids)
        self.company_id = match.company_id
        self.deal = match.deal
        self.suggestion_ids = list(dict.fromkeys([*self.suggestion_ids, *match.suggestion_ids]))
        if not match.anyone:
            self.status = EmailStatus.UNMATCHED
            return True
        self.status = EmailStatus.CAPTURED
        self.revision += 1
        self.raise_event(EmailCaptured(self))
        return True

    def seen_again(self, channel: str) -> bool:
        """The same message came in once more (another channel, another rep's copy)."""
        if channel in self.channels:
            return False
        self.channels = [*self.channels, channel]
        return True


@dataclass(frozen=True)
class EmailCaptured:
    email: CapturedEmail
