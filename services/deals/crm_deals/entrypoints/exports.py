"""The export page endpoint of deals (`crm_contracts.export_pages`): the filter is the
GraphQL `deals` filter, read by this service's schema."""

from __future__ import annotations

from crm_contracts.export_pages import ExportPageRequest
from crm_kit.context import RequestContext
from crm_kit.exports import ExportNamesPort, RowsPage, page_endpoint, parse_filter
from crm_kit.rpc import Endpoint

from ..graphql.inputs import DealFilter
from ..graphql.schema import schema
from ..usecases import exports, queries
from ..usecases.scope import Scopes


def export_endpoints(scopes: Scopes, names: ExportNamesPort) -> list[Endpoint]:
    async def deals(caller: RequestContext, request: ExportPageRequest) -> RowsPage:
        scope = scopes(caller)
        given = parse_filter(schema, DealFilter, request.filter)
        selection = queries.selection_of(given.to_domain(), scope.now())
        return await exports.deal_rows(scope, selection, request, names)

    return [page_endpoint("deals", exports.COLUMNS, deals)]
