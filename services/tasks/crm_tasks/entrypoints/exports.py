"""The export page endpoint of tasks (`crm_contracts.export_pages`): the filter is the
GraphQL `tasks` filter, read by this service's schema."""

from __future__ import annotations

from crm_contracts.export_pages import ExportPageRequest
from crm_kit.context import RequestContext
from crm_kit.exports import ExportNamesPort, RowsPage, page_endpoint, parse_filter
from crm_kit.pagination import MAX_PAGE, decode_cursor
from crm_kit.rpc import Endpoint

from ..graphql.inputs import TaskFilterInput
from ..graphql.schema import schema
from ..usecases import exports
from ..usecases.scope import Scopes


def export_endpoints(scopes: Scopes, names: ExportNamesPort) -> list[Endpoint]:
    async def tasks(caller: RequestContext, request: ExportPageRequest) -> RowsPage:
        where = parse_filter(schema, TaskFilterInput, request.filter).to_filter()
        after = decode_cursor(request.after) if request.after else None
        first = min(request.limit, MAX_PAGE)
        return await exports.task_rows(scopes(caller), where, after, first, names)

    return [page_endpoint("tasks", exports.COLUMNS, tasks)]
