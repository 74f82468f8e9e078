"""The export page endpoints of companies, contacts and interactions
(`crm_contracts.export_pages`), and the names other owners' export rows refer to
(`rpc.contacts.export.names`: one request per page).

The filters are the GraphQL `companies` and `contacts` filters, read by this service's
schema and turned into store queries by the same code as the lists (`graphql/listing`).
Interactions have no root list in the API, only timelines: their filter takes the
timeline's `contactId` or `companyId`, or neither for the whole workspace."""

from __future__ import annotations

from typing import Any

from crm_contracts.export_pages import (
    RPC_EXPORT_NAMES,
    ExportNamesRequest,
    ExportPageRequest,
)
from crm_kit.context import RequestContext
from crm_kit.errors import BadUserInput
from crm_kit.exports import RowsPage, page_endpoint, parse_filter
from crm_kit.pagination import MAX_PAGE
from crm_kit.rpc import READ, Endpoint, RpcError

from ..domain.queries import InteractionQuery
from ..domain.rules import require_id
from ..graphql.inputs import CompanyFilter, CompanyOrder, ContactFilter, ContactOrder
from ..graphql.listing import company_query, contact_query
from ..graphql.paging import cursor_of, parse_after
from ..graphql.schema import schema
from ..usecases import exports
from ..usecases.scope import Scopes

INTERACTION_FILTER = ("contactId", "companyId")


def _first(request: ExportPageRequest) -> int:
    return min(request.limit, MAX_PAGE)


def export_endpoints(scopes: Scopes) -> list[Endpoint]:
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

    async def names(caller: RequestContext, payload: dict[str, Any]) -> dict[str, Any]:
        try:
            request = ExportNamesRequest.model_validate(payload)
        except ValueError as error:
            raise RpcError("BAD_REQUEST", str(error).splitlines()[0]) from None
        found = await exports.names(scopes(caller), request.company_ids, request.contact_ids)
        return found.wire()

    return [
        page_endpoint("companies", exports.COMPANY_COLUMNS, companies),
        page_endpoint("contacts", exports.CONTACT_COLUMNS, contacts),
        page_endpoint("interactions", exports.INTERACTION_COLUMNS, interactions),
        Endpoint(
            "export-names",
            RPC_EXPORT_NAMES,
            names,
            "Names of up to 500 companies and addresses of up to 500 contacts the caller "
            "sees: ExportNamesRequest -> ExportNames",
            roles=READ,
        ),
    ]


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
