"""Forecast snapshots (on demand and by the daily job, one replica per day) and the
measured accuracy: the forecast 30 / 14 / 7 days before a month's end against the amount
won in it, with hand-computed errors."""

from __future__ import annotations

from typing import Any

from crm_deals.config import FORECAST_SNAPSHOTS, SNAPSHOT_LEASES
from crm_deals.usecases.analytics import SnapshotScheduler

from .analytics_helpers import at

CREATE = """mutation($input: CreateDealInput!) { createDeal(input: $input) { id } }"""
WON = "mutation($id: ID!) { closeDealWon(id: $id) { id } }"
LOST = 'mutation($id: ID!) { closeDealLost(id: $id, reason: "price") { id } }'
SNAP = """mutation { snapshotForecast { id day takenBy currency
  months { month closed commitForecast bestCaseForecast weightedForecast openPipeline
    openCount wonCount } } }"""
ACCURACY = """query($m: Int!) { forecastAccuracy(months: $m) { month currency actual actualCount
  horizons { daysBefore asOf snapshotDay
    commit { forecast error absoluteError relativeError }
    bestCase { forecast error absoluteError relativeError }
    weighted { forecast error absoluteError relativeError } } } }"""


async def create(gql: Any, stage: str, amount: str, expected: str) -> str:
    values = {"title": "D", "amount": amount, "stageKey": stage, "expectedCloseDate": expected}
    values["override"] = True  # placed at a later stage by an admin (the test caller)
    return (await gql.data(CREATE, {"input": values}))["createDeal"]["id"]


async def test_snapshots_and_accuracy_round_trip(gql: Any, clock: Any) -> None:
    clock.now = at("2025-11-25T08:00")
    d1 = await create(gql, "negotiation", "1000", "2025-12-15")  # commit, 80 %
    d2 = await create(gql, "engaging", "500", "2025-12-20")  # best case, 40 %
    first = (await gql.data(SNAP))["snapshotForecast"]
    assert first["id"] == "w1:w1:default:2025-11-25" and first["day"] == "2025-11-25"
    assert first["takenBy"] == "alice" and first["currency"] == "USD"
    nov, dec = first["months"]
    assert nov == {
        "month": "2025-11",
        "closed": "0.00",
        "commitForecast": "0.00",
        "bestCaseForecast": "0.00",
        "weightedForecast": "0.00",
        "openPipeline": "0.00",
        "openCount": 0,
        "wonCount": 0,
    }
    assert (dec["commitForecast"], dec["bestCaseForecast"], dec["weightedForecast"]) == (
        "1000.00",
        "1500.00",
        "1000.00",
    )

    clock.now = at("2025-12-10T10:00")
    await gql.data(WON, {"id": d1})
    clock.now = at("2025-12-20T10:00")
    dec = (await gql.data(SNAP))["snapshotForecast"]["months"][0]
    assert (dec["closed"], dec["commitForecast"], dec["bestCaseForecast"]) == (
        "1000.00",
        "1000.00",
        "1500.00",
    )
    assert dec["weightedForecast"] == "1200.00" and dec["wonCount"] == 1
    clock.now = at("2025-12-28T10:00")
    await gql.data(LOST, {"id": d2})

    clock.now = at("2026-01-05T09:00")
    months = (await gql.data(ACCURACY, {"m": 2}))["forecastAccuracy"]
    # November's horizons are Nov 1, 17 and 24; the first snapshot is from the 25th, so
    # November has none and is left out.
    assert [m["month"] for m in months] == ["2025-12"]
    (dec,) = months
    assert (dec["actual"], dec["actualCount"], dec["currency"]) == ("1000.00", 1, "USD")
    h30, h14, h7 = dec["horizons"]
    assert (h30["daysBefore"], h30["asOf"], h30["snapshotDay"]) == (30, "2025-12-02", "2025-11-25")
    assert (h14["asOf"], h14["snapshotDay"]) == ("2025-12-18", "2025-11-25")
    assert (h7["asOf"], h7["snapshotDay"]) == ("2025-12-25", "2025-12-20")
    exact = {"forecast": "1000.00", "error": "0.00", "absoluteError": "0.00", "relativeError": 0.0}
    assert h30["commit"] == exact and h30["weighted"] == exact
    assert h30["bestCase"] == {
        "forecast": "1500.00",
        "error": "500.00",
        "absoluteError": "500.00",
        "relativeError": 0.5,
    }
    assert h14 == {**h30, "daysBefore": 14, "asOf": "2025-12-18"}
    assert h7["weighted"] == {
        "forecast": "1200.00",
        "error": "200.00",
        "absoluteError": "200.00",
        "relativeError": 0.2,
    }
    # One month back only: December is the last finished month.
    assert [m["month"] for m in (await gql.data(ACCURACY, {"m": 1}))["forecastAccuracy"]] == [
        "2025-12"
    ]


async def test_over_forecast_and_nothing_won(gql: Any, clock: Any) -> None:
    clock.now = at("2025-12-01T08:00")
    await create(gql, "negotiation", "10", "2025-12-15")
    await gql.data(SNAP)
    clock.now = at("2026-01-02T08:00")
    (dec,) = (await gql.data(ACCURACY, {"m": 1}))["forecastAccuracy"]
    assert dec["actual"] == "0.00"
    assert dec["horizons"][0]["commit"] == {
        "forecast": "10.00",
        "error": "10.00",
        "absoluteError": "10.00",
        "relativeError": None,
    }


async def test_daily_job_one_replica_per_day_and_skips_on_demand_days(
    gql: Any, fake: Any, clock: Any
) -> None:
    db = fake
    clock.now = at("2026-01-05T09:00")
    await create(gql, "negotiation", "10", "2026-01-15")  # creates the default pipeline
    # Three replicas over the same database.
    replicas = [SnapshotScheduler(fake.store, fake.scopes) for _ in range(3)]
    leases = db.collections[SNAPSHOT_LEASES]
    done = [await r.run_once() for r in replicas]
    assert done[0] == [("w1", "w1:default")] and done[1] == [] and done[2] == []
    snaps = db.collections[FORECAST_SNAPSHOTS]
    assert list(snaps) == ["w1:w1:default:2026-01-05"]
    assert snaps["w1:w1:default:2026-01-05"]["taken_by"] == "forecast-snapshot"
    assert snaps["w1:w1:default:2026-01-05"]["months"][0]["commit_minor"] == 1000
    assert len(leases) == 1
    assert await replicas[0].run_once() == []  # same day again: nothing

    # Next day: an on-demand snapshot was taken first, so the job leaves the day alone.
    clock.advance(days=1)
    await gql.data(SNAP)
    assert await replicas[1].run_once() == []
    assert snaps["w1:w1:default:2026-01-06"]["taken_by"] == "alice"
    clock.advance(days=1)
    assert await replicas[2].run_once() == [("w1", "w1:default")]
    assert len(snaps) == 3
