"""Randomized deals (moves back and forth, wins, losses, reopenings, two currencies, owners,
dated and undated): the analytics served through the schema (from the store's scan and
from the read index) equal a straightforward computation over the stored documents that
shares no code with the service's (stage from `from_stage`/`to_stage`, stays from
`seconds_in_from_stage`, categories and probabilities from the pipeline definition)."""

from __future__ import annotations

import random
import statistics
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from crm_deals.domain.deal import Deal
from crm_deals.domain.default_pipeline import default_pipeline
from crm_deals.domain.money import format_amount, weighted_minor
from crm_deals.store.documents import deal_from_doc

from .analytics_helpers import put_deal
from .test_analytics import ANALYTICS, FORECAST, SCORECARDS

OPEN = ["prospecting", "qualification", "engaging", "proposal", "negotiation"]
ORDER = {k: i for i, k in enumerate([*OPEN, "won", "lost"])}
PIPE = default_pipeline("w1", datetime(2020, 1, 1, tzinfo=UTC))
OWNERS = ["ann", "bob", "cy", None]


def random_deals(db: Any, rng: random.Random, n: int) -> None:
    base = datetime(2025, 1, 1, tzinfo=UTC)
    for i in range(n):
        when = base + timedelta(seconds=rng.randrange(0, 300 * 86400))
        path = [(rng.choice(OPEN), when)]
        for _ in range(rng.randrange(0, 7)):
            when += timedelta(seconds=rng.randrange(0, 40 * 86400))
            last = path[-1][0]
            if last in ("won", "lost"):
                if rng.random() < 0.6:
                    break
                path.append((rng.choice(OPEN), when))  # reopen
            else:
                r = rng.random()
                others = [k for k in OPEN if k != last]
                nxt = "won" if r < 0.15 else "lost" if r < 0.3 else rng.choice(others)
                path.append((nxt, when))
        expected = None
        if rng.random() < 0.8:
            expected = (base + timedelta(days=rng.randrange(0, 540))).date().isoformat()
        put_deal(
            db,
            f"R{i:04d}",
            path,
            amount_minor=rng.randrange(0, 10**7),
            currency="USD" if rng.random() < 0.85 else "EUR",
            owner=rng.choice(OWNERS),
            expected=expected,
            next_step="next" if rng.random() < 0.5 else None,
            created=path[0][1] - timedelta(seconds=rng.randrange(0, 5 * 86400)),
        )


def deals(fake: Any) -> list[Deal]:
    return [deal_from_doc(d) for d in fake.collections["deals"].values()]


def ts(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None


def in_window(t: datetime | None, start: datetime | None, end: datetime | None) -> bool:
    return t is not None and (start is None or t >= start) and (end is None or t < end)


def q(values: list[float], p: float) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=4, method="inclusive")[{0.5: 1, 0.75: 2}[p]]


