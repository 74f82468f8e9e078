"""Forecast submissions (versioned, roles), quotas and attainment, roll-ups with the model,
submitted and adjusted figures and the P10/P50/P90 range, submission accuracy; exchange
rates converting forecasts, the board, analytics and scorecards at the relevant date."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from crm_deals.domain.periods import parse_period, simulate
from crm_deals.domain.rates import Converter, Rate, RateTable
from crm_kit.errors import BadUserInput

CREATE = """mutation($input: CreateDealInput!) { createDeal(input: $input) { id } }"""
WON = "mutation($id: ID!) { closeDealWon(id: $id) { id } }"
SUBMIT = """mutation($input: SubmitForecastInput!) { submitForecast(input: $input) {
  period scope scopeId version commit bestCase modelAtSubmission submittedBy } }"""
QUOTA = """mutation($input: SetQuotaInput!) { setQuota(input: $input) { amount currency } }"""
ROLLUP = """query($p: String!, $o: [ID!]!, $t: String) {
  forecastRollup(period: $p, ownerIds: $o, teamId: $t) {
    currency submittedCommit submittedBestCase teamQuota attainment
    adjusted { commit version }
    totals { closed commit bestCase weighted model openDeals range { p10 p50 p90 draws } }
    members { ownerId quota attainment submission { version commit }
      forecast { closed weighted model } } } }"""
RATES = """mutation($r: [ExchangeRateInput!]!) { setExchangeRates(rates: $r) {
  currency quoteCurrency date rate } }"""
FORECAST = """{ forecast(from: "2026-01-01", to: "2026-03-01") {
  months { month closed weightedForecast otherCurrencies { currency count } } } }"""
BOARD = """{ pipelineBoard { columns { stage { key } totalAmount weightedAmount
  unconvertedCount } } }"""
ACCURACY = """query($o: String!) { submissionAccuracy(ownerId: $o, months: 3) {
  month actual horizons { daysBefore submittedVersion submittedCommit commitError model } } }"""


async def deal(gql: Any, owner: str, amount: str, close: str, **more: Any) -> str:
    values = {
        "title": "D",
        "amount": amount,
        "stageKey": "negotiation",
        "override": True,  # placed at a later stage by an admin (the test caller)
        "ownerId": owner,
        "expectedCloseDate": close,
        **more,
    }
    return (await gql.data(CREATE, {"input": values}))["createDeal"]["id"]


def submission(scope: str, scope_id: str, commit: str, best: str, period: str = "2026-01") -> dict:
    return {
        "input": {
            "period": period,
            "scope": scope,
            "scopeId": scope_id,
            "commit": commit,
            "bestCase": best,
        }
    }


async def test_submissions_are_versioned_and_rolled_up_with_quotas(gql: Any) -> None:
    await deal(gql, "ann", "1000", "2026-01-20")  # negotiation: commit, 80 %
    await deal(gql, "bob", "500", "2026-01-25", probabilityOverride=50)
    won = await deal(gql, "bob", "300", "2026-01-10")
    await gql.data(WON, {"id": won})  # won on 2026-01-05 (the clock)
    await deal(gql, "cat", "999", "2026-01-15")  # not in the team

    ann = gql.as_user(subject="ann", roles="rep")
    first = (await ann.data(SUBMIT, submission("OWNER", "ann", "700", "900")))["submitForecast"]
    second = (await ann.data(SUBMIT, submission("OWNER", "ann", "800", "1000")))["submitForecast"]
    assert (first["version"], second["version"]) == (1, 2)
    assert second["modelAtSubmission"] == "800.00"  # 1000 x 80 %
    # A rep submits only for themself; a manager for anyone and for a team.
    error = await ann.error(SUBMIT, submission("OWNER", "bob", "1", "2"))
    assert error["extensions"]["code"] == "FORBIDDEN"
    error = await ann.error(SUBMIT, submission("OWNER", "ann", "9", "2"))
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "input.bestCase"}
    error = await ann.error(SUBMIT, submission("OWNER", "ann", "1", "2", period="2026-13"))
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "input.period"}
    manager = gql.as_user(subject="meg", roles="manager")
    await manager.data(SUBMIT, submission("OWNER", "bob", "500", "800"))
    await manager.data(SUBMIT, submission("TEAM", "t1", "1200", "1600"))
    await manager.data(
        QUOTA,
        {
            "input": {
                "period": "2026-01",
                "scope": "OWNER",
                "scopeId": "bob",
                "amount": "600",
                "currency": "USD",
            }
        },
    )
    await manager.data(
        QUOTA,
        {
            "input": {
                "period": "2026-01",
                "scope": "TEAM",
                "scopeId": "t1",
                "amount": "3000",
                "currency": "USD",
            }
        },
    )
    error = await ann.error(
        QUOTA,
        {
            "input": {
                "period": "2026-01",
                "scope": "TEAM",
                "scopeId": "t1",
                "amount": "1",
                "currency": "USD",
            }
        },
    )
    assert error["extensions"]["code"] == "FORBIDDEN"

    r = (await gql.data(ROLLUP, {"p": "2026-01", "o": ["ann", "bob"], "t": "t1"}))["forecastRollup"]
    totals = r["totals"]
    assert totals["closed"] == "300.00" and totals["commit"] == "1800.00"
    assert totals["weighted"] == "1350.00"  # 300 + 800 + 250 (bob's override)
    assert totals["model"] == "1500.00"  # 300 + 800 + 400 (the stage's 80 %, not the override)
    assert r["submittedCommit"] == "1300.00" and r["submittedBestCase"] == "1800.00"
    assert r["adjusted"] == {"commit": "1200.00", "version": 1}
    assert r["teamQuota"] == "3000.00" and r["attainment"] == 0.1
    bob = next(m for m in r["members"] if m["ownerId"] == "bob")
    assert bob["quota"] == "600.00" and bob["attainment"] == 0.5
    assert bob["submission"] == {"version": 1, "commit": "500.00"}
    rng = totals["range"]
    assert rng["draws"] == 2000
    p10, p50, p90 = (Decimal(rng[k]) for k in ("p10", "p50", "p90"))
    assert Decimal(300) <= p10 <= p50 <= p90 <= Decimal(1800)
    again = await gql.data(ROLLUP, {"p": "2026-01", "o": ["ann", "bob"], "t": "t1"})
    assert again["forecastRollup"]["totals"]["range"] == rng  # seeded: the same answer


def test_simulated_range_matches_the_exact_distribution() -> None:
    # One deal of 100 at 30 %: P10 and P50 are 0, P90 is 100.
    found = simulate(50, [(100, 0.3)], seed=1)
    assert (found.p10, found.p50, found.p90) == (50, 50, 150)
    # Many small deals: the median is near the expected value.
    many = simulate(0, [(10, 0.5)] * 400, seed=2)
    assert abs(many.p50 - 2000) <= 40 and many.p10 < many.p50 < many.p90
    assert simulate(7, [], seed=3).p90 == 7


def test_periods() -> None:
    q = parse_period("2026-q4")
    assert (q.key, q.start, q.end) == ("2026-Q4", date(2026, 10, 1), date(2027, 1, 1))
    assert parse_period("2026-02").months == ["2026-02"]
    with pytest.raises(BadUserInput):
        parse_period("2026-Q5")


def test_rates_use_the_latest_rate_on_or_before_the_day_and_inverses() -> None:
    table = RateTable(
        [
            Rate("EUR", "USD", date(2026, 1, 1), Decimal("1.10")),
            Rate("EUR", "USD", date(2026, 2, 1), Decimal("1.20")),
            Rate("USD", "JPY", date(2026, 1, 1), Decimal("150")),
        ]
    )
    usd = Converter("USD", table, date(2026, 3, 1))
    assert usd.convert(100000, "EUR", date(2026, 1, 15)) == 110000
    assert usd.convert(100000, "EUR") == 120000  # today: the February rate
    assert usd.convert(100000, "EUR", date(2025, 12, 31)) is None  # no rate yet
    assert usd.convert(15000, "JPY") == 10000  # inverse of USD->JPY, exponents 0 -> 2
    assert Converter("JPY", table, date(2026, 3, 1)).convert(333, "USD") == 500  # half even


async def test_exchange_rates_convert_reports_at_the_relevant_date(gql: Any) -> None:
    eur_open = await deal(gql, "ann", "1000.00", "2026-02-10", currency="EUR")
    eur_won = await deal(gql, "ann", "100.00", "2026-01-10", currency="EUR")
    await gql.data(WON, {"id": eur_won})  # won 2026-01-05
    board = {c["stage"]["key"]: c for c in (await gql.data(BOARD))["pipelineBoard"]["columns"]}
    assert board["negotiation"]["totalAmount"] == "0.00"
    assert board["negotiation"]["unconvertedCount"] == 1
    error = await gql.as_user(roles="rep").error(
        RATES,
        {"r": [{"currency": "EUR", "quoteCurrency": "USD", "date": "2026-01-01", "rate": "1.1"}]},
    )
    assert error["extensions"]["code"] == "FORBIDDEN"
    error = await gql.error(
        RATES,
        {"r": [{"currency": "EUR", "quoteCurrency": "USD", "date": "2026-01-01", "rate": "-1"}]},
    )
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "rates.0.rate"}
    await gql.data(
        RATES,
        {
            "r": [
                {"currency": "EUR", "quoteCurrency": "USD", "date": "2026-01-01", "rate": "1.10"},
                {"currency": "EUR", "quoteCurrency": "USD", "date": "2026-01-05", "rate": "1.20"},
            ]
        },
    )
    board = {c["stage"]["key"]: c for c in (await gql.data(BOARD))["pipelineBoard"]["columns"]}
    assert board["negotiation"]["totalAmount"] == "1200.00"  # today's rate
    assert board["negotiation"]["weightedAmount"] == "960.00"
    assert board["won"]["totalAmount"] == "120.00"  # the won date's rate
    months = {m["month"]: m for m in (await gql.data(FORECAST))["forecast"]["months"]}
    assert months["2026-01"]["closed"] == "120.00"
    assert months["2026-02"]["weightedForecast"] == "960.00"
    assert months["2026-02"]["otherCurrencies"] == []
    assert eur_open


async def test_a_narrowed_board_converts_only_the_closed_deals_it_keeps(gql: Any) -> None:
    rate = {"currency": "EUR", "quoteCurrency": "USD", "date": "2026-01-01", "rate": "1.10"}
    await gql.data(RATES, {"r": [rate]})
    for owner, title in (("ann", "Rack A"), ("bob", "rack B"), ("ann", "Cable")):
        won = await deal(gql, owner, "100.00", "2026-01-10", currency="EUR", title=title)
        await gql.data(WON, {"id": won})
    narrowed = """query($o: String, $t: String) { pipelineBoard(ownerId: $o, text: $t) {
      columns { stage { key } count totalAmount unconvertedCount } } }"""

    async def won_column(owner: str | None, text: str | None) -> tuple[int, str, int]:
        data = await gql.data(narrowed, {"o": owner, "t": text})
        (column,) = [c for c in data["pipelineBoard"]["columns"] if c["stage"]["key"] == "won"]
        return column["count"], column["totalAmount"], column["unconvertedCount"]

    assert await won_column(None, None) == (3, "330.00", 0)
    assert await won_column("ann", None) == (2, "220.00", 0)
    assert await won_column(None, "RACK") == (2, "220.00", 0)
    assert await won_column("ann", "rack") == (1, "110.00", 0)
    assert await won_column("carol", None) == (0, "0.00", 0)


async def test_submission_accuracy_compares_calls_with_what_was_won(gql: Any, clock: Any) -> None:
    won = await deal(gql, "ann", "1000", "2026-01-20")
    ann = gql.as_user(subject="ann", roles="rep")
    await ann.data(SUBMIT, submission("OWNER", "ann", "700", "900"))
    clock.advance(days=14)  # 2026-01-19
    await ann.data(SUBMIT, submission("OWNER", "ann", "900", "1000"))
    await gql.data(WON, {"id": won})
    clock.advance(days=30)  # February: January is finished
    rows = (await ann.data(ACCURACY, {"o": "ann"}))["submissionAccuracy"]
    assert [r["month"] for r in rows] == ["2026-01"]
    row = rows[0]
    assert row["actual"] == "1000.00"
    by_days = {h["daysBefore"]: h for h in row["horizons"]}
    assert by_days[7]["submittedVersion"] == 2 and by_days[7]["commitError"] == "-100.00"
    assert by_days[14]["submittedVersion"] == 1 and by_days[14]["commitError"] == "-300.00"
    assert by_days[30]["submittedVersion"] is None  # nothing submitted by 2026-01-02
    error = await ann.error('{ submissionAccuracy(ownerId: "ann", months: 0) { month } }')
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "months"}
