"""Demo teams from the sales-teams CSV, loaded once."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from crm_kit.demo_users import DEMO_SUPPORT_TEAMS, DEMO_USERS
from crm_kit.paths import demo_dataset_dir
from crm_tasks.demo import main, slug, teams_from_csv

pytestmark = pytest.mark.integration
CSV = demo_dataset_dir() / "sales_teams.csv"


def test_slugs_and_grouping(tmp_path: Path) -> None:
    sample = tmp_path / "teams.csv"
    sample.write_text(
        "sales_agent,manager,regional_office\n"
        "Darcel Schlecht,Melvin Marxen,Central\nAnna Snelling,Melvin Marxen,Central\n"
        "Zé Ñandú,Rocco Neubert,East\n"
    )
    assert slug("Darcel Schlecht") == "darcel-schlecht"
    assert teams_from_csv(sample) == {
        "Melvin Marxen": ["darcel-schlecht", "anna-snelling"],
        "Rocco Neubert": ["ze-nandu"],
    }


async def test_demo_teams_load_once(infra: Any, db_name: str, capsys: Any) -> None:
    argv = ["teams", str(CSV), "--mongodb-uri", infra.mongodb_uri, "--database", db_name]
    # main() runs its own event loop: give it a thread.
    assert await asyncio.to_thread(main, argv) == 0
    assert await asyncio.to_thread(main, argv) == 0
    out = capsys.readouterr().out.splitlines()
    managers = len(teams_from_csv(CSV))
    expected = managers + len(DEMO_SUPPORT_TEAMS)
    assert out[0] == f"teams: {expected} created, 0 already there (workspace demo)"
    assert out[1] == f"teams: 0 created, {expected} already there (workspace demo)"
    client: AsyncMongoClient = AsyncMongoClient(infra.mongodb_uri)
    try:
        teams = [t async for t in client[db_name]["teams"].find({"workspace_id": "demo"})]
    finally:
        await client.close()
    assert len(teams) == expected
    # The support teams the default playbooks name, by their fixed ids.
    by_id = {t["_id"]: t for t in teams}
    people = {u.id for u in DEMO_USERS}
    for team_id, name, members, _ in DEMO_SUPPORT_TEAMS:
        assert by_id[team_id]["name"] == name and by_id[team_id]["member_ids"] == list(members)
        assert set(members) <= people
    darcel = next(t for t in teams if "darcel-schlecht" in t["member_ids"])
    assert darcel["name"].endswith(" team")
    assert darcel["strategy"] == "round_robin"
    assert darcel["manager_id"] == slug(darcel["name"].removesuffix(" team"))
