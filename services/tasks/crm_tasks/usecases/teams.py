"""Teams and picking a member for a task assigned to a team."""

from __future__ import annotations

from collections.abc import Sequence

from crm_kit import bounds
from crm_kit.errors import BadUserInput, Conflict, NotFound
from crm_kit.ids import new_id
from crm_kit.unset import Unset

from ..domain.assignment import fewest_open_pick, round_robin_pick
from ..domain.team import STRATEGIES, Team
from ..store.port import NameTaken
from .inputs import TeamInput
from .scope import Scope

MANAGE = "manage teams and automation rules"


def _name(value: str, field: str = "input.name") -> str:
    name = value.strip()
    if not name:
        raise BadUserInput("must not be empty", field=field)
    return bounds.text(name, bounds.MAX_NAME, field) or name


def _manager(value: str | Unset | None, field: str = "input.managerId") -> str | None:
    if isinstance(value, Unset) or not value:
        return None
    return bounds.text(value, bounds.MAX_ID, field)


def _members(member_ids: Sequence[str], field: str = "input.memberIds") -> list[str]:
    bounds.count(member_ids, bounds.MAX_TEAM_MEMBERS, field)
    members: list[str] = []
    for index, member in enumerate(member_ids):
        member = member.strip()
        if not member:
            raise BadUserInput("member ids must not be empty", field=field)
        bounds.text(member, bounds.MAX_ID, f"{field}.{index}")
        if member not in members:
            members.append(member)
    return members


def _strategy(value: str, field: str = "input.strategy") -> str:
    if value not in STRATEGIES:
        raise BadUserInput(f"must be one of {STRATEGIES}", field=field)
    return value


async def create_team(scope: Scope, data: TeamInput, team_id: str | None = None) -> Team:
    """`team_id` fixes the id (the demo's support teams, which the default playbooks name
    by id); otherwise a new one is made."""
    scope.require_manager(MANAGE)
    if isinstance(data.name, Unset):
        raise BadUserInput("a team needs a name", field="input.name")
    name = _name(data.name)
    strategy = _strategy("round_robin" if isinstance(data.strategy, Unset) else data.strategy)
    now = scope.now()
    team = Team(
        id=team_id or new_id(),
        workspace_id=scope.workspace_id,
        name=name,
        member_ids=_members([] if isinstance(data.member_ids, Unset) else data.member_ids),
        strategy=strategy,
        manager_id=_manager(data.manager_id),
        created_at=now,
        updated_at=now,
    )
    team.changed()
    try:
        await scope.store.add_team(team)
    except NameTaken as taken:
        raise Conflict(
            f"a team named {name!r} exists", field="input.name", existingId=taken.existing_id
        ) from None
    return team


async def get_team(scope: Scope, team_id: str, field: str = "id") -> Team:
    teams = await scope.store.get_teams([team_id])
    if not teams:
        raise NotFound(f"no team {team_id}", field=field)
    return teams[0]


async def get_teams(scope: Scope, ids: Sequence[str]) -> list[Team]:
    return await scope.store.get_teams(ids)


async def team_named(scope: Scope, name: str) -> Team | None:
    return await scope.store.team_by_name(name)


async def list_teams(scope: Scope) -> list[Team]:
    return await scope.store.list_teams()


async def update_team(scope: Scope, team_id: str, data: TeamInput) -> Team:
    scope.require_manager(MANAGE)
    name = None if isinstance(data.name, Unset) else _name(data.name)
    members = None if isinstance(data.member_ids, Unset) else _members(data.member_ids)
    strategy = None if isinstance(data.strategy, Unset) else _strategy(data.strategy)

    async def change(team: Team) -> bool:
        if name is not None:
            team.name = name
        if members is not None:
            team.member_ids = members
        if strategy is not None:
            team.strategy = strategy
        if not isinstance(data.manager_id, Unset):
            team.manager_id = _manager(data.manager_id)
        team.updated_at = scope.now()
        team.changed()
        return True

    try:
        team = await scope.store.change_team(team_id, change)
    except NameTaken as taken:
        raise Conflict(
            f"a team named {name!r} exists", field="input.name", existingId=taken.existing_id
        ) from None
    if team is None:
        raise NotFound(f"no team {team_id}", field="id")
    return team


async def pick_member(
    scope: Scope, team_id: str, field: str = "input.teamId", key: str | None = None
) -> str:
    """A member of the team by its strategy. Round robin takes the team's next turn in the
    store, so replicas creating tasks at once still take turns; with a natural `key`
    (playbook and rule tasks) the turn is taken once per key, so a duplicate event
    handled at the same time by another replica takes no extra turn."""
    return await pick_member_of(scope, await get_team(scope, team_id, field), field, key)


async def pick_member_of(
    scope: Scope, team: Team, field: str = "input.teamId", key: str | None = None
) -> str:
    """`pick_member` of a team already read (a batch of playbooks reads each team once)."""
    if not team.member_ids:
        raise BadUserInput(f"team {team.name!r} has no members", field=field)
    if team.strategy == "fewest_open":
        counts = await scope.store.open_counts(team.member_ids)
        return fewest_open_pick(team.member_ids, counts)
    turn = await scope.store.take_turn(team, key)
    return round_robin_pick(team.member_ids, turn)
