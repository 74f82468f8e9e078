"""The pipeline board: per stage its totals and a lazily paged deal list."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from crm_kit.relay_types import Connection

from ..domain.money import format_amount
from ..usecases import queries
from .entities import Deal, deal_connection
from .types import CurrencyTotal, Pipeline, Stage


@strawberry.type
class BoardColumn:
    stage: Stage
    count: int
    total_amount: str = strawberry.field(
        description="Sum of the column's deals in the board (pipeline reporting) currency; "
        "deals in other currencies converted with the workspace's exchange rates (open: "
        "today's rate; won/lost: the close date's), rounded half to even per currency total "
        "(open) or per deal (closed). Deals without a known rate: unconvertedCount."
    )
    weighted_amount: str = strawberry.field(
        description="Sum of each deal's amount x effective probability (each rounded half "
        "to even in minor units), board currency, converted as totalAmount."
    )
    currency: str
    unconverted_count: int = strawberry.field(
        description="Deals left out of the totals: no exchange rate into the board "
        "currency on or before the relevant date."
    )
    totals_by_currency: list[CurrencyTotal] = strawberry.field(
        description="Exact totals in each deal currency (never converted)."
    )
    _column: strawberry.Private[queries.Column]

    @classmethod
    def of(cls, column: queries.Column) -> BoardColumn:
        currency = column.pipeline.currency
        return cls(
            stage=Stage.of(column.stage),
            count=column.count,
            total_amount=format_amount(column.amount_minor, currency),
            weighted_amount=format_amount(column.weighted_minor, currency),
            currency=currency,
            unconverted_count=column.unconverted,
            totals_by_currency=[
                CurrencyTotal(
                    currency=t.currency,
                    count=t.count,
                    amount=format_amount(t.amount_minor, t.currency),
                    weighted_amount=format_amount(t.weighted_minor, t.currency),
                )
                for t in column.by_currency
            ],
            _column=column,
        )

    @strawberry.field(description="The column's deals, largest amount first.")
    async def deals(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> Connection[Deal]:
        column = self._column
        page = column.page(first, after) or await queries.list_deals(
            info.context.scope,
            column.selection,
            order="AMOUNT",
            descending=True,
            first=first,
            after=after,
        )
        return deal_connection(page)


@strawberry.type
class PipelineBoard:
    pipeline: Pipeline
    currency: str = strawberry.field(description="The pipeline's (workspace's) currency.")
    columns: list[BoardColumn]
