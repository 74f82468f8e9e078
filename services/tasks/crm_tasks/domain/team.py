"""People who share work, and how a member is picked for a task given to the team."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

STRATEGIES = ("round_robin", "fewest_open")


@dataclass
class Team:
    id: str
    workspace_id: str
    name: str
    member_ids: list[str]
    strategy: str = "round_robin"
    manager_id: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    # Where the next round-robin turn probably is (a hint: the turns themselves are unique).
    rr_hint: int = 0
