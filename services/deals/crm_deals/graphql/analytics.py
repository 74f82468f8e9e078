"""GraphQL shape of the analytics: `forecast`, `forecastAccuracy`, `snapshotForecast`,
`pipelineAnalytics`, `ownerScorecards` (definitions in the README, "Analytics")."""

from __future__ import annotations

from datetime import date, datetime

import strawberry

from ..domain import forecast as f
from ..domain import funnel as fn
from ..domain import records as r
from ..domain.money import format_amount
from ..usecases import analytics as a


def _days(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def _rate(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


@strawberry.type(
    description="Deals in another currency than the one reported: counted, never converted."
)
class CurrencyCount:
    currency: str
    count: int


def _others(counts: dict[str, int]) -> list[CurrencyCount]:
    return [CurrencyCount(currency=c, count=n) for c, n in sorted(counts.items())]


@strawberry.type(description="Deals of one forecast category in one month (or undated).")
class ForecastCategoryTotal:
    category: str = strawberry.field(description="closed (won), commit, best_case or pipeline.")
    count: int
    amount: str
    weighted_amount: str = strawberry.field(
        description="Sum of the deals' stored weighted amounts (closed: the amount)."
    )


@strawberry.type
class ForecastPeriod:
    month: str | None = strawberry.field(description="YYYY-MM; null for the undated open deals.")
    categories: list[ForecastCategoryTotal]
    closed: str = strawberry.field(description="Won in the month.")
    commit_forecast: str = strawberry.field(description="closed + commit.")
    best_case_forecast: str = strawberry.field(description="closed + commit + best_case.")
    weighted_forecast: str = strawberry.field(
        description="closed + the weighted amounts of the open deals."
    )
    open_pipeline: str = strawberry.field(description="Every open deal's amount.")
    other_currencies: list[CurrencyCount]

    @classmethod
    def of(cls, m: f.ForecastMonth, currency: str) -> ForecastPeriod:
        def money(minor: int) -> str:
            return format_amount(minor, currency)

        return cls(
            month=m.month,
            categories=[
                ForecastCategoryTotal(
                    category=name,
                    count=b.count,
                    amount=money(b.amount_minor),
                    weighted_amount=money(b.weighted_minor),
                )
                for name, b in m.categories.items()
            ],
            closed=money(m.closed_minor),
            commit_forecast=money(m.commit_minor),
            best_case_forecast=money(m.best_case_minor),
            weighted_forecast=money(m.weighted_minor),
            open_pipeline=money(m.pipeline_minor),
            other_currencies=_others(m.other_currencies),
        )


@strawberry.type(
    description="Open deals by expected close month and won deals by won month, in [from, to)."
)
class Forecast:
    pipeline_id: strawberry.ID
    currency: str
    owner_id: str | None
    months: list[ForecastPeriod]
    undated: ForecastPeriod = strawberry.field(
        description="Open deals without an expected close date."
    )

    @classmethod
    def of(cls, pipeline_id: str, owner_id: str | None, fc: f.Forecast) -> Forecast:
        return cls(
            pipeline_id=strawberry.ID(pipeline_id),
            currency=fc.currency,
            owner_id=owner_id,
            months=[ForecastPeriod.of(m, fc.currency) for m in fc.months],
            undated=ForecastPeriod.of(fc.undated, fc.currency),
        )


@strawberry.type(description="One forecast figure against the amount actually won.")
class ForecastError:
    forecast: str
    error: str = strawberry.field(description="forecast - actual (signed).")
    absolute_error: str
    relative_error: float | None = strawberry.field(
        description="absoluteError / actual; null when nothing was won."
    )


def _error(forecast: int | None, actual: int, currency: str) -> ForecastError | None:
    if forecast is None:
        return None
    diff = forecast - actual
    return ForecastError(
        forecast=format_amount(forecast, currency),
        error=format_amount(diff, currency),
        absolute_error=format_amount(abs(diff), currency),
        relative_error=_rate(abs(diff) / actual) if actual else None,
    )


@strawberry.type
class ForecastHorizon:
    days_before: int = strawberry.field(description="Days before the month's end (30, 14, 7).")
    as_of: date
    snapshot_day: date | None = strawberry.field(
        description="The snapshot used: the nearest at or before asOf covering the month."
    )
    commit: ForecastError | None
    best_case: ForecastError | None
    weighted: ForecastError | None


@strawberry.type
class ForecastAccuracyMonth:
    month: str
    currency: str
    actual: str = strawberry.field(description="Amount won in the month (as of now).")
    actual_count: int
    horizons: list[ForecastHorizon]

    @classmethod
    def of(cls, m: a.AccuracyMonth) -> ForecastAccuracyMonth:
        c = m.currency
        return cls(
            month=m.month,
            currency=c,
            actual=format_amount(m.actual_minor, c),
            actual_count=m.actual_count,
            horizons=[
                ForecastHorizon(
                    days_before=p.days_before,
                    as_of=p.as_of,
                    snapshot_day=p.snapshot_day,
                    commit=_error(p.commit_minor, m.actual_minor, c),
                    best_case=_error(p.best_case_minor, m.actual_minor, c),
                    weighted=_error(p.weighted_minor, m.actual_minor, c),
                )
                for p in m.horizons
            ],
        )


@strawberry.type(description="A stored daily forecast snapshot (current and next month).")
class ForecastSnapshot:
    id: strawberry.ID
    pipeline_id: strawberry.ID
    day: date
    taken_at: datetime
    taken_by: str | None
    currency: str
    months: list[SnapshotMonth]

    @classmethod
    def of(cls, snapshot: r.ForecastSnapshot) -> ForecastSnapshot:
        c = snapshot.currency
        return cls(
            id=strawberry.ID(snapshot.id),
            pipeline_id=strawberry.ID(snapshot.pipeline_id),
            day=snapshot.day,
            taken_at=snapshot.taken_at,
            taken_by=snapshot.taken_by,
            currency=c,
            months=[
                SnapshotMonth(
                    month=m.month,
                    closed=format_amount(m.closed_minor, c),
                    commit_forecast=format_amount(m.commit_minor, c),
                    best_case_forecast=format_amount(m.best_case_minor, c),
                    weighted_forecast=format_amount(m.weighted_minor, c),
                    open_pipeline=format_amount(m.pipeline_minor, c),
                    open_count=m.open_count,
                    won_count=m.won_count,
                )
                for m in snapshot.months
            ],
        )


@strawberry.type
class SnapshotMonth:
    month: str
    closed: str
    commit_forecast: str
    best_case_forecast: str
    weighted_forecast: str
    open_pipeline: str
    open_count: int
    won_count: int


@strawberry.type(
    description="Deals that entered an open stage in the window, and what became of them."
)
class StageFunnel:
    key: str
    name: str
    entered: int
    advanced: int = strawberry.field(description="Left to a later stage or won.")
    lost: int = strawberry.field(description="Closed lost from the stage.")
    moved_back: int = strawberry.field(description="Left to an earlier stage.")
    still_there: int
    conversion_rate: float | None = strawberry.field(description="advanced / entered.")
    won: int = strawberry.field(description="Of the deals that entered: won now.")
    win_rate: float | None = strawberry.field(description="won / entered.")
    stays: int = strawberry.field(description="Finished stays (began in the window).")
    median_days_in_stage: float | None
    p75_days_in_stage: float | None

    @classmethod
    def of(cls, s: fn.StageFlow) -> StageFunnel:
        return cls(
            key=s.key,
            name=s.name,
            entered=s.entered,
            advanced=s.advanced,
            lost=s.lost,
            moved_back=s.moved_back,
            still_there=s.still_there,
            conversion_rate=_rate(s.conversion),
            won=s.won,
            win_rate=_rate(s.win_rate),
            stays=len(s.stay_seconds),
            median_days_in_stage=_days(s.days(0.5)),
            p75_days_in_stage=_days(s.days(0.75)),
        )


@strawberry.type
class PipelineAnalytics:
    pipeline_id: strawberry.ID
    currency: str
    owner_id: str | None
    stages: list[StageFunnel]
    created: int = strawberry.field(description="Deals created in the window.")
    won: int = strawberry.field(description="Deals won in the window.")
    lost: int = strawberry.field(description="Deals lost in the window.")
    win_rate: float | None = strawberry.field(description="won / (won + lost).")
    median_sales_cycle_days: float | None = strawberry.field(
        description="Created to won, deals won in the window."
    )
    average_won_amount: str | None
    won_other_currencies: list[CurrencyCount]

    @classmethod
    def of(cls, pipeline_id: str, owner_id: str | None, fu: fn.Funnel) -> PipelineAnalytics:
        o = fu.outcomes
        avg = o.average_won_minor
        return cls(
            pipeline_id=strawberry.ID(pipeline_id),
            currency=o.currency,
            owner_id=owner_id,
            stages=[StageFunnel.of(s) for s in fu.stages],
            created=fu.created,
            won=o.won,
            lost=o.lost,
            win_rate=_rate(o.win_rate),
            median_sales_cycle_days=_days(o.median_cycle_days),
            average_won_amount=None if avg is None else format_amount(avg, o.currency),
            won_other_currencies=_others(o.other_currencies),
        )


@strawberry.type(description="One owner: open deals now, deals closed in the window.")
class OwnerScorecard:
    owner_id: str | None = strawberry.field(description="null: deals without an owner.")
    currency: str
    open_count: int
    open_amount: str
    weighted_open_amount: str
    stale_open: int = strawberry.field(description="Open deals past their stale date now.")
    open_without_next_step: int
    won_count: int
    won_amount: str
    lost_count: int
    win_rate: float | None = strawberry.field(description="won / (won + lost) in the window.")
    average_won_amount: str | None
    median_sales_cycle_days: float | None
    other_currencies: list[CurrencyCount] = strawberry.field(
        description="Open or won-in-window deals in other currencies (not in the amounts)."
    )

    @classmethod
    def of(cls, card: fn.Scorecard) -> OwnerScorecard:
        c, o = card.currency, card.outcomes
        others = dict(card.open_other_currencies)
        for key, n in o.other_currencies.items():
            others[key] = others.get(key, 0) + n
        avg = o.average_won_minor
        return cls(
            owner_id=card.owner_id,
            currency=c,
            open_count=card.open_count,
            open_amount=format_amount(card.open_minor, c),
            weighted_open_amount=format_amount(card.open_weighted_minor, c),
            stale_open=card.stale,
            open_without_next_step=card.no_next_step,
            won_count=o.won,
            won_amount=format_amount(o.won_minor, c),
            lost_count=o.lost,
            win_rate=_rate(o.win_rate),
            average_won_amount=None if avg is None else format_amount(avg, c),
            median_sales_cycle_days=_days(o.median_cycle_days),
            other_currencies=_others(others),
        )
