"""Query resolvers: thin, everything real happens in the use cases."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

import strawberry
from strawberry.types import Info

from ..usecases import queries
from .analytics import (
    Forecast,
    ForecastAccuracyMonth,
    OwnerScorecard,
    PipelineAnalytics,
)
from .board import BoardColumn, PipelineBoard
from .inputs import DealFilter, DealOrder
from .types import Deal, DealConnection, Pipeline, connection
from .win_model import WinModel, win_model

From = Annotated[date, strawberry.argument(name="from")]
FromTime = Annotated[datetime | None, strawberry.argument(name="from")]


def _pid(pipeline_id: strawberry.ID | None) -> str | None:
    return None if pipeline_id is None else str(pipeline_id)


@strawberry.type
class Query:
    @strawberry.field
    async def deal(self, info: Info, id: strawberry.ID) -> Deal | None:
        found = await info.context.loaders.deal.load(str(id))
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
        ctx = info.context
        order = order_by or DealOrder()
        query = queries.deal_query((filter or DealFilter()).to_domain(), ctx.now)
        page = await queries.list_deals(
            ctx.deals.store,
            query,
            order=order.field.value,
            descending=order.direction.value == "DESC",
            first=first,
            after=after,
        )
        return connection(page.items, page.cursors, page.has_next, page.has_previous, page.total)

    @strawberry.field
    async def pipelines(self, info: Info) -> list[Pipeline]:
        return [Pipeline.of(p) for p in await info.context.deals.pipelines.list()]

    @strawberry.field
    async def pipeline(self, info: Info, id: strawberry.ID) -> Pipeline | None:
        found = await info.context.deals.pipelines.find(str(id))
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
        ctx = info.context
        pipeline = await ctx.deals.pipelines.get(
            str(pipeline_id) if pipeline_id else None, field="pipelineId"
        )
        where = queries.board_filter(owner_id, text)
        columns = await queries.board(ctx.deals.store, pipeline, where)
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
        description="Open deals by expected close month, won deals by won month, per forecast "
        "category, for each month in [from, to) (at most 24 months); one currency (the "
        "pipeline's by default), others counted apart. Served from the read index."
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
        pipeline, fc = await info.context.analytics.forecast(
            _pid(pipeline_id), from_, to, owner_id, currency
        )
        return Forecast.of(pipeline.id, owner_id, fc)

    @strawberry.field(
        description="For each of the last `months` finished months with snapshots: the "
        "forecast 30 / 14 / 7 days before the month's end against the amount won."
    )
    async def forecast_accuracy(
        self, info: Info, pipeline_id: strawberry.ID | None = None, months: int = 6
    ) -> list[ForecastAccuracyMonth]:
        found = await info.context.analytics.accuracy(_pid(pipeline_id), months)
        return [ForecastAccuracyMonth.of(m) for m in found]

    @strawberry.field(
        description="Funnel conversion and stage velocity of the deals that entered each "
        "open stage in [from, to) (unbounded when omitted), from the stage histories."
    )
    async def pipeline_analytics(
        self,
        info: Info,
        pipeline_id: strawberry.ID | None = None,
        from_: FromTime = None,
        to: datetime | None = None,
        owner_id: str | None = None,
    ) -> PipelineAnalytics:
        pipeline, fu = await info.context.analytics.pipeline_analytics(
            _pid(pipeline_id), from_, to, owner_id
        )
        return PipelineAnalytics.of(pipeline.id, owner_id, fu)

    @strawberry.field(
        description="Per owner: open deals now (count, amounts, stale, without next step) "
        "and deals closed in [from, to) (won, lost, win rate, deal size, cycle)."
    )
    async def owner_scorecards(
        self,
        info: Info,
        pipeline_id: strawberry.ID | None = None,
        from_: FromTime = None,
        to: datetime | None = None,
    ) -> list[OwnerScorecard]:
        _, cards = await info.context.analytics.owner_scorecards(_pid(pipeline_id), from_, to)
        return [OwnerScorecard.of(c) for c in cards]
