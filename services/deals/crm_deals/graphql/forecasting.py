"""GraphQL shape of forecast periods, submissions, quotas, roll-ups and submission
accuracy (`usecases/forecasting.py`; definitions in the README, "Forecast submissions,
quotas and roll-ups")."""

from __future__ import annotations

from datetime import date, datetime
from enum import Enum
from typing import Any

import strawberry
from strawberry.types import Info

from ..domain import records as r
from ..domain.money import format_amount
from ..usecases import forecasting as fc
from ..usecases.inputs import QuotaInput, SubmissionInput


@strawberry.enum(description="OWNER: one person's deals; TEAM: a team (tasks service id).")
class ForecastScope(Enum):
    OWNER = "OWNER"
    TEAM = "TEAM"


def _m(minor: int | None, currency: str) -> str | None:
    return None if minor is None else format_amount(minor, currency)


@strawberry.type(
    description="Simulated revenue of the period (won + each open deal expected in it won "
    "with its probability, independently; 2,000 seeded draws): 10 % of outcomes fall below "
    "p10, half below p50, 90 % below p90."
)
class ForecastRange:
    p10: str
    p50: str
    p90: str
    draws: int


@strawberry.type(description="A period's forecast for one scope, in one currency.")
class PeriodForecast:
    period: str
    start: date = strawberry.field(description="First day of the period.")
    end: date = strawberry.field(description="First day after the period.")
    currency: str
    closed: str = strawberry.field(description="Won in the period.")
    commit: str = strawberry.field(description="closed + open commit-category deals.")
    best_case: str = strawberry.field(description="commit + open best-case deals.")
    weighted: str = strawberry.field(
        description="closed + amount x effective probability (overrides included)."
    )
    model: str = strawberry.field(
        description="closed + amount x the win model's probability (the stage default where "
        "the model gives none): the model's own call."
    )
    open_pipeline: str
    open_deals: int
    undated_open_deals: int = strawberry.field(
        description="Open deals without an expected close date (in no period)."
    )
    unconverted_deals: int = strawberry.field(
        description="Deals left out: another currency without a known rate."
    )
    range: ForecastRange | None

    @classmethod
    def of(cls, period: Any, f: fc.Figures) -> PeriodForecast:
        c = f.currency
        return cls(
            period=period.key,
            start=period.start,
            end=period.end,
            currency=c,
            closed=format_amount(f.closed_minor, c),
            commit=format_amount(f.commit_minor, c),
            best_case=format_amount(f.best_case_minor, c),
            weighted=format_amount(f.weighted_minor, c),
            model=format_amount(f.model_minor, c),
            open_pipeline=format_amount(f.pipeline_minor, c),
            open_deals=f.open_deals,
            undated_open_deals=f.undated_open_deals,
            unconverted_deals=f.unconverted_deals,
            range=None
            if f.range is None
            else ForecastRange(
                p10=format_amount(f.range.p10, c),
                p50=format_amount(f.range.p50, c),
                p90=format_amount(f.range.p90, c),
                draws=f.range.draws,
            ),
        )


@strawberry.type(description="One version of a forecast call; never overwritten.")
class ForecastSubmission:
    pipeline_id: strawberry.ID
    period: str
    scope: ForecastScope
    scope_id: str
    version: int
    currency: str
    commit: str
    best_case: str
    model_at_submission: str | None = strawberry.field(
        description="The model's figure for the same owner when submitted (null for TEAM)."
    )
    note: str | None
    submitted_by: str
    submitted_at: datetime

    @classmethod
    def of(cls, s: r.Submission) -> ForecastSubmission:
        c = s.currency
        return cls(
            pipeline_id=strawberry.ID(s.pipeline_id),
            period=s.period,
            scope=ForecastScope(s.scope),
            scope_id=s.scope_id,
            version=s.version,
            currency=c,
            commit=format_amount(s.commit_minor, c),
            best_case=format_amount(s.best_case_minor, c),
            model_at_submission=_m(s.model_minor, c),
            note=s.note,
            submitted_by=s.submitted_by,
            submitted_at=s.submitted_at,
        )

    @classmethod
    def maybe(cls, s: r.Submission | None) -> ForecastSubmission | None:
        return None if s is None else cls.of(s)


@strawberry.type(description="A rep's or a team's quota for a period.")
class Quota:
    period: str
    scope: ForecastScope
    scope_id: str
    amount: str
    currency: str
    set_by: str
    set_at: datetime

    @classmethod
    def of(cls, q: r.Quota) -> Quota:
        return cls(
            period=q.period,
            scope=ForecastScope(q.scope),
            scope_id=q.scope_id,
            amount=format_amount(q.amount_minor, q.currency),
            currency=q.currency,
            set_by=q.set_by,
            set_at=q.set_at,
        )


@strawberry.type
class ForecastRollupMember:
    owner_id: str
    forecast: PeriodForecast
    submission: ForecastSubmission | None = strawberry.field(
        description="The member's latest submission for the period."
    )
    quota: str | None = strawberry.field(description="In the roll-up currency.")
    attainment: float | None = strawberry.field(description="closed / quota.")


