"""How a deal ended, as the deals service announced it: what playbook effectiveness
(analytics) compares tasks against, and what tells a late close from a reopen after it.

One record per deal holds the newest lifecycle fact heard: a close (`won`, `lost`) or a
reopen (`reopened`). Newest is by the deal's stage sequence (its place in the deal's stage
history, carried by the events), which no clock skew or redelivery can reorder; events
from before the sequence existed fall back to their times.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

REOPENED = "reopened"
CLOSED = ("won", "lost")


@dataclass
class DealOutcome:
    deal_id: str
    outcome: str  # won | lost | reopened
    closed_at: datetime  # when the fact happened (the close, or the reopen)
    workspace_id: str = ""
    sequence: int | None = None  # the fact's place in the deal's stage history

    @property
    def closed(self) -> bool:
        return self.outcome in CLOSED

    def newer_than(self, other: DealOutcome) -> bool:
        """Whether this fact happened after `other` (the one to keep)."""
        if self.sequence is not None and other.sequence is not None:
            return self.sequence > other.sequence
        return self.closed_at > other.closed_at

    def closed_since(self, sequence: int | None, at: datetime) -> bool:
        """Whether the deal closed at or after a stage change (its sequence and time): the
        change's playbook is then stale. A reopen at sequence R follows the close at R-1
        (a closed deal's next stage change is its reopen)."""
        if self.sequence is not None and sequence is not None:
            last_close = self.sequence if self.closed else self.sequence - 1
            return last_close >= sequence
        return self.closed and self.closed_at >= at
