"""Demo data: `python -m crm_tasks.demo teams FILE [--workspace demo] [--mongodb-uri URI]`.

From the sales-teams CSV (columns `sales_agent`, `manager`, `regional_office`), one team
per manager named "<Manager> team", whose members are the agents' user-id slugs
(`darcel-schlecht`), managed by the manager's slug, strategy round robin. Then the support
teams the default playbooks assign to by id (`solutions-engineering`, `deal-desk`, members
from `crm_kit.demo_users`). Idempotent: a team that exists already (same name or id in the
workspace) is left as it is.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import re
import sys
import unicodedata
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pymongo import AsyncMongoClient

from crm_kit.context import RequestContext
from crm_kit.demo_users import DEMO_SUPPORT_TEAMS
from crm_kit.errors import Conflict
from crm_kit.mongo import apply_indexes
from crm_kit.profile import DatabaseProfile
from crm_kit.writer import DocumentWriter

from .config import AUDIT, OUTBOX_COLLECTIONS, load_settings
from .events.publish import encode
from .store.mongo import ensure_indexes, mongo_store
from .usecases.inputs import TeamInput
from .usecases.scope import Scope
from .usecases.teams import create_team, get_teams, team_named


def slug(name: str) -> str:
    """`Darcel Schlecht` -> `darcel-schlecht` (the demo's user ids)."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")


def teams_from_csv(path: Path) -> dict[str, list[str]]:
    """Manager name -> agent slugs, in file order."""
    teams: dict[str, list[str]] = {}
    with path.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            manager = (row.get("manager") or "").strip()
            agent = (row.get("sales_agent") or "").strip()
            if not manager or not agent:
                continue
            members = teams.setdefault(manager, [])
            if slug(agent) not in members:
                members.append(slug(agent))
    return teams


async def _exists(scope: Scope, team_id: str | None, name: str) -> bool:
    if team_id is not None and await get_teams(scope, [team_id]):
        return True
    return await team_named(scope, name) is not None


async def load_teams(
    path: Path, workspace: str, mongodb_uri: str, database: str
) -> tuple[int, int]:
    """Returns (created, already there)."""
    client: AsyncMongoClient[Any] = AsyncMongoClient(mongodb_uri, tz_aware=True)
    try:
        db = client[database]
        await apply_indexes(db, ensure_indexes)
        profile = await DatabaseProfile.detect(db, load_settings().database_profile)
        # No relay to wake: the teams' events (crm.tasks.team.changed.v1) wait in their
        # outbox for the service's relay, which sweeps it; no read index to keep.
        writer = DocumentWriter(
            db, profile=profile, outbox_collections=OUTBOX_COLLECTIONS, encode=encode, audit=AUDIT
        )
        store = mongo_store(writer, index=False)
        # The loader acts as a service of its own, allowed to manage teams.
        caller = RequestContext(workspace, "service:demo", frozenset({"admin"}))
        scope = Scope(store.for_workspace(workspace), caller)
        # (fixed id or None, the team): the managers' teams, then the support teams.
        teams: list[tuple[str | None, TeamInput]] = [
            (None, TeamInput(name=f"{manager} team", member_ids=agents, manager_id=slug(manager)))
            for manager, agents in teams_from_csv(path).items()
        ]
        teams += [
            (team_id, TeamInput(name=name, member_ids=list(members), manager_id=manager))
            for team_id, name, members, manager in DEMO_SUPPORT_TEAMS
        ]
        created = existing = 0
        for team_id, team in teams:
            if await _exists(scope, team_id, str(team.name)):
                existing += 1
                continue
            try:
                await create_team(scope, team, team_id=team_id)
            except Conflict:  # another loader created it meanwhile
                existing += 1
                continue
            created += 1
        return created, existing
    finally:
        await client.close()


def main(argv: Sequence[str] | None = None) -> int:
    settings = load_settings()
    parser = argparse.ArgumentParser(prog="python -m crm_tasks.demo")
    commands = parser.add_subparsers(dest="command", required=True)
    teams = commands.add_parser("teams", help="load sales teams from the CSV")
    teams.add_argument("file", type=Path)
    teams.add_argument("--workspace", default="demo")
    teams.add_argument("--mongodb-uri", default=settings.mongodb_uri)
    teams.add_argument("--database", default=settings.database)
    args = parser.parse_args(argv)
    if not args.file.exists():
        print(f"no such file: {args.file}", file=sys.stderr)
        return 2
    created, existing = asyncio.run(
        load_teams(args.file, args.workspace, args.mongodb_uri, args.database)
    )
    print(f"teams: {created} created, {existing} already there (workspace {args.workspace})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
