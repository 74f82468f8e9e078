"""A suggestion: an address seen in a capture that matches no contact. Capture never
creates a contact silently: a rep accepts the suggestion (a contact is created, and what
was captured with the address joins its timeline) or rejects it (it is remembered, and the
address is never suggested again)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from crm_kit.entity import Entity

from .ids import derived_id

# References kept per suggestion (what to attach once accepted).
MAX_REFERENCES = 50


class SuggestionStatus(StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    REJECTED = "rejected"


class SuggestionSource(StrEnum):
    EMAIL = "email"
    MEETING = "meeting"
    WEB_FORM = "web_form"


def suggestion_id(workspace_id: str, email: str) -> str:
    return derived_id("suggestion", workspace_id, email)


@dataclass
class Suggestion(Entity):
    id: str  # suggestion_id(workspace, email): one per address
    workspace_id: str
    email: str
    domain: str
    source: SuggestionSource
    first_seen_at: datetime
    last_seen_at: datetime
    name: str | None = None
    company_id: str | None = None  # the company its domain matched, if any
    status: SuggestionStatus = SuggestionStatus.PENDING
    seen_count: int = 1
    email_ids: list[str] = field(default_factory=list)  # captured emails it took part in
    meeting_ids: list[str] = field(default_factory=list)
    visitor_ids: list[str] = field(default_factory=list)
    contact_id: str | None = None  # once accepted (or created elsewhere)
    decided_by: str | None = None
    decided_at: datetime | None = None
    version: int = 1

    @classmethod
    def new(
        cls,
        workspace_id: str,
        email: str,
        source: SuggestionSource,
        at: datetime,
        *,
        name: str | None,
        company_id: str | None,
        email_id: str | None = None,
        meeting_id: str | None = None,
        visitor_id: str | None = None,
    ) -> Suggestion:
        made = cls(
            id=suggestion_id(workspace_id, email),
            workspace_id=workspace_id,
            email=email,
            domain=email.rsplit("@", 1)[1],
            source=source,
            first_seen_at=at,
            last_seen_at=at,
            name=name,
            company_id=company_id,
            email_ids=_add([], email_id),
            meeting_ids=_add([], meeting_id),
            visitor_ids=_add([], visitor_id),
        )
        made.raise_event(SuggestionCreated(made))
        return made

    @property
    def pending(self) -> bool:
        return self.status == SuggestionStatus.PENDING

    def seen(
        self,
        at: datetime,
        *,
        name: str | None = None,
        email_id: str | None = None,
        meeting_id: str | None = None,
        visitor_id: str | None = None,
    ) -> bool:
        """Seen once more (in another email, meeting or form); False when it adds nothing."""
        before = (self.email_ids, self.meeting_ids, self.visitor_ids, self.name)
        self.email_ids = _add(self.email_ids, email_id)
        self.meeting_ids = _add(self.meeting_ids, meeting_id)
        self.visitor_ids = _add(self.visitor_ids, visitor_id)
        self.name = self.name or name
        if before == (self.email_ids, self.meeting_ids, self.visitor_ids, self.name):
            return False
        self.seen_count += 1
        self.last_seen_at = max(self.last_seen_at, at)
        return True

    def accept(self, contact_id: str, by: str, at: datetime) -> bool:
        if self.status == SuggestionStatus.ACCEPTED and self.contact_id == contact_id:
            return False
        self.status, self.contact_id = SuggestionStatus.ACCEPTED, contact_id
        self.decided_by, self.decided_at = by, at
        return True

    def reject(self, by: str, at: datetime) -> bool:
        if self.status == SuggestionStatus.REJECTED:
            return False
        self.status, self.decided_by, self.decided_at = SuggestionStatus.REJECTED, by, at
        return True


def _add(items: list[str], item: str | None) -> list[str]:
    if item is None or item in items:
        return items
    return [*items, item][-MAX_REFERENCES:]


@dataclass(frozen=True)
class SuggestionCreated:
    suggestion: Suggestion
