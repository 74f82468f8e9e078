"""The export pages of tasks (`crm_contracts.export_pages`), served by the composition
root (`crm_kit.exports.page_endpoints`): the filter is the GraphQL `tasks` filter, read by
this schema, then the list use case the `tasks` query calls."""

from __future__ import annotations

from crm_contracts.export_pages import ExportPageRequest
from crm_kit.context import RequestContext
from crm_kit.exports import ExportNamesPort, Readers, RowsPage, parse_filter
from crm_kit.pagination import MAX_PAGE, decode_cursor

from ..usecases import exports
from ..usecases.scope import Scopes
from .inputs import TaskFilterInput
from .schema import schema


def export_readers(scopes: Scopes, names: ExportNamesPort) -> Readers:
    async def tasks(caller: RequestContext, request: ExportPageRequest) -> RowsPage:
        where = parse_filter(schema, TaskFilterInput, request.filter).to_filter()
        after = decode_cursor(request.after) if request.after else None
        first = min(request.limit, MAX_PAGE)
        return await exports.task_rows(scopes(caller), where, after, first, names)

    return {"tasks": (exports.COLUMNS, tasks)}
