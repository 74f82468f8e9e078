"""The pipeline board: per stage its totals and a lazily paged deal list."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from crm_kit.relay_types import Connection

from ..domain.money import format_amount
from ..usecases import queries
from ..usecases.visibility import reads_amounts
from .entities import Deal, deal_connection
from .field_access import require_amounts
from .types import CurrencyTotal, Pipeline, Stage


@strawberry.type
class BoardColumn:
    stage: Stage
    count: int
    currency: str
    unconverted_count: int = strawberry.field(
        description="Deals left out of the totals: no exchange rate into the board "
        "currency on or before the relevant date."
    )
    _column: strawberry.Private[queries.Column]

    @classmethod
    def of(cls, column: queries.Column) -> BoardColumn:
        currency = column.pipeline.currency
        return cls(
            stage=Stage.of(column.stage),
            count=column.count,
            currency=currency,
            unconverted_count=column.unconverted,
            _column=column,
        )

    # The money figures are amounts: hidden (null with FORBIDDEN) from a role that may
    # not read deal amounts (crm_kit.sharing).
    @strawberry.field(
        description="Sum of the column's deals in the board (pipeline reporting) currency; "
        "deals in other currencies converted with the workspace's exchange rates (open: "
        "today's rate; won/lost: the close date's), rounded half to even per currency total "
        "(open) or per deal (closed). Deals without a known rate: unconvertedCount."
    )
    async def total_amount(self, info: Info) -> str | None:
        await require_amounts(info, "totalAmount")
        return format_amount(self._column.amount_minor, self.currency)

    @strawberry.field(
        description="Sum of each deal's amount x effective probability (each rounded half "
        "to even in minor units), board currency, converted as totalAmount."
    )
    async def weighted_amount(self, info: Info) -> str | None:
        await require_amounts(info, "weightedAmount")
        return format_amount(self._column.weighted_minor, self.currency)

    @strawberry.field(description="Exact totals in each deal currency (never converted).")
    async def totals_by_currency(self, info: Info) -> list[CurrencyTotal] | None:
        await require_amounts(info, "totalsByCurrency")
        return [
            CurrencyTotal(
                currency=t.currency,
                count=t.count,
                amount=format_amount(t.amount_minor, t.currency),
                weighted_amount=format_amount(t.weighted_minor, t.currency),
            )
            for t in self._column.by_currency
        ]

    @strawberry.field(
        description="The column's deals, largest amount first (newest first for a role "
        "that may not read amounts: the order would tell them)."
    )
    async def deals(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> Connection[Deal]:
        column = self._column
        scope = info.context.scope
        if not await reads_amounts(scope):
            page = await queries.list_deals(scope, column.selection, first=first, after=after)
            return deal_connection(page)
        page = column.page(first, after) or await queries.list_deals(
            scope,
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
