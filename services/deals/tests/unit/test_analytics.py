"""Forecast, funnel / stage velocity and owner scorecards through the schema, on small
deal sets with hand-computed expectations (each test runs against the store and through
the read index, see conftest), plus validation errors and roles."""

from __future__ import annotations

from typing import Any

from .analytics_helpers import at, put_deal

FORECAST = """query($from: Date!, $to: Date!, $owner: String, $cur: String, $p: ID) {
  forecast(from: $from, to: $to, ownerId: $owner, currency: $cur, pipelineId: $p) {
    pipelineId currency
    months { month closed commitForecast bestCaseForecast weightedForecast openPipeline
      categories { category count amount weightedAmount } otherCurrencies { currency count } }
    undated { month commitForecast bestCaseForecast weightedForecast
      categories { category count amount weightedAmount } otherCurrencies { currency count } }
  } }"""
ANALYTICS = """query($from: DateTime, $to: DateTime, $owner: String) {
  pipelineAnalytics(from: $from, to: $to, ownerId: $owner) {
    created won lost winRate medianSalesCycleDays averageWonAmount
    wonOtherCurrencies { currency count }
    stages { key entered advanced lost movedBack stillThere conversionRate won winRate
      stays medianDaysInStage p75DaysInStage } } }"""
SCORECARDS = """query($from: DateTime, $to: DateTime) {
  ownerScorecards(from: $from, to: $to) {
    ownerId openCount openAmount weightedOpenAmount staleOpen openWithoutNextStep
    wonCount wonAmount lostCount winRate averageWonAmount medianSalesCycleDays
    otherCurrencies { currency count } } }"""


def cats(period: dict) -> dict[str, tuple[int, str, str]]:
    return {
        c["category"]: (c["count"], c["amount"], c["weightedAmount"]) for c in period["categories"]
    }


def forecast_deals(db: Any) -> None:
    put_deal(db, "A", [("negotiation", "2025-11-01")], amount_minor=100000, expected="2025-12-20")
    put_deal(
        db,
        "B",
        [("engaging", "2025-11-01")],
        amount_minor=33333,
        owner="bob",
        expected="2026-01-31",
    )
    put_deal(
        db,
        "C",
        [("engaging", "2025-11-01"), ("won", "2025-12-31T23:30")],
        amount_minor=50000,
        expected="2026-02-15",
    )  # won month, not the expected one
    put_deal(
        db,
        "D",
        [("engaging", "2025-11-01"), ("won", "2026-01-01T00:10")],
        amount_minor=25000,
        owner="bob",
    )
    put_deal(
        db,
        "E",
        [("prospecting", "2025-11-01")],
        amount_minor=99999,
        owner="bob",
        expected="2026-02-10",
    )
    put_deal(
        db,
        "F",
        [("engaging", "2025-11-01")],
        amount_minor=10000,
        currency="EUR",
        expected="2026-01-15",
    )
    put_deal(db, "G", [("proposal", "2025-11-01")], amount_minor=20000)  # undated
    put_deal(db, "H", [("engaging", "2025-11-01"), ("lost", "2026-01-02")], expected="2026-01-20")
    put_deal(db, "I", [("negotiation", "2025-11-01")], expected="2026-03-01")  # == to: out
    put_deal(db, "J", [("qualification", "2025-11-01")], expected="2025-11-30")  # before from


