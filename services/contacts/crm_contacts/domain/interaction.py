"""Something that happened with contacts (an email, a call...), and the event it raises."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from crm_kit.clock import utcnow
from crm_kit.entity import Entity


class InteractionKind(StrEnum):
    EMAIL = "email"
    CALL = "call"
    MEETING = "meeting"
    NOTE = "note"
    WEB_VISIT = "web_visit"


class Direction(StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"


@dataclass
class Interaction(Entity):
    id: str
    workspace_id: str
    kind: InteractionKind
    occurred_at: datetime
    direction: Direction | None = None
    subject: str | None = None
    summary: str | None = None
    participants: list[str] = field(default_factory=list)
    duration_seconds: int | None = None
    contact_ids: list[str] = field(default_factory=list)
    company_id: str | None = None
    deal_id: str | None = None
    logged_by: str | None = None
    created_at: datetime = field(default_factory=utcnow)

    def logged(self) -> Interaction:
        """A new interaction: raise its event."""
        self.raise_event(InteractionLogged(self))
        return self

    def move_contact(self, from_contact: str, to_contact: str) -> bool:
        """Point at `to_contact` instead of `from_contact` (a merge); False if it did not
        involve `from_contact`."""
        if from_contact not in self.contact_ids:
            return False
        ids = [i for i in self.contact_ids if i != from_contact]
        self.contact_ids = ids if to_contact in ids else [*ids, to_contact]
        return True


@dataclass(frozen=True)
class InteractionLogged:
    interaction: Interaction
