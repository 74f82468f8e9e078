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

from pymongo import AsyncMongoClient

from crm_kit.demo_users import DEMO_SUPPORT_TEAMS
from crm_kit.errors import Conflict

from .config import load_settings
from .store.mongo import MongoTasksStore
from .usecases.base import Scope
from .usecases.teams import create_team


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


async def load_teams(
    path: Path, workspace: str, mongodb_uri: str, database: str
) -> tuple[int, int]:
    """Returns (created, already there)."""
    client: AsyncMongoClient = AsyncMongoClient(mongodb_uri, tz_aware=True)
    try:
        store = MongoTasksStore(client[database])
        await store.ensure_indexes()
        scope = Scope(store.for_workspace(workspace), "service:demo")
        created = existing = 0
        for manager, members in teams_from_csv(path).items():
            name = f"{manager} team"
            if await scope.store.get_team_by_name(name) is not None:
                existing += 1
                continue
            try:
                await create_team(scope, name=name, member_ids=members, manager_id=slug(manager))
            except Conflict:  # another loader created it meanwhile
                existing += 1
                continue
            created += 1
        for team_id, name, members, manager in DEMO_SUPPORT_TEAMS:
            if await scope.store.get_teams([team_id]) or await scope.store.get_team_by_name(name):
                existing += 1
                continue
            try:
                await create_team(
                    scope, name=name, member_ids=members, manager_id=manager, team_id=team_id
                )
            except Conflict:
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