async def test_forecast_months_categories_rollups_across_the_year_end(gql: Any, fake: Any) -> None:
    forecast_deals(fake)
    data = await gql.data(FORECAST, {"from": "2025-12-01", "to": "2026-03-01"})
    fc = data["forecast"]
    assert fc["pipelineId"] == "w1:default" and fc["currency"] == "USD"
    dec, jan, feb = fc["months"]
    assert [m["month"] for m in fc["months"]] == ["2025-12", "2026-01", "2026-02"]
    assert cats(dec) == {
        "closed": (1, "500.00", "500.00"),
        "commit": (1, "1000.00", "800.00"),
        "best_case": (0, "0.00", "0.00"),
        "pipeline": (0, "0.00", "0.00"),
    }
    assert (dec["closed"], dec["commitForecast"], dec["bestCaseForecast"]) == (
        "500.00",
        "1500.00",
        "1500.00",
    )
    assert (dec["weightedForecast"], dec["openPipeline"]) == ("1300.00", "1000.00")
    # 333.33 x 40 % = 133.332 -> 133.33; the won deal D counts in January (won 00:10 UTC).
    assert cats(jan)["best_case"] == (1, "333.33", "133.33")
    assert cats(jan)["closed"] == (1, "250.00", "250.00")
    assert (jan["commitForecast"], jan["bestCaseForecast"], jan["weightedForecast"]) == (
        "250.00",
        "583.33",
        "383.33",
    )
    assert jan["otherCurrencies"] == [{"currency": "EUR", "count": 1}]
    # 999.99 x 10 % = 99.999 -> 100.00 (half to even in minor units)
    assert cats(feb)["pipeline"] == (1, "999.99", "100.00")
    assert (feb["commitForecast"], feb["bestCaseForecast"], feb["weightedForecast"]) == (
        "0.00",
        "0.00",
        "100.00",
    )
    undated = fc["undated"]
    assert undated["month"] is None
    assert cats(undated)["best_case"] == (1, "200.00", "120.00")
    assert undated["weightedForecast"] == "120.00" and undated["commitForecast"] == "0.00"


async def test_forecast_owner_filter_and_other_currency(gql: Any, fake: Any) -> None:
    forecast_deals(fake)
    ann = await gql.data(FORECAST, {"from": "2025-12-01", "to": "2026-03-01", "owner": "ann"})
    dec, jan, feb = ann["forecast"]["months"]
    assert dec["commitForecast"] == "1500.00"
    assert jan["commitForecast"] == "0.00" and jan["bestCaseForecast"] == "0.00"
    assert jan["otherCurrencies"] == [{"currency": "EUR", "count": 1}]
    assert feb["openPipeline"] == "0.00"
    eur = await gql.data(FORECAST, {"from": "2026-01-01", "to": "2026-02-01", "cur": "eur"})
    assert eur["forecast"]["currency"] == "EUR"
    (jan,) = eur["forecast"]["months"]
    assert cats(jan)["best_case"] == (1, "100.00", "40.00")
    assert jan["otherCurrencies"] == [{"currency": "USD", "count": 2}]  # B and D
    # a partial range keeps only the days inside it: from Jan 16, B (31st) in, D (1st) and F out
    part = await gql.data(FORECAST, {"from": "2026-01-16", "to": "2026-02-01"})
    (jan,) = part["forecast"]["months"]
    assert cats(jan)["best_case"] == (1, "333.33", "133.33") and cats(jan)["closed"][0] == 0


def funnel_deals(db: Any) -> None:
    # P1: back and forth between qualification and engaging, then won.
    put_deal(
        db,
        "P1",
        [
            ("prospecting", "2025-10-01"),
            ("qualification", "2025-10-05"),
            ("engaging", "2025-10-15"),
            ("qualification", "2025-10-20"),
            ("engaging", "2025-10-25"),
            ("won", "2025-11-04"),
        ],
        amount_minor=100000,
    )
    put_deal(
        db,
        "P2",
        [("prospecting", "2025-10-02"), ("qualification", "2025-10-12"), ("lost", "2025-10-22")],
    )
    put_deal(db, "P3", [("prospecting", "2025-10-03")], owner="bob")
    # P4: won before the window, reopened into engaging in it, then lost.
    put_deal(
        db,
        "P4",
        [
            ("prospecting", "2025-09-01"),
            ("qualification", "2025-09-10"),
            ("won", "2025-09-20"),
            ("engaging", "2025-10-10"),
            ("lost", "2025-11-10"),
        ],
        owner="bob",
    )
    put_deal(db, "P5", [("engaging", "2025-12-20"), ("won", "2026-01-10")], owner="bob")
    put_deal(db, "P6", [("engaging", "2025-11-01"), ("prospecting", "2025-11-03")], owner="bob")


