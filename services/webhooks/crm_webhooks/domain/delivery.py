"""One event for one endpoint: what was sent, how each attempt went. Its id is the
`webhook-id` the receiver sees, the same on every attempt (derived from the endpoint and
the event, so a re-delivered event makes the same delivery)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime

from crm_kit.entity import Entity

PENDING = "pending"
SUCCEEDED = "succeeded"
FAILED = "failed"
MAX_ATTEMPTS_KEPT = 50


def delivery_id(endpoint_id: str, event_id: str) -> str:
    return "msg_" + hashlib.sha256(f"{endpoint_id}\x00{event_id}".encode()).hexdigest()[:32]


@dataclass(frozen=True)
class DeliveryBecameDue:
    """A delivery is now first in its lane: send it (with retries)."""

    workspace_id: str
    lane_id: str
    delivery_id: str
    endpoint_id: str


@dataclass
class Attempt:
    at: datetime
    status_code: int | None
    latency_ms: float
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


@dataclass
class Delivery(Entity):
    id: str
    workspace_id: str
    endpoint_id: str
    event_id: str
    event_type: str
    record: str  # the CloudEvents subject: deliveries of one record keep their order
    body: str  # the CloudEvent as received, sent byte for byte
    created_at: datetime
    status: str = PENDING
    attempts: list[Attempt] = field(default_factory=list)
    attempt_count: int = 0
    # Attempts at the receiver since it was (re)queued: its place in the retry schedule.
    # Counted here, not by JetStream's deliveries, which also count our own failed tries.
    series_attempts: int = 0
    version: int = 0

    @property
    def lane_id(self) -> str:
        return lane_id(self.endpoint_id, self.record)

    def record_attempt(self, attempt: Attempt) -> None:
        self.attempts = [*self.attempts, attempt][-MAX_ATTEMPTS_KEPT:]
        self.attempt_count += 1
        self.series_attempts += 1

    def settle(self, status: str) -> None:
        self.status = status

    def requeue(self) -> None:
        self.status = PENDING
        self.series_attempts = 0


def lane_id(endpoint_id: str, record: str) -> str:
    return f"{endpoint_id}:{record}"


@dataclass
class Lane(Entity):
    """The pending deliveries of one endpoint about one record, oldest first: only the
    first is sent; the next becomes due when it succeeds or fails for good."""

    id: str
    workspace_id: str
    queue: list[str] = field(default_factory=list)
    version: int = 0

    @property
    def endpoint_id(self) -> str:
        return self.id.split(":", 1)[0]

    def enqueue(self, delivery: str) -> None:
        """Add a delivery at the end (once); the first one in an empty lane is due now."""
        if delivery in self.queue:
            return
        self.queue = [*self.queue, delivery]
        if len(self.queue) == 1:
            self._due(delivery)

    def done(self, delivery: str) -> None:
        """A delivery succeeded or failed for good: the next one (if any) is due."""
        if delivery not in self.queue:
            return
        was_first = self.queue[0] == delivery
        self.queue = [d for d in self.queue if d != delivery]
        if was_first and self.queue:
            self._due(self.queue[0])

    def _due(self, delivery: str) -> None:
        self.raise_event(DeliveryBecameDue(self.workspace_id, self.id, delivery, self.endpoint_id))
