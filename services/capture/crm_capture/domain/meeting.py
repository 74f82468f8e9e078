"""A captured meeting: one per workspace and invitation UID, with one interaction per
occurrence. A newer version of the invitation (a higher SEQUENCE, or the same with a
later DTSTAMP) changes the occurrences it moves, adds the new ones and cancels the ones it
drops or cancels; an older or repeated version changes nothing."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime

from crm_kit.clock import to_millis, utcnow
from crm_kit.entity import Entity

from .calendar import CalendarEvent, Occurrence
from .ids import derived_id
from .matching import DealLink, Match


def meeting_record_id(workspace_id: str, uid: str) -> str:
    return derived_id("meeting", workspace_id, uid)


@dataclass(frozen=True)
class OccurrenceState:
    key: str
    interaction_id: str
    starts_at: datetime
    ends_at: datetime
    summary: str | None
    location: str | None
    cancelled: bool
    revision: int

    def same_as(self, occurrence: Occurrence) -> bool:
        return (
            not self.cancelled
            and self.starts_at == to_millis(occurrence.starts_at)
            and self.ends_at == to_millis(occurrence.ends_at)
            and self.summary == occurrence.summary
            and self.location == occurrence.location
        )


@dataclass
class CapturedMeeting(Entity):
    id: str  # meeting_record_id(workspace, UID)
    workspace_id: str
    uid: str
    sequence: int
    stamp: datetime | None
    channel: str
    summary: str | None = None
    description: str | None = None
    location: str | None = None
    organizer: str | None = None
    participants: list[str] = field(default_factory=list)
    external: list[str] = field(default_factory=list)  # external addresses (matched or not)
    contact_ids: list[str] = field(default_factory=list)
    company_id: str | None = None
    deal: DealLink | None = None
    rep_user_id: str | None = None
    occurrences: list[OccurrenceState] = field(default_factory=list)
    cancelled: bool = False
    captured_at: datetime = field(default_factory=utcnow)
    updated_at: datetime = field(default_factory=utcnow)
    version: int = 1

    def interaction_id(self, key: str) -> str:
        return derived_id("meeting-occurrence", self.workspace_id, self.uid, key)

    @property
    def on_timeline(self) -> bool:
        """A known contact or company takes part (else only suggestions wait)."""
        return bool(self.contact_ids or self.company_id)

    @property
    def live_occurrences(self) -> list[OccurrenceState]:
        return [o for o in self.occurrences if not o.cancelled]

    def newer(self, event: CalendarEvent) -> bool:
        """Whether `event` is a version to apply (not older than what is stored)."""
        if event.sequence != self.sequence:
            return event.sequence > self.sequence
        return self.stamp is None or event.stamp is None or event.stamp >= self.stamp

    def apply(
        self,
        event: CalendarEvent,
        match: Match,
        *,
        window: tuple[datetime, datetime] | None,
        at: datetime,
    ) -> bool:
        """Bring the meeting to `event`'s version; False when it is older, or the same
        (nothing to write). `window` is the span a recurring series was expanded over:
        occurrences of the series it no longer has are cancelled only inside it."""
        if not self.newer(event):
            return False
        before = self._facts()
        self.sequence, self.stamp = event.sequence, event.stamp or self.stamp
        self.summary = event.summary or self.summary
        self.description = event.description or self.description
        self.location = event.location or self.location
        # Unchanged occurrences that never reached a timeline go out now if they can.
        resend = not self.on_timeline
        self.contact_ids, self.company_id = list(match.contact_ids), match.company_id
        self.deal = match.deal or self.deal
        by_key = {o.key: o for o in self.occurrences}
        changed = False
        if event.cancelled:
            for state in self.live_occurrences:
                changed |= self._cancel(state)
            self.cancelled = True
        else:
            self.cancelled = False
            for occurrence in event.occurrences:
                changed |= self._put(by_key.get(occurrence.key), occurrence, resend=resend)
            if event.recurring and window is not None:
                kept = {o.key for o in event.occurrences}
                low, high = window
                for state in self.live_occurrences:
                    if state.key not in kept and low <= state.starts_at <= high:
                        changed |= self._cancel(state)
        for key in event.cancelled_keys:
            named = {o.key: o for o in self.occurrences}.get(key)
            if named is not None:
                changed |= self._cancel(named)
        if not changed and self._facts() == before:
            return False
        self.updated_at = at
        return True

    def _facts(self) -> tuple[object, ...]:
        """What an invitation says of the meeting besides its occurrences."""
        return (
            self.sequence,
            self.stamp,
            self.summary,
            self.description,
            self.location,
            self.contact_ids,
            self.company_id,
            self.deal,
            self.cancelled,
        )

    def _put(self, state: OccurrenceState | None, occurrence: Occurrence, *, resend: bool) -> bool:
        if state is not None and state.same_as(occurrence) and not resend:
            return False
        fresh = OccurrenceState(
            key=occurrence.key,
            interaction_id=self.interaction_id(occurrence.key),
            starts_at=to_millis(occurrence.starts_at),
            ends_at=to_millis(occurrence.ends_at),
            summary=occurrence.summary,
            location=occurrence.location,
            cancelled=False,
            revision=(state.revision if state else 0) + 1,
        )
        self._store(fresh)
        if self.on_timeline:
            self.raise_event(MeetingOccurrenceCaptured(self, fresh))
        return True

    def _cancel(self, state: OccurrenceState) -> bool:
        if state.cancelled:
            return False
        cancelled = replace(state, cancelled=True, revision=state.revision + 1)
        self._store(cancelled)
        if self.on_timeline:
            self.raise_event(MeetingOccurrenceCancelled(self, cancelled))
        return True

    def _store(self, state: OccurrenceState) -> None:
        others = [o for o in self.occurrences if o.key != state.key]
        self.occurrences = sorted([*others, state], key=lambda o: (o.starts_at, o.key))

    def rematched(self, match: Match) -> bool:
        """Attach to who the participants turned out to be (a suggestion accepted): every
        live occurrence is sent again with the new parties."""
        if self.contact_ids == match.contact_ids and self.company_id == match.company_id:
            return False
        self.contact_ids, self.company_id = list(match.contact_ids), match.company_id
        if not self.on_timeline:
            return True
        self.deal = match.deal or self.deal
        for state in self.live_occurrences:
            revised = replace(state, revision=state.revision + 1)
            self._store(revised)
            self.raise_event(MeetingOccurrenceCaptured(self, revised))
        return True


@dataclass(frozen=True)
class MeetingOccurrenceCaptured:
    meeting: CapturedMeeting
    occurrence: OccurrenceState


@dataclass(frozen=True)
class MeetingOccurrenceCancelled:
    meeting: CapturedMeeting
    occurrence: OccurrenceState
