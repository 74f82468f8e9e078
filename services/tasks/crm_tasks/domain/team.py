"""People who share work, and how a member is picked for a task given to the team. A team
also decides who sees whose records (`crm_kit.sharing`): each change is announced
(`TeamChanged`) so that every service keeps its own view of the teams."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from crm_kit.entity import Entity

STRATEGIES = ("round_robin", "fewest_open")


@dataclass
class Team(Entity):
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

    def changed(self) -> None:
        """Created or changed (name, members, manager): announce it as it is now."""
        self.raise_event(TeamChanged(self))


@dataclass(frozen=True)
class TeamChanged:
    team: Team
