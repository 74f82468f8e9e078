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
    # Where it came from: None when a person logged it, "capture" for an email, meeting or
    # web visit the capture service recorded (which may change or remove it later).
    source: str | None = None
    # The version of a captured interaction the capture service last sent (higher wins).
    revision: int = 0
    # A captured interaction taken off the timeline (its meeting was cancelled).
    removed_at: datetime | None = None
    # The entry's id in the system a file came from (an import's identity key).
    external_id: str | None = None
    # The import job that created it (`crm_contracts.import_batches`: its undo removes it).
    import_job: str | None = None

    @property
    def removed(self) -> bool:
        return self.removed_at is not None

    def logged(self) -> Interaction:
        """A new interaction: raise its event."""
        self.raise_event(InteractionLogged(self))
        return self

    def revise(self, newer: Interaction) -> bool:
        """Take what a newer revision of this captured interaction says (its id, workspace
        and creation stay); False for an older or repeated revision. A removed one comes
        back only with a newer revision (a cancelled meeting re-scheduled)."""
        if newer.revision <= self.revision:
            return False
        restored = self.removed
        for name in REVISED:
            setattr(self, name, getattr(newer, name))
        self.removed_at = None
        self.raise_event(InteractionLogged(self) if restored else InteractionUpdated(self))
        return True

    def remove(self, revision: int, at: datetime) -> bool:
        """Off the timeline for `revision` (a cancellation); False when it is already, or
        when a newer revision superseded the cancellation."""
        if revision <= self.revision:
            return False
        self.revision = revision
        if self.removed:
            return False
        self.removed_at = at
        self.raise_event(InteractionRemoved(self))
        return True

    def move_contact(self, from_contact: str, to_contact: str) -> bool:
        """Point at `to_contact` instead of `from_contact` (a merge); False if it did not
        involve `from_contact`."""
        if from_contact not in self.contact_ids:
            return False
        ids = [i for i in self.contact_ids if i != from_contact]
        self.contact_ids = ids if to_contact in ids else [*ids, to_contact]
        return True


# What a newer revision of a captured interaction replaces.
REVISED = (
    "kind",
    "occurred_at",
    "direction",
    "subject",
    "summary",
    "participants",
    "duration_seconds",
    "contact_ids",
    "company_id",
    "deal_id",
    "logged_by",
    "revision",
)


@dataclass(frozen=True)
class InteractionLogged:
    interaction: Interaction


@dataclass(frozen=True)
class InteractionUpdated:
    interaction: Interaction


@dataclass(frozen=True)
class InteractionRemoved:
    interaction: Interaction
