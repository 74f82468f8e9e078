"""Exports of deals (`crm_contracts.export_pages`): one page of the deals list as the caller
sees it, each deal as a row the deals import reads back (`crm_tabular.targets.DEALS`).

The page comes from the list use case the GraphQL `deals` query uses (`list_deals`), so
record sharing leaves out what the caller may not see, and a role that may not read
amounts gets the amount column empty. The company is written by name, the pipeline by
name and the stage by key, as the import resolves them in another workspace; each custom
field is a `custom.<key>` cell.
"""

from __future__ import annotations

from crm_contracts.export_pages import ExportPageRequest
from crm_kit.exports import (
    ExportNamesPort,
    RowsPage,
    columns_of,
    custom_cells,
    external_id_of,
    iso,
)
from crm_kit.pagination import MAX_PAGE

from ..domain.deal import OPEN, Deal
from ..domain.money import format_amount
from ..domain.queries import DealSelection
from .pipelines import list_pipelines
from .queries import list_deals
from .scope import Scope
from .visibility import reads_amounts

COLUMNS = columns_of(
    (
        "external_id", "title", "owner", "product", "company", "stage", "pipeline",
        "engaged_at", "close_date", "expected_close_date", "amount", "currency", "source",
        "created_at",
    )
)  # fmt: skip


async def deal_rows(
    scope: Scope, selection: DealSelection, request: ExportPageRequest, names: ExportNamesPort
) -> RowsPage:
    page = await list_deals(
        scope, selection, first=min(request.limit, MAX_PAGE), after=request.after
    )
    amounts = await reads_amounts(scope)
    pipelines = {p.id: p.name for p in await list_pipelines(scope)}
    found = await names.names(scope.caller, (d.company_id for d in page.items if d.company_id), ())
    rows = [
        _row(deal, amounts, pipelines.get(deal.pipeline_id), found.companies) for deal in page.items
    ]
    after = page.cursors[-1] if page.has_next and page.cursors else None
    return RowsPage(rows, after, page.total)


def _row(deal: Deal, amounts: bool, pipeline: str | None, companies: dict[str, str]) -> dict:
    return {
        "external_id": external_id_of(deal.external_id, deal.id),
        "title": deal.title,
        "owner": deal.owner_id,
        "product": deal.product,
        "company": companies.get(deal.company_id or ""),
        "stage": deal.stage_key,
        "pipeline": pipeline,
        # The import starts a deal at its engage date (its created date, its first stage).
        "engaged_at": iso(deal.created_at.date()) if deal.created_at else None,
        "close_date": iso(deal.closed_at.date()) if deal.closed_at else None,
        "expected_close_date": deal.expected_close_date if deal.status == OPEN else None,
        "amount": format_amount(deal.amount_minor, deal.currency) if amounts else None,
        "currency": deal.currency,
        "source": deal.source,
        "created_at": iso(deal.created_at),
        "id": deal.id,
        **custom_cells(deal.custom_fields),
    }
