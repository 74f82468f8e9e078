"""An owner handover: every open deal of one owner moved to another in one step, kept as
a small record whose one event (`deals.handed_over`) tells the tasks service to follow.

Its id is deterministic (`handover_id`): the same request over the same deals in the same
state is the same handover, so a repeat is refused by the unique insert and its summary
event is a duplicate JetStream drops.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime

from crm_kit.entity import Entity


def handover_id(
    workspace: str,
    from_owner: str,
    to_owner: str,
    pipeline_id: str | None,
    deals: list[tuple[str, int]],
) -> str:
    """The same deals in the same state (id and revision) give the same id, while handing
    the same deals A -> B -> A -> B again is a new one (their revisions moved on), so its
    summary is not taken for a repeat."""
    found = [f"{deal_id}@{rev}" for deal_id, rev in sorted(deals)]
    key = "\n".join([workspace, from_owner, to_owner, pipeline_id or "", *found])
    return hashlib.sha256(key.encode()).hexdigest()[:32]


@dataclass
class Handover(Entity):
    id: str
    workspace_id: str
    from_owner_id: str
    to_owner_id: str
    pipeline_id: str | None
    note: str | None
    by: str
    at: datetime
    deal_ids: list[str] = field(default_factory=list)

    def done(self) -> Handover:
        """The deals moved: the summary event goes out with the record."""
        self.raise_event(DealsHandedOver(self))
        return self


@dataclass(frozen=True)
class DealsHandedOver:
    handover: Handover
