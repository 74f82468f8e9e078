"""Analytics on FerretDB + NATS: a slice of the shared dataset imported with the CLI's
importer, the forecast, funnel and scorecards checked against figures computed directly
from the CSV rows, and a forecast snapshot + accuracy round trip through the database."""

from __future__ import annotations

import csv
import io
import statistics
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from crm_deals.importer import run as import_run
from crm_deals.importer import slug
from crm_kit.settings import Settings

from .test_win_model import _slice

pytestmark = pytest.mark.integration

FORECAST = """query { forecast(from: "2016-10-01", to: "2018-01-01") { currency
  months { month closed categories { category count amount } }
  undated { categories { category count amount } } } }"""
ANALYTICS = """query { pipelineAnalytics { created won lost winRate medianSalesCycleDays
  averageWonAmount stages { key entered advanced lost stillThere movedBack won } } }"""
SCORECARDS = """query { ownerScorecards { ownerId openCount wonCount wonAmount lostCount } }"""
SNAP = "mutation { snapshotForecast { id day months { month commitForecast } } }"
ACCURACY = """query { forecastAccuracy(months: 1) { month actual
  horizons { daysBefore snapshotDay commit { forecast error relativeError } } } }"""


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8-sig") as handle:
        return list(csv.DictReader(handle))


def _cents(value: str) -> int:
    return int(value) * 100


def _half_even(total: int, count: int) -> int:
    quotient, remainder = divmod(total, count)
    if remainder * 2 > count or (remainder * 2 == count and quotient % 2):
        quotient += 1
    return quotient


async def test_analytics_match_the_csv_and_snapshots_round_trip(
    settings: Settings,
    db: AsyncDatabase,
    service: dict[str, Any],
    tmp_path: Path,
    import_argv: Callable[..., list[str]],
) -> None:
    workspace = f"an-{settings.database}"
    _slice(tmp_path, every=20)
    rows = _rows(tmp_path / "sales_pipeline.csv")
    argv = import_argv(tmp_path / "sales_pipeline.csv", workspace, "--no-companies")
    out, err = io.StringIO(), io.StringIO()
    assert await import_run(argv, out, err) == 0, out.getvalue() + err.getvalue()
    won = [r for r in rows if r["deal_stage"] == "Won"]
    lost = [r for r in rows if r["deal_stage"] == "Lost"]
    engaging = [r for r in rows if r["deal_stage"] == "Engaging"]
    prospecting = [r for r in rows if r["deal_stage"] == "Prospecting"]
    viewer = service["client"](workspace, "vera", "viewer")

    # Forecast: won deals by close month; open deals have no expected close date in the
    # source, so they are all undated (engaging = best case, prospecting = pipeline).
    fc = (await viewer.data(FORECAST))["forecast"]
    assert fc["currency"] == "USD" and len(fc["months"]) == 15
    by_month: dict[str, list[int]] = {}
    for r in won:
        by_month.setdefault(r["close_date"][:7], []).append(_cents(r["close_value"]))
    for month in fc["months"]:
        closed = next(c for c in month["categories"] if c["category"] == "closed")
        expected = by_month.get(month["month"], [])
        assert closed["count"] == len(expected), month["month"]
        assert month["closed"] == f"{sum(expected) // 100}.00", month["month"]
        assert all(c["count"] == 0 for c in month["categories"] if c["category"] != "closed")
    assert sum(len(v) for v in by_month.values()) == len(won)  # every win is in 2016-10..2017-12
    undated = {c["category"]: c["count"] for c in fc["undated"]["categories"]}
    assert undated == {
        "closed": 0, "commit": 0, "best_case": len(engaging), "pipeline": len(prospecting)
    }  # fmt: skip

    # Funnel: imported closed deals went -> engaging (engage date) -> won / lost (close date).
    pa = (await viewer.data(ANALYTICS))["pipelineAnalytics"]
    assert (pa["won"], pa["lost"], pa["created"]) == (len(won), len(lost), len(rows))
    assert pa["winRate"] == round(len(won) / (len(won) + len(lost)), 4)
    cycles = [
        (date.fromisoformat(r["close_date"]) - date.fromisoformat(r["engage_date"])).days
        for r in won
    ]
    assert pa["medianSalesCycleDays"] == round(statistics.median(cycles), 2)
    total = sum(_cents(r["close_value"]) for r in won)
    avg = _half_even(total, len(won))
    assert pa["averageWonAmount"] == f"{avg // 100}.{avg % 100:02d}"
    stages = {s["key"]: s for s in pa["stages"]}
    assert stages["engaging"] == {
        "key": "engaging", "entered": len(won) + len(lost) + len(engaging),
        "advanced": len(won), "lost": len(lost), "stillThere": len(engaging),
        "movedBack": 0, "won": len(won),
    }  # fmt: skip
    assert stages["prospecting"]["entered"] == len(prospecting)
    assert stages["prospecting"]["stillThere"] == len(prospecting)
    assert stages["qualification"]["entered"] == 0

    # Scorecards: per sales agent.
    cards = {c["ownerId"]: c for c in (await viewer.data(SCORECARDS))["ownerScorecards"]}
    for agent in {r["sales_agent"] for r in rows}:
        mine = [r for r in rows if r["sales_agent"] == agent]
        card = cards[slug(agent)]
        assert card["wonCount"] == sum(r["deal_stage"] == "Won" for r in mine), agent
        assert card["lostCount"] == sum(r["deal_stage"] == "Lost" for r in mine), agent
        assert card["openCount"] == sum(
            r["deal_stage"] in ("Engaging", "Prospecting") for r in mine
        ), agent
        won_cents = sum(_cents(r["close_value"]) for r in mine if r["deal_stage"] == "Won")
        assert card["wonAmount"] == f"{won_cents // 100}.00", agent

    # Snapshot on demand: stored by `_id` on FerretDB (managers only).
    manager = service["client"](workspace, "maria", "manager")
    refused = await viewer.execute(SNAP)
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    snap = (await manager.data(SNAP))["snapshotForecast"]
    today = datetime.now(UTC).date()
    assert snap["day"] == today.isoformat()
    stored = await db["forecast_snapshots"].find_one({"_id": snap["id"]})
    assert stored is not None and stored["workspace_id"] == workspace
    assert [m["month"] for m in stored["months"]] == [m["month"] for m in snap["months"]]

    # Accuracy: a snapshot from 20 days before the end of last month said 1234.00 committed;
    # nothing was won last month (the dataset ends in 2017).
    this_month = today.replace(day=1)
    last_month = (this_month - timedelta(days=1)).replace(day=1)
    day = this_month - timedelta(days=20)
    await db["forecast_snapshots"].insert_one(
        {
            **{k: v for k, v in stored.items() if k != "_id"},
            "_id": f"{workspace}:{workspace}:default:{day.isoformat()}",
            "day": day.isoformat(),
            "months": [
                {**stored["months"][0], "month": last_month.strftime("%Y-%m"),
                 "commit_minor": 123400}
            ],
        }
    )  # fmt: skip
    (month,) = (await viewer.data(ACCURACY))["forecastAccuracy"]
    assert month["month"] == last_month.strftime("%Y-%m") and month["actual"] == "0.00"
    h30, h14, h7 = month["horizons"]
    assert h30["snapshotDay"] is None and h30["commit"] is None  # 30 days before: none yet
    assert h14["snapshotDay"] == day.isoformat() and h7["snapshotDay"] == day.isoformat()
    assert h7["commit"] == {"forecast": "1234.00", "error": "1234.00", "relativeError": None}
