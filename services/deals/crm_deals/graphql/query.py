"""Query resolvers: thin, everything real happens in the use cases."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

import strawberry
from strawberry.types import Info

from crm_kit.audit_graphql import log_field, trail_field

from ..usecases import analytics, audit, forecasting, pipelines, queries, rates
from .analytics import (
    Forecast,
    ForecastAccuracyMonth,
    OwnerScorecard,
    PipelineAnalytics,
)
from .board import BoardColumn, PipelineBoard
from .entities import Deal, DealConnection, deal_connection
from .forecasting import (
    ForecastRollup,
    ForecastScope,
    ForecastSubmission,
    PeriodForecast,
    Quota,
    SubmissionAccuracyMonth,
    pid,
    rollup,
)
from .inputs import DealFilter, DealOrder
from .rates import ExchangeRate
from .types import Pipeline
from .win_model import (
    WinModel,
    WinModelTrainingJob,
    training_job,
    win_model,
    win_model_versions,
)

From = Annotated[date, strawberry.argument(name="from")]
FromTime = Annotated[datetime | None, strawberry.argument(name="from")]


@strawberry.type
class Query:
    deals_audit_trail = trail_field(audit.readable, "deal or pipeline")
    deals_audit_log = log_field("deals and pipelines")

    @strawberry.field
    async def deal(self, info: Info, id: strawberry.ID) -> Deal | None:
        found = await info.context.deals.load(str(id))
        return Deal.of(found) if found else None

    @strawberry.field
    async def deals(
        self,
        info: Info,
        filter: DealFilter | None = None,
        order_by: DealOrder | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> DealConnection:
        scope = info.context.scope
        order = order_by or DealOrder()
        selection = queries.selection_of((filter or DealFilter()).to_domain(), scope.now())
        page = await queries.list_deals(
            scope,
            selection,
            order=order.field.value,
            descending=order.direction.value == "DESC",
            first=first,
            after=after,
        )
        return deal_connection(page)

    @strawberry.field
    async def pipelines(self, info: Info) -> list[Pipeline]:
        return [Pipeline.of(p) for p in await pipelines.list_pipelines(info.context.scope)]

    @strawberry.field
    async def pipeline(self, info: Info, id: strawberry.ID) -> Pipeline | None:
        found = await pipelines.find_pipeline(info.context.scope, str(id))
        return Pipeline.of(found) if found else None

    @strawberry.field(
        description="Columns per stage; the default pipeline when no id is given. `ownerId` "
        "and `text` (in the title, case-insensitive) narrow every column, totals included."
    )
    async def pipeline_board(
        self,
        info: Info,
        pipeline_id: strawberry.ID | None = None,
        owner_id: str | None = None,
        text: str | None = None,
    ) -> PipelineBoard:
        scope = info.context.scope
        narrowed = queries.board_narrowing(owner_id, text)
        pipeline = await pipelines.get_pipeline(
            scope, str(pipeline_id) if pipeline_id else None, field="pipelineId"
        )
        converter = await rates.converter(scope, pipeline.currency)
        columns = await queries.board(scope, pipeline, converter, narrowed)
        return PipelineBoard(
            pipeline=Pipeline.of(pipeline),
            currency=pipeline.currency,
            columns=[BoardColumn.of(c) for c in columns],
        )

    @strawberry.field(
        description="The pipeline's learned win model (default pipeline without an id); "
        "null until trained."
    )
    async def win_model(
        self, info: Info, pipeline_id: strawberry.ID | None = None
    ) -> WinModel | None:
        return await win_model(info, pipeline_id)

    @strawberry.field(
        description="The pipeline's trained models, newest first (at most `first`, 1 to 100)."
    )
    async def win_model_versions(
        self, info: Info, pipeline_id: strawberry.ID | None = None, first: int = 20
    ) -> list[WinModel]:
        return await win_model_versions(info, pipeline_id, first)

    @strawberry.field(description="A training job by id (from trainWinModel); null when unknown.")
    async def win_model_training_job(
        self, info: Info, id: strawberry.ID
    ) -> WinModelTrainingJob | None:
        return await training_job(info, id)

    @strawberry.field(
        description="Open deals by expected close month, won deals by won month, per forecast "
        "category, for each month in [from, to) (at most 24 months); in `currency` (the "
        "pipeline's by default): other currencies converted (won: the won date's rate; "
        "open: today's), those without a rate counted apart. Served from the read index."
    )
    async def forecast(
        self,
        info: Info,
        from_: From,
        to: date,
        pipeline_id: strawberry.ID | None = None,
        owner_id: str | None = None,
        currency: str | None = None,
    ) -> Forecast:
        pipeline, fc = await analytics.forecast(
            info.context.scope, pid(pipeline_id), from_, to, owner_id, currency
        )
        return Forecast.of(pipeline.id, owner_id, fc)

    @strawberry.field(
        description="For each of the last `months` finished months with snapshots: the "
        "forecast 30 / 14 / 7 days before the month's end against the amount won."
    )
    async def forecast_accuracy(
        self, info: Info, pipeline_id: strawberry.ID | None = None, months: int = 6
    ) -> list[ForecastAccuracyMonth]:
        found = await analytics.accuracy(info.context.scope, pid(pipeline_id), months)
        return [ForecastAccuracyMonth.of(m) for m in found]

    @strawberry.field(
        description="Funnel conversion and stage velocity of the deals that entered each "
        "open stage in [from, to) (unbounded when omitted), from the stage histories. Won "
        "amounts in `currency` (the pipeline's by default), other currencies converted at "
        "the won date's exchange rate."
    )
    async def pipeline_analytics(
        self,
        info: Info,
        pipeline_id: strawberry.ID | None = None,
        from_: FromTime = None,
        to: datetime | None = None,
        owner_id: str | None = None,
        currency: str | None = None,
    ) -> PipelineAnalytics:
        pipeline, fu = await analytics.pipeline_analytics(
            info.context.scope, pid(pipeline_id), from_, to, owner_id, currency
        )
        return PipelineAnalytics.of(pipeline.id, owner_id, fu)

    @strawberry.field(
        description="Per owner: open deals now (count, amounts, stale, without next step) "
        "and deals closed in [from, to) (won, lost, win rate, deal size, cycle). Amounts in "
        "`currency` (the pipeline's by default): open deals converted at today's rate, won "
        "ones at the won date's."
    )
    async def owner_scorecards(
        self,
        info: Info,
        pipeline_id: strawberry.ID | None = None,
        from_: FromTime = None,
        to: datetime | None = None,
        currency: str | None = None,
    ) -> list[OwnerScorecard]:
        _, cards = await analytics.owner_scorecards(
            info.context.scope, pid(pipeline_id), from_, to, currency
        )
        return [OwnerScorecard.of(c) for c in cards]

    @strawberry.field(
        description="The workspace's exchange rates (at most 1,000, oldest first), optionally "
        "of one currency and/or into one quote currency."
    )
    async def exchange_rates(
        self, info: Info, currency: str | None = None, quote_currency: str | None = None
    ) -> list[ExchangeRate]:
        found = await rates.list_rates(info.context.scope, currency, quote_currency)
        return [ExchangeRate.of(r) for r in found]

    @strawberry.field(
        description="A period's (YYYY-MM or YYYY-Qn) forecast of the given owners' deals (all "
        "deals without ownerIds): closed, commit, best case, weighted, model, and the "
        "P10/P50/P90 range."
    )
    async def period_forecast(
        self,
        info: Info,
        period: str,
        pipeline_id: strawberry.ID | None = None,
        owner_ids: list[strawberry.ID] | None = None,
        currency: str | None = None,
    ) -> PeriodForecast:
        _, found_period, figures = await forecasting.period_forecast(
            info.context.scope,
            pid(pipeline_id),
            period,
            None if owner_ids is None else [str(i) for i in owner_ids],
            currency,
        )
        return PeriodForecast.of(found_period, figures)

    @strawberry.field(
        description="Every version of the period's submissions, newest first per scope."
    )
    async def forecast_submissions(
        self,
        info: Info,
        period: str,
        pipeline_id: strawberry.ID | None = None,
        scope: ForecastScope | None = None,
        scope_id: str | None = None,
    ) -> list[ForecastSubmission]:
        found = await forecasting.submissions(
            info.context.scope, pid(pipeline_id), period, scope.value if scope else None, scope_id
        )
        return [ForecastSubmission.of(s) for s in found]

    @strawberry.field(description="The quotas of a period.")
    async def quotas(self, info: Info, period: str) -> list[Quota]:
        return [Quota.of(q) for q in await forecasting.quotas(info.context.scope, period)]

    @strawberry.field(
        description="Roll-up of a period for these owners (at most 200): each one's figures, "
        "latest call, quota and attainment, and the totals; `teamId` adds the team's quota "
        "and adjusted (TEAM) call. `Team.forecastRollup` does this for a team's members."
    )
    async def forecast_rollup(
        self,
        info: Info,
        period: str,
        owner_ids: list[strawberry.ID],
        team_id: str | None = None,
        pipeline_id: strawberry.ID | None = None,
        currency: str | None = None,
    ) -> ForecastRollup:
        return await rollup(
            info, period, [str(i) for i in owner_ids], team_id, pipeline_id, currency
        )

    @strawberry.field(
        description="For each of the last `months` (1 to 24) finished months: the owner's call "
        "in force 30 / 14 / 7 days before the month's end and the model's figure then, "
        "against what was won."
    )
    async def submission_accuracy(
        self,
        info: Info,
        owner_id: str,
        pipeline_id: strawberry.ID | None = None,
        months: int = 6,
    ) -> list[SubmissionAccuracyMonth]:
        found = await forecasting.accuracy(info.context.scope, pid(pipeline_id), owner_id, months)
        return [SubmissionAccuracyMonth.of(r) for r in found]
