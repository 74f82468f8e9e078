"""The forecast: open deals by expected close month, won deals by won month, per forecast
category, in one currency (minor units; other currencies are counted, never converted).

Pure: it reads deal facts (`DealFacts`, what the read index keeps per deal) and the
stored derived values (`close_date`, `weighted_minor`, `forecast_category`), so it gives
the same figures whether the facts come from the index or from a scan.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Protocol

from .pipeline import OPEN_CATEGORIES, WON
from .rates import Converter

CLOSED = "closed"
# Reported order: what is won first, then the open categories from most to least certain.
FORECAST_CATEGORIES = (CLOSED, "commit", "best_case", "pipeline")
MAX_MONTHS = 24


class AmountFacts(Protocol):
    """What every deal report reads of a deal (a read index entry provides it)."""

    pipeline_id: str | None
    status: str | None
    owner_id: str | None
    currency: str | None
    amount_minor: int | None
    weighted_minor: int | None


class DealFacts(AmountFacts, Protocol):
    close_date: str | None
    forecast_category: str | None


@dataclass
class Bucket:
    count: int = 0
    amount_minor: int = 0
    weighted_minor: int = 0

    def add(self, amount: int, weighted: int) -> None:
        self.count += 1
        self.amount_minor += amount
        self.weighted_minor += weighted


@dataclass
class ForecastMonth:
    month: str | None  # YYYY-MM; None for the undated open deals
    categories: dict[str, Bucket] = field(
        default_factory=lambda: {c: Bucket() for c in FORECAST_CATEGORIES}
    )
    other_currencies: dict[str, int] = field(default_factory=dict)

    @property
    def closed_minor(self) -> int:
        return self.categories[CLOSED].amount_minor

    @property
    def commit_minor(self) -> int:
        """Closed + commit."""
        return self.closed_minor + self.categories["commit"].amount_minor

    @property
    def best_case_minor(self) -> int:
        """Closed + commit + best case."""
        return self.commit_minor + self.categories["best_case"].amount_minor

    @property
    def pipeline_minor(self) -> int:
        """Every open deal's amount (commit + best case + pipeline)."""
        return sum(self.categories[c].amount_minor for c in OPEN_CATEGORIES)

    @property
    def weighted_minor(self) -> int:
        """Closed + each open deal's stored weighted amount."""
        return self.closed_minor + sum(self.categories[c].weighted_minor for c in OPEN_CATEGORIES)


@dataclass
class Forecast:
    currency: str
    months: list[ForecastMonth]
    undated: ForecastMonth


def month_of(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def next_month(month: str) -> str:
    year, mon = int(month[:4]), int(month[5:7])
    return f"{year + mon // 12:04d}-{mon % 12 + 1:02d}"


def months_in(start: date, end: date) -> list[str]:
    """The calendar months that [start, end) touches."""
    months: list[str] = []
    month, last = month_of(start), end.toordinal() - 1
    last_month = month_of(date.fromordinal(last))
    while month <= last_month:
        months.append(month)
        month = next_month(month)
    return months


def open_category(category: str | None) -> str:
    """An open deal's category; anything unexpected counts as the least certain."""
    return category if category in OPEN_CATEGORIES else "pipeline"  # type: ignore[return-value]


def build_forecast(
    deals: Iterable[DealFacts],
    pipeline_id: str,
    start: date,
    end: date,
    currency: str,
    owner_id: str | None = None,
    converter: Converter | None = None,
    owner_ids: frozenset[str] | None = None,
) -> Forecast:
    """Won deals whose won date, and open deals whose expected close date, fall in
    [start, end), by month; open deals without an expected close date in `undated`.
    Deals in other currencies count converted by `converter` (won: at the won date;
    open: today's rate), or, without a rate, only in `other_currencies`. `owner_ids`
    keeps the deals of those owners (a team)."""
    months = {m: ForecastMonth(m) for m in months_in(start, end)}
    undated = ForecastMonth(None)
    low, high = start.isoformat(), end.isoformat()
    for deal in deals:
        if deal.pipeline_id != pipeline_id or (owner_id is not None and deal.owner_id != owner_id):
            continue
        if owner_ids is not None and deal.owner_id not in owner_ids:
            continue
        status = deal.status
        if status == WON:
            category = CLOSED
        elif status == "open":
            category = open_category(deal.forecast_category)
        else:
            continue  # lost deals forecast nothing
        day = deal.close_date
        if day is None:
            if status != "open":
                continue
            target = undated
        elif low <= day < high:
            target = months[day[:7]]
        else:
            continue
        converted = _in_currency(deal, currency, converter, day if status == WON else None)
        if converted is None:
            key = deal.currency or "?"
            target.other_currencies[key] = target.other_currencies.get(key, 0) + 1
            continue
        amount, weighted = converted
        target.categories[category].add(amount, amount if status == WON else weighted)
    return Forecast(currency, list(months.values()), undated)


def _in_currency(
    deal: DealFacts, currency: str, converter: Converter | None, day: str | None
) -> tuple[int, int] | None:
    """(amount, weighted amount) in `currency`, or None when it cannot be converted."""
    amount, weighted = deal.amount_minor or 0, deal.weighted_minor or 0
    if deal.currency == currency:
        return amount, weighted
    if converter is None:
        return None
    converted = converter.convert_on(amount, deal.currency, day)
    converted_weighted = converter.convert_on(weighted, deal.currency, day)
    if converted is None or converted_weighted is None:
        return None
    return converted, converted_weighted
