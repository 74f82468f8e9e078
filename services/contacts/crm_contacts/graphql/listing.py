"""The list filters as store queries: one translation for the GraphQL lists and the export
pages (`entrypoints/exports.py`), so an export selects exactly what the list shows."""

from __future__ import annotations

import strawberry

from crm_kit.errors import BadUserInput

from ..domain.queries import CompanyQuery, ContactQuery
from ..domain.rules import require_id, search_query
from .enums import OrderDirection
from .inputs import CompanyFilter, CompanyOrder, ContactFilter, ContactOrder
from .paging import parse_after


def _id_or_none(value: strawberry.ID | None, field: str) -> str | None:
    return require_id(str(value), field) if value is not None else None


def contact_query(
    f: ContactFilter, order: ContactOrder, first: int, after: str | None
) -> ContactQuery:
    if f.created_after and f.created_before and f.created_after >= f.created_before:
        raise BadUserInput("must be before createdBefore", field="filter.createdAfter")
    return ContactQuery(
        first=first,
        after=parse_after(after, order.field.value),
        text=search_query(f.text, "filter.text"),
        owner_id=f.owner_id,
        lifecycle_stage=f.lifecycle_stage.value if f.lifecycle_stage else None,
        tag=f.tag.strip().lower() if f.tag else None,
        company_id=_id_or_none(f.company_id, "filter.companyId"),
        created_after=f.created_after,
        created_before=f.created_before,
        include_deleted=f.include_deleted,
        order_field=order.field.value,
        descending=order.direction is OrderDirection.DESC,
    )


def company_query(
    f: CompanyFilter, order: CompanyOrder, first: int, after: str | None
) -> CompanyQuery:
    return CompanyQuery(
        first=first,
        after=parse_after(after, order.field.value),
        text=search_query(f.text, "filter.text"),
        owner_id=f.owner_id,
        tag=f.tag.strip().lower() if f.tag else None,
        industry=f.industry.strip().lower() if f.industry else None,
        include_deleted=f.include_deleted,
        order_field=order.field.value,
        descending=order.direction is OrderDirection.DESC,
    )