@strawberry.type(
    description="A manager's view of a period: each member's figures, call and quota, and "
    "the totals (model, weighted, submitted, adjusted, range)."
)
class ForecastRollup:
    pipeline_id: strawberry.ID
    period: str
    team_id: str | None
    currency: str
    members: list[ForecastRollupMember]
    totals: PeriodForecast = strawberry.field(description="All members' deals together.")
    submitted_commit: str = strawberry.field(description="Sum of the members' latest commit calls.")
    submitted_best_case: str
    adjusted: ForecastSubmission | None = strawberry.field(
        description="The latest TEAM submission (the manager's adjusted call)."
    )
    team_quota: str | None
    attainment: float | None = strawberry.field(description="totals.closed / teamQuota.")

    @classmethod
    def of(cls, found: fc.Rollup) -> ForecastRollup:
        c = found.currency
        return cls(
            pipeline_id=strawberry.ID(found.pipeline_id),
            period=found.period.key,
            team_id=found.team_id,
            currency=c,
            members=[
                ForecastRollupMember(
                    owner_id=m.owner_id,
                    forecast=PeriodForecast.of(found.period, m.figures),
                    submission=ForecastSubmission.maybe(m.submission),
                    quota=_m(m.quota_minor, c),
                    attainment=m.attainment,
                )
                for m in found.members
            ],
            totals=PeriodForecast.of(found.period, found.totals),
            submitted_commit=format_amount(found.submitted_commit_minor, c),
            submitted_best_case=format_amount(found.submitted_best_case_minor, c),
            adjusted=ForecastSubmission.maybe(found.adjusted),
            team_quota=_m(found.team_quota_minor, c),
            attainment=found.attainment,
        )


@strawberry.type(description="A call in force some days before the month's end, vs actual.")
class SubmissionAccuracyPoint:
    days_before: int
    as_of: date
    submitted_version: int | None
    submitted_commit: str | None
    submitted_best_case: str | None
    model: str | None = strawberry.field(
        description="The owner's weighted forecast of the month in the nearest daily "
        "snapshot on or before asOf."
    )
    commit_error: str | None = strawberry.field(description="submittedCommit - actual.")
    best_case_error: str | None
    model_error: str | None = strawberry.field(description="model - actual.")


@strawberry.type(description="One finished month: what was called, modelled and won.")
class SubmissionAccuracyMonth:
    month: str
    currency: str
    actual: str = strawberry.field(description="Won in the month (the deals as they are now).")
    horizons: list[SubmissionAccuracyPoint]

    @classmethod
    def of(cls, row: fc.AccuracyRow) -> SubmissionAccuracyMonth:
        c = row.currency

        def diff(value: int | None) -> str | None:
            return None if value is None else format_amount(value - row.actual_minor, c)

        points = []
        for p in row.points:
            s = p.submission
            points.append(
                SubmissionAccuracyPoint(
                    days_before=p.days_before,
                    as_of=p.as_of,
                    submitted_version=s.version if s else None,
                    submitted_commit=_m(s.commit_minor, c) if s else None,
                    submitted_best_case=_m(s.best_case_minor, c) if s else None,
                    model=_m(p.model_minor, c),
                    commit_error=diff(s.commit_minor) if s else None,
                    best_case_error=diff(s.best_case_minor) if s else None,
                    model_error=diff(p.model_minor),
                )
            )
        return cls(
            month=row.month, currency=c, actual=format_amount(row.actual_minor, c), horizons=points
        )


@strawberry.input
class SubmitForecastInput:
    period: str = strawberry.field(description="YYYY-MM or YYYY-Qn.")
    scope: ForecastScope
    scope_id: str = strawberry.field(description="The owner's id (OWNER) or the team id (TEAM).")
    commit: str = strawberry.field(description="Decimal string in the pipeline's currency.")
    best_case: str
    pipeline_id: strawberry.ID | None = None
    note: str | None = None

    def to_domain(self) -> SubmissionInput:
        return SubmissionInput(
            period=self.period,
            scope=self.scope.value,
            scope_id=self.scope_id,
            commit=self.commit,
            best_case=self.best_case,
            pipeline_id=pid(self.pipeline_id),
            note=self.note,
        )


@strawberry.input
class SetQuotaInput:
    period: str
    scope: ForecastScope
    scope_id: str
    amount: str
    currency: str

    def to_domain(self) -> QuotaInput:
        return QuotaInput(self.period, self.scope.value, self.scope_id, self.amount, self.currency)


def pid(pipeline_id: strawberry.ID | None) -> str | None:
    return None if pipeline_id is None else str(pipeline_id)


async def rollup(
    info: Info,
    period: str,
    member_ids: list[str],
    team_id: str | None,
    pipeline_id: strawberry.ID | None,
    currency: str | None,
) -> ForecastRollup:
    found = await fc.rollup(
        info.context.scope, pid(pipeline_id), period, member_ids, team_id, currency
    )
    return ForecastRollup.of(found)
