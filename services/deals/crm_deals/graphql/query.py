"""Query resolvers: thin, everything real happens in the use cases."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from ..usecases import queries
from .board import BoardColumn, PipelineBoard
from .inputs import DealFilter, DealOrder
from .types import Deal, DealConnection, Pipeline, connection
from .win_model import WinModel, win_model


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

    @strawberry.field(description="Columns per stage; the default pipeline when no id is given.")
    async def pipeline_board(
        self, info: Info, pipeline_id: strawberry.ID | None = None
    ) -> PipelineBoard:
        ctx = info.context
        pipeline = await ctx.deals.pipelines.get(
            str(pipeline_id) if pipeline_id else None, field="pipelineId"
        )
        columns = await queries.board(ctx.deals.store, pipeline)
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
