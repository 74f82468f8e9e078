"""Teams and picking a member for a task assigned to a team."""

from __future__ import annotations

from collections.abc import Sequence

from crm_kit.errors import BadUserInput, Conflict, NotFound
from crm_kit.ids import new_id

from ..domain.assignment import fewest_open_pick, round_robin_pick
from ..domain.model import STRATEGIES, Team
from ..store.protocol import DuplicateKey
from .base import Scope


def _clean_members(member_ids: Sequence[str], field: str) -> list[str]:
    members: list[str] = []
    for member in member_ids:
        member = member.strip()
        if not member:
            raise BadUserInput("member ids must not be empty", field=field)
        if member not in members:
            members.append(member)
    return members


async def create_team(
    scope: Scope,
    *,
    name: str,
    member_ids: Sequence[str],
    strategy: str = "round_robin",
    manager_id: str | None = None,
    team_id: str | None = None,
) -> Team:
    """`team_id` fixes the id (the demo's teams, which the default playbooks name by id);
    otherwise a new one is made."""
    name = name.strip()
    if not name:
        raise BadUserInput("must not be empty", field="input.name")
    if strategy not in STRATEGIES:
        raise BadUserInput(f"must be one of {STRATEGIES}", field="input.strategy")
    now = scope.now()
    team = Team(
        id=team_id or new_id(),
        workspace_id=scope.workspace_id,
        name=name,
        member_ids=_clean_members(member_ids, "input.memberIds"),
        strategy=strategy,
        manager_id=manager_id,
        created_at=now,
        updated_at=now,
    )
    try:
        await scope.store.insert_team(team)
    except DuplicateKey as error:
        raise Conflict(
            f"a team named {name!r} exists", field="input.name", existingId=error.existing_id
        ) from None
    return team


async def get_team(scope: Scope, team_id: str, field: str = "id") -> Team:
    teams = await scope.store.get_teams([team_id])
    if not teams:
        raise NotFound(f"no team {team_id}", field=field)
    return teams[0]


async def update_team(
    scope: Scope,
    team_id: str,
    *,
    name: str | None = None,
    member_ids: Sequence[str] | None = None,
    strategy: str | None = None,
    manager_id: str | None = None,
) -> Team:
    changes: dict[str, object] = {"updated_at": scope.now()}
    if name is not None:
        if not name.strip():
            raise BadUserInput("must not be empty", field="input.name")
        changes["name"] = name.strip()
    if member_ids is not None:
        changes["member_ids"] = _clean_members(member_ids, "input.memberIds")
    if strategy is not None:
        if strategy not in STRATEGIES:
            raise BadUserInput(f"must be one of {STRATEGIES}", field="input.strategy")
        changes["strategy"] = strategy
    if manager_id is not None:
        changes["manager_id"] = manager_id or None
    try:
        team = await scope.store.update_team(team_id, changes)
    except DuplicateKey as error:
        raise Conflict(
            f"a team named {name!r} exists", field="input.name", existingId=error.existing_id
        ) from None
    if team is None:
        raise NotFound(f"no team {team_id}", field="id")
    return team


async def pick_member(
    scope: Scope, team_id: str, field: str = "input.teamId", key: str | None = None
) -> str:
    """A member of the team by its strategy. Round robin advances the team's counter in
    the database atomically, so replicas creating tasks at once still take turns; with a
    natural `key` (playbook and rule tasks) the position is reserved once per key, so a
    duplicate event handled at the same time by another replica takes no extra turn."""
    team = await get_team(scope, team_id, field)
    if not team.member_ids:
        raise BadUserInput(f"team {team.name!r} has no members", field=field)
    if team.strategy == "fewest_open":
        counts = await scope.store.open_counts(team.member_ids)
        return fewest_open_pick(team.member_ids, counts)
    counter = await scope.store.reserve_round_robin(team, key)
    return round_robin_pick(team.member_ids, counter)