def rnd(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


# --- the reference computations ---------------------------------------------------------------


def ref_forecast(all_deals: list[Deal], start: str, end: str, currency: str, owner: str | None):
    months: dict[str, dict] = {}
    y, m = int(start[:4]), int(start[5:7])
    while f"{y:04d}-{m:02d}" < end[:7] or (f"{y:04d}-{m:02d}" == end[:7] and end[8:] != "01"):
        months[f"{y:04d}-{m:02d}"] = {}
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    undated: dict = {}
    for d in all_deals:
        if owner is not None and d.owner_id != owner:
            continue
        if d.status == "won":
            day, cat, w = d.closed_at.date().isoformat(), "closed", d.amount_minor
        elif d.status == "open":
            day = d.expected_close_date
            cat = PIPE.stage(d.stage_key).forecast_category
            prob = d.probability_model if d.probability_model is not None else d.stage_probability
            w = weighted_minor(d.amount_minor, prob)
        else:
            continue
        if day is None:
            bucket = undated
        elif start <= day < end:
            bucket = months[day[:7]]
        else:
            continue
        if d.currency != currency:
            bucket.setdefault("other", {}).setdefault(d.currency, 0)
            bucket["other"][d.currency] += 1
            continue
        c = bucket.setdefault(cat, [0, 0, 0])
        c[0] += 1
        c[1] += d.amount_minor
        c[2] += w

    def shape(month: str | None, b: dict) -> dict:
        def amt(cat: str, i: int) -> int:
            return b.get(cat, [0, 0, 0])[i]

        closed = amt("closed", 1)
        return {
            "month": month,
            "categories": [
                {
                    "category": c,
                    "count": amt(c, 0),
                    "amount": format_amount(amt(c, 1), currency),
                    "weightedAmount": format_amount(amt(c, 2), currency),
                }
                for c in ("closed", "commit", "best_case", "pipeline")
            ],
            "closed": format_amount(closed, currency),
            "commitForecast": format_amount(closed + amt("commit", 1), currency),
            "bestCaseForecast": format_amount(
                closed + amt("commit", 1) + amt("best_case", 1), currency
            ),
            "weightedForecast": format_amount(
                closed + sum(amt(c, 2) for c in ("commit", "best_case", "pipeline")), currency
            ),
            "openPipeline": format_amount(
                sum(amt(c, 1) for c in ("commit", "best_case", "pipeline")), currency
            ),
            "otherCurrencies": [
                {"currency": k, "count": v} for k, v in sorted(b.get("other", {}).items())
            ],
        }

    result = [shape(k, v) for k, v in months.items()]
    und = shape(None, undated)
    del und["closed"], und["openPipeline"]
    return result, und


def close_time(d: Deal) -> datetime | None:
    if d.status not in ("won", "lost"):
        return None
    return [c.at for c in d.stage_history if c.to_stage == d.status][-1]


def ref_funnel(all_deals: list[Deal], start, end, owner) -> dict:
    stages = []
    for key in OPEN:
        row = dict.fromkeys(("entered", "advanced", "lost", "movedBack", "stillThere", "won"), 0)
        stays: list[float] = []
        for d in all_deals:
            if owner is not None and d.owner_id != owner:
                continue
            h = d.stage_history
            entries = [
                i for i, c in enumerate(h) if c.to_stage == key and in_window(c.at, start, end)
            ]
            for i in entries:
                leave = next((c for c in h[i + 1 :] if c.from_stage == key), None)
                if leave is not None and h.index(leave) == i + 1:
                    stays.append(leave.seconds_in_from_stage / 86400)
            if not entries:
                continue
            row["entered"] += 1
            row["won"] += d.status == "won"
            i = entries[-1]
            if i == len(h) - 1:
                row["stillThere"] += 1
            elif h[i + 1].to_stage == "lost":
                row["lost"] += 1
            elif ORDER[h[i + 1].to_stage] > ORDER[key]:
                row["advanced"] += 1
            else:
                row["movedBack"] += 1
        n = row["entered"]
        stages.append(
            {
                "key": key,
                **row,
                "conversionRate": rnd(row["advanced"] / n, 4) if n else None,
                "winRate": rnd(row["won"] / n, 4) if n else None,
                "stays": len(stays),
                "medianDaysInStage": rnd(q(stays, 0.5), 2),
                "p75DaysInStage": rnd(q(stays, 0.75), 2),
            }
        )
    mine = [d for d in all_deals if owner is None or d.owner_id == owner]
    won = [d for d in mine if d.status == "won" and in_window(close_time(d), start, end)]
    lost = [d for d in mine if d.status == "lost" and in_window(close_time(d), start, end)]
    usd = [d.amount_minor for d in won if d.currency == "USD"]
    cycles = [(close_time(d) - d.created_at).total_seconds() // 1 / 86400 for d in won]
    avg = None
    if usd:
        quotient, remainder = divmod(sum(usd), len(usd))
        if remainder * 2 > len(usd) or (remainder * 2 == len(usd) and quotient % 2):
            quotient += 1
        avg = format_amount(quotient, "USD")
    eur = sum(1 for d in won if d.currency != "USD")
    return {
        "created": sum(1 for d in mine if in_window(d.created_at, start, end)),
        "won": len(won),
        "lost": len(lost),
        "winRate": rnd(len(won) / (len(won) + len(lost)), 4) if won or lost else None,
        "medianSalesCycleDays": rnd(q(cycles, 0.5), 2),
        "averageWonAmount": avg,
        "wonOtherCurrencies": [{"currency": "EUR", "count": eur}] if eur else [],
        "stages": stages,
    }


def ref_scorecards(all_deals: list[Deal], start, end, now: datetime) -> list[dict]:
    cards = []
    for owner in OWNERS:
        mine = [d for d in all_deals if d.owner_id == owner]
        open_ = [d for d in mine if d.status == "open"]
        ref = ref_funnel(mine, start, end, None)
        won = [d for d in mine if d.status == "won" and in_window(close_time(d), start, end)]
        if not open_ and not won and not ref["lost"]:
            continue
        usd_open = [d for d in open_ if d.currency == "USD"]
        weighted = sum(
            weighted_minor(
                d.amount_minor,
                d.probability_model if d.probability_model is not None else d.stage_probability,
            )
            for d in usd_open
        )
        others = sum(1 for d in open_ if d.currency != "USD") + sum(
            1 for d in won if d.currency != "USD"
        )
        cards.append(
            {
                "ownerId": owner,
                "openCount": len(open_),
                "openAmount": format_amount(sum(d.amount_minor for d in usd_open), "USD"),
                "weightedOpenAmount": format_amount(weighted, "USD"),
                "staleOpen": sum(
                    1
                    for d in open_
                    if d.stage_entered_at + timedelta(days=PIPE.stage(d.stage_key).rotting_days)
                    <= now
                ),
                "openWithoutNextStep": sum(1 for d in open_ if not d.next_step),
                "wonCount": len(won),
                "wonAmount": format_amount(
                    sum(d.amount_minor for d in won if d.currency == "USD"), "USD"
                ),
                "lostCount": ref["lost"],
                "winRate": ref["winRate"],
                "averageWonAmount": ref["averageWonAmount"],
                "medianSalesCycleDays": ref["medianSalesCycleDays"],
                "otherCurrencies": [{"currency": "EUR", "count": others}] if others else [],
            }
        )
    won_usd = {c["ownerId"]: int(c["wonAmount"].replace(".", "")) for c in cards}
    return sorted(cards, key=lambda c: (-won_usd[c["ownerId"]], c["ownerId"] or "~"))


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_index_served_analytics_equal_a_direct_computation(
    gql: Any, fake: Any, seed: int, clock: Any
) -> None:
    rng = random.Random(seed)
    random_deals(fake, rng, 250)
    all_deals = deals(fake)

    for owner in (None, "ann"):
        for cur in ("USD", "EUR"):
            got = (
                await gql.data(
                    FORECAST, {"from": "2025-02-10", "to": "2026-05-01", "owner": owner, "cur": cur}
                )
            )["forecast"]
            months, undated = ref_forecast(all_deals, "2025-02-10", "2026-05-01", cur, owner)
            assert got["months"] == months, (owner, cur)
            assert got["undated"] == undated, (owner, cur)

    for window in ((None, None), ("2025-03-01T00:00:00Z", "2025-08-15T12:00:00Z")):
        for owner in (None, "bob"):
            got = (await gql.data(ANALYTICS, {"from": window[0], "to": window[1], "owner": owner}))[
                "pipelineAnalytics"
            ]
            want = ref_funnel(all_deals, ts(window[0]), ts(window[1]), owner)
            assert got == want, (window, owner)

        got = (await gql.data(SCORECARDS, {"from": window[0], "to": window[1]}))["ownerScorecards"]
        want = ref_scorecards(all_deals, ts(window[0]), ts(window[1]), clock.now)
        assert got == want, window