async def test_funnel_counts_back_and_forth_reopen_and_velocity(gql: Any, fake: Any) -> None:
    funnel_deals(fake)
    window = {"from": "2025-10-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"}
    pa = (await gql.data(ANALYTICS, window))["pipelineAnalytics"]
    stages = {s["key"]: s for s in pa["stages"]}
    assert list(stages) == ["prospecting", "qualification", "engaging", "proposal", "negotiation"]
    assert stages["prospecting"] == {
        "key": "prospecting",
        "entered": 4,
        "advanced": 2,
        "lost": 0,
        "movedBack": 0,
        "stillThere": 2,
        "conversionRate": 0.5,
        "won": 1,
        "winRate": 0.25,
        "stays": 2,
        "medianDaysInStage": 7.0,
        "p75DaysInStage": 8.5,
    }
    # P1 counts once (its latest entry: to engaging), stays 10 + 5 days; P2 lost from it.
    assert stages["qualification"] == {
        "key": "qualification",
        "entered": 2,
        "advanced": 1,
        "lost": 1,
        "movedBack": 0,
        "stillThere": 0,
        "conversionRate": 0.5,
        "won": 1,
        "winRate": 0.5,
        "stays": 3,
        "medianDaysInStage": 10.0,
        "p75DaysInStage": 10.0,
    }
    # P1 (advanced to won), P4 (reopened here, lost), P5 (advanced, won after the window),
    # P6 (moved back); stays 2, 5, 10, 21, 31 days.
    assert stages["engaging"] == {
        "key": "engaging",
        "entered": 4,
        "advanced": 2,
        "lost": 1,
        "movedBack": 1,
        "stillThere": 0,
        "conversionRate": 0.5,
        "won": 2,
        "winRate": 0.5,
        "stays": 5,
        "medianDaysInStage": 10.0,
        "p75DaysInStage": 21.0,
    }
    assert stages["proposal"]["entered"] == 0 and stages["proposal"]["conversionRate"] is None
    assert stages["proposal"]["medianDaysInStage"] is None
    # Created in the window: P1, P2, P3, P5, P6. Won: P1 (P5 after). Lost: P2, P4.
    assert (pa["created"], pa["won"], pa["lost"], pa["winRate"]) == (5, 1, 2, 0.3333)
    assert pa["medianSalesCycleDays"] == 34.0 and pa["averageWonAmount"] == "1000.00"
    assert pa["wonOtherCurrencies"] == []

    ann = (await gql.data(ANALYTICS, {**window, "owner": "ann"}))["pipelineAnalytics"]
    s = {x["key"]: x for x in ann["stages"]}
    assert (s["prospecting"]["entered"], s["prospecting"]["advanced"]) == (2, 2)
    assert s["engaging"]["entered"] == 1 and s["engaging"]["advanced"] == 1
    assert (ann["created"], ann["won"], ann["lost"]) == (2, 1, 1)

    everything = (await gql.data(ANALYTICS, {}))["pipelineAnalytics"]
    assert (everything["won"], everything["lost"], everything["created"]) == (2, 2, 6)
    # P1 34 days, P5 21 days -> median 27.5; P4's earlier win no longer counts (it is lost).
    assert everything["medianSalesCycleDays"] == 27.5
    assert everything["averageWonAmount"] == "1000.00"


async def test_owner_scorecards(gql: Any, fake: Any, clock: Any) -> None:
    db = fake
    clock.now = at("2026-01-05T09:00")
    put_deal(db, "O1", [("negotiation", "2025-12-01")], next_step="call")  # stale 12-15
    put_deal(db, "O2", [("engaging", "2026-01-01")], amount_minor=50000)
    put_deal(db, "O3", [("engaging", "2026-01-01")], currency="EUR", next_step="x")
    put_deal(db, "W1", [("engaging", "2025-10-01"), ("won", "2025-10-31")], amount_minor=30000)
    put_deal(db, "W2", [("engaging", "2025-10-11"), ("won", "2025-11-30")], amount_minor=60000)
    put_deal(db, "W3", [("engaging", "2025-10-11"), ("won", "2026-01-02")])  # after the window
    put_deal(db, "L1", [("engaging", "2025-10-11"), ("lost", "2025-12-01")])
    put_deal(
        db,
        "W4",
        [("engaging", "2025-10-01"), ("won", "2025-10-02")],
        amount_minor=100001,
        owner="bob",
    )
    put_deal(db, "O4", [("prospecting", "2025-12-30")], amount_minor=1000, owner=None)
    put_deal(db, "X", [("engaging", "2025-08-01"), ("lost", "2025-09-01")], owner="carol")
    window = {"from": "2025-10-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"}
    cards = (await gql.data(SCORECARDS, window))["ownerScorecards"]
    assert [c["ownerId"] for c in cards] == ["bob", "ann", None]
    bob, ann, nobody = cards
    assert ann == {
        "ownerId": "ann",
        "openCount": 3,
        "openAmount": "1500.00",
        "weightedOpenAmount": "1000.00",
        "staleOpen": 1,
        "openWithoutNextStep": 1,
        "wonCount": 2,
        "wonAmount": "900.00",
        "lostCount": 1,
        "winRate": 0.6667,
        "averageWonAmount": "450.00",
        "medianSalesCycleDays": 40.0,
        "otherCurrencies": [{"currency": "EUR", "count": 1}],
    }
    assert (bob["wonCount"], bob["wonAmount"], bob["winRate"], bob["openCount"]) == (
        1,
        "1000.01",
        1.0,
        0,
    )
    assert bob["medianSalesCycleDays"] == 1.0 and bob["averageWonAmount"] == "1000.01"
    assert nobody["openCount"] == 1 and nobody["openAmount"] == "10.00"
    assert nobody["winRate"] is None and nobody["averageWonAmount"] is None


