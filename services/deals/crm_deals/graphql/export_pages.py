"""The export pages of deals (`crm_contracts.export_pages`), served by the composition
root (`crm_kit.exports.page_endpoints`): the filter is the GraphQL `deals` filter, read by
this schema, then the list use case the `deals` query calls."""

from __future__ import annotations

from crm_contracts.export_pages import ExportPageRequest
from crm_kit.context import RequestContext
from crm_kit.exports import ExportNamesPort, Readers, RowsPage, parse_filter

from ..usecases import exports, queries
from ..usecases.scope import Scopes
from .inputs import DealFilter
from .schema import schema


def export_readers(scopes: Scopes, names: ExportNamesPort) -> Readers:
    async def deals(caller: RequestContext, request: ExportPageRequest) -> RowsPage:
        scope = scopes(caller)
        given = parse_filter(schema, DealFilter, request.filter)
        selection = queries.selection_of(given.to_domain(), scope.now())
        return await exports.deal_rows(scope, selection, request, names)

    return {"deals": (exports.COLUMNS, deals)}
