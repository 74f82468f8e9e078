"""The base of a service's entities: their behaviour raises domain events, and the store
writes those events into the outbox in the same write as the entity (`crm_kit.records`).

A domain event is any plain object the service's outbound adapter can encode as a
CloudEvent (the `encode` given to the writer); the domain never builds CloudEvents.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Entity:
    # Not a field of the record: excluded from __init__, equality and repr.
    _events: list[object] = field(default_factory=list, init=False, repr=False, compare=False)

    def raise_event(self, event: object) -> None:
        self._events.append(event)

    @property
    def pending_events(self) -> list[object]:
        """Raised since the entity was last written."""
        return list(self._events)

    def events_written(self) -> None:
        """The store wrote the pending events (with the entity)."""
        self._events.clear()