async def test_validation_errors(gql: Any) -> None:
    cases = [
        (FORECAST, {"from": "2026-02-01", "to": "2026-02-01"}, "BAD_USER_INPUT", "to"),
        (FORECAST, {"from": "2026-01-01", "to": "2028-01-02"}, "BAD_USER_INPUT", "to"),
        (
            FORECAST,
            {"from": "2026-01-01", "to": "2026-02-01", "cur": "XXX"},
            "BAD_USER_INPUT",
            "currency",
        ),
        (
            FORECAST,
            {"from": "2026-01-01", "to": "2026-02-01", "p": "nope"},
            "NOT_FOUND",
            "pipelineId",
        ),
        (
            FORECAST,
            {"from": "2026-01-01", "to": "2026-02-01", "p": " "},
            "BAD_USER_INPUT",
            "pipelineId",
        ),
        (
            ANALYTICS,
            {"from": "2026-01-02T00:00:00Z", "to": "2026-01-01T00:00:00Z"},
            "BAD_USER_INPUT",
            "to",
        ),
        (
            SCORECARDS,
            {"from": "2026-01-02T00:00:00Z", "to": "2026-01-02T00:00:00Z"},
            "BAD_USER_INPUT",
            "to",
        ),
        ("query { forecastAccuracy(months: 0) { month } }", None, "BAD_USER_INPUT", "months"),
        ("query { forecastAccuracy(months: 25) { month } }", None, "BAD_USER_INPUT", "months"),
    ]
    for query, variables, code, field in cases:
        error = await gql.error(query, variables)
        assert error["extensions"]["code"] == code, (variables, error)
        assert error["extensions"]["field"] == field, (variables, error)
    # exactly 24 months is allowed
    ok = await gql.data(FORECAST, {"from": "2026-01-01", "to": "2028-01-01"})
    assert len(ok["forecast"]["months"]) == 24


async def test_roles_readers_read_only_managers_snapshot(gql: Any, fake: Any) -> None:
    forecast_deals(fake)
    viewer = gql.as_user(roles="viewer")
    assert (await viewer.data(FORECAST, {"from": "2025-12-01", "to": "2026-01-01"}))["forecast"]
    assert (await viewer.data(SCORECARDS))["ownerScorecards"]
    assert (await viewer.data(ANALYTICS))["pipelineAnalytics"]
    snap = "mutation { snapshotForecast { day } }"
    for roles in ("viewer", "rep"):
        error = await gql.as_user(roles=roles).error(snap)
        assert error["extensions"]["code"] == "FORBIDDEN"
    assert (await gql.as_user(roles="manager").data(snap))["snapshotForecast"]["day"]
    # another workspace sees none of w1's deals
    other = gql.as_user(workspace="w2")
    fc = (await other.data(FORECAST, {"from": "2025-12-01", "to": "2026-03-01"}))["forecast"]
    assert all(m["openPipeline"] == "0.00" and m["closed"] == "0.00" for m in fc["months"])
