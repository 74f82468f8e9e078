"""The export pages of companies, contacts and interactions (`crm_contracts.export_pages`),
served by the composition root (`crm_kit.exports.page_endpoints`).

The filters are the GraphQL `companies` and `contacts` filters, read by this schema and
turned into store queries by the same code as the lists (`listing.py`). Interactions have
no root list in the API, only timelines: their filter takes the timeline's `contactId`
or `companyId`, or neither for the whole workspace."""

from __future__ import annotations

from typing import Any

from crm_contracts.export_pages import ExportPageRequest
from crm_kit.context import RequestContext
from crm_kit.errors import BadUserInput
from crm_kit.exports import Readers, RowsPage, parse_filter
from crm_kit.pagination import MAX_PAGE

from ..domain.queries import InteractionQuery
from ..domain.rules import require_id
from ..usecases import exports
from ..usecases.scope import Scopes
from .inputs import CompanyFilter, CompanyOrder, ContactFilter, ContactOrder
from .listing import company_query, contact_query
from .paging import cursor_of, parse_after
from .schema import schema

INTERACTION_FILTER = ("contactId", "companyId")


def _first(request: ExportPageRequest) -> int:
    return min(request.limit, MAX_PAGE)


def export_readers(scopes: Scopes) -> Readers:
    async def companies(caller: RequestContext, request: ExportPageRequest) -> RowsPage:
        given = parse_filter(schema, CompanyFilter, request.filter)
        order = CompanyOrder()
        query = company_query(given, order, _first(request), request.after)
        field = order.field.value
        return await exports.company_rows(scopes(caller), query, lambda c: cursor_of(c, field))

    async def contacts(caller: RequestContext, request: ExportPageRequest) -> RowsPage:
        given = parse_filter(schema, ContactFilter, request.filter)
        order = ContactOrder()
        query = contact_query(given, order, _first(request), request.after)
        field = order.field.value
        return await exports.contact_rows(scopes(caller), query, lambda c: cursor_of(c, field))

    async def interactions(caller: RequestContext, request: ExportPageRequest) -> RowsPage:
        query = InteractionQuery(
            first=_first(request),
            after=parse_after(request.after, "occurred_at"),
            **_timeline_of(request.filter),
        )
        return await exports.interaction_rows(
            scopes(caller), query, lambda i: cursor_of(i, "occurred_at")
        )

    return {
        "companies": (exports.COMPANY_COLUMNS, companies),
        "contacts": (exports.CONTACT_COLUMNS, contacts),
        "interactions": (exports.INTERACTION_COLUMNS, interactions),
    }


def _timeline_of(given: dict[str, Any]) -> dict[str, str | None]:
    unknown = sorted(set(given) - set(INTERACTION_FILTER))
    if unknown:
        raise BadUserInput(
            f"interactions are filtered by {' or '.join(INTERACTION_FILTER)}",
            field=f"filter.{unknown[0]}",
        )
    out: dict[str, str | None] = {}
    for key, name in (("contactId", "contact_id"), ("companyId", "company_id")):
        value = given.get(key)
        if value is not None and not isinstance(value, str):
            raise BadUserInput("must be an id", field=f"filter.{key}")
        out[name] = require_id(value, f"filter.{key}") if value is not None else None
    return out
