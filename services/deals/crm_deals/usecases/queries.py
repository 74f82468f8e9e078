"""Deal lists with keyset pagination, and the pipeline board."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from crm_kit.errors import BadUserInput
from crm_kit.filters import bounds
from crm_kit.pagination import (
    DEFAULT_PAGE,
    decode_cursor,
    encode_cursor,
    keyset_filter,
    keyset_sort,
    page_size,
)

from ..domain.deal import STATUSES, Deal
from ..domain.money import parse_amount, validate_currency
from ..domain.pipeline import Pipeline, Stage
from ..store.protocol import DealStore
from . import deal_input as parse

# API order field -> stored field (each non-null on every deal, so keyset cursors hold).
ORDER_FIELDS = {
    "CREATED_AT": "_id",
    "UPDATED_AT": "updated_at",
    "AMOUNT": "amount_minor",
    "CLOSE_DATE": "close_sort",
    "TITLE": "title",
}


@dataclass
class DealFilter:
    pipeline_id: str | None = None
    stage_keys: list[str] | None = None
    owner_id: str | None = None
    company_id: str | None = None
    contact_id: str | None = None
    status: str | None = None  # open | won | lost
    stale: bool | None = None
    currency: str | None = None
    amount_min: str | None = None
    amount_max: str | None = None
    close_date_from: Any = None
    close_date_to: Any = None
    text: str | None = None


MAX_TEXT = 100


def title_contains(text: str | None, field: str) -> dict[str, Any]:
    """A case-insensitive substring filter on the title ({} when blank)."""
    text = (text or "").strip()
    if not text:
        return {}
    if len(text) > MAX_TEXT:
        raise BadUserInput(f"at most {MAX_TEXT} characters", field=field)
    return {"title": {"$regex": re.escape(text), "$options": "i"}}


def board_filter(owner_id: str | None, text: str | None) -> dict[str, Any]:
    """The board's narrowing (owner, title text) as a query merged into every column's."""
    where = title_contains(text, "text")
    if owner_id:
        where["owner_id"] = owner_id
    return where


@dataclass
class Page:
    items: list[Deal]
    cursors: list[str]
    has_next: bool
    total: int
    has_previous: bool = False


def deal_query(f: DealFilter, now: datetime) -> dict[str, Any]:
    query: dict[str, Any] = {}
    if f.pipeline_id:
        query["pipeline_id"] = f.pipeline_id
    if f.stage_keys:
        query["stage_key"] = {"$in": list(f.stage_keys)}
    if f.owner_id:
        query["owner_id"] = f.owner_id
    if f.company_id:
        query["company_id"] = f.company_id
    if f.contact_id:
        query["contact_ids"] = f.contact_id
    if f.status:
        if f.status not in STATUSES:
            raise BadUserInput(f"status must be one of {STATUSES}", field="filter.status")
        query["status"] = f.status
    if f.amount_min is not None or f.amount_max is not None or f.currency:
        # Amounts compare only within one currency: the range is in `currency` (USD default).
        currency = validate_currency(f.currency or "USD", "filter.currency")
        query["currency"] = currency
        amounts = bounds(
            gte=None
            if f.amount_min is None
            else parse_amount(f.amount_min, currency, "filter.amountMin"),
            lte=None
            if f.amount_max is None
            else parse_amount(f.amount_max, currency, "filter.amountMax"),
        )
        if amounts:
            query["amount_minor"] = amounts
    dates = bounds(
        gte=parse.iso_date(f.close_date_from, "filter.closeDateFrom") or None,
        lte=parse.iso_date(f.close_date_to, "filter.closeDateTo") or None,
    )
    if dates:
        query["close_date"] = dates
    query.update(title_contains(f.text, "filter.text"))
    if f.stale is True:
        query["stale_at"] = {"$lte": now}
    elif f.stale is False:
        query["$or"] = [{"stale_at": None}, {"stale_at": {"$gt": now}}]
    return query


async def list_deals(
    store: DealStore,
    query: dict[str, Any],
    *,
    order: str = "CREATED_AT",
    descending: bool = True,
    first: int | None = None,
    after: str | None = None,
    total: int | None = None,
) -> Page:
    """One page in (order field, _id) order; `total` skips the count when already known."""
    sort_field = ORDER_FIELDS.get(order)
    if sort_field is None:
        raise BadUserInput(f"order must be one of {list(ORDER_FIELDS)}", field="orderBy.field")
    size = page_size(first)
    cursor = decode_cursor(after) if after else None
    keyset = keyset_filter(sort_field, descending, cursor)
    paged = {"$and": [query, keyset]} if keyset else query
    docs = (
        await store.find_deals(paged, keyset_sort(sort_field, descending), size + 1) if size else []
    )
    deals = [Deal.from_doc(doc) for doc in docs[:size]]
    cursors = [encode_cursor(doc[sort_field], doc["_id"]) for doc in docs[:size]]
    if total is None:
        total = await store.count_deals(query)
    return Page(deals, cursors, len(docs) > size, total, has_previous=cursor is not None)


@dataclass
class CurrencyTotal:
    currency: str
    count: int = 0
    amount_minor: int = 0
    weighted_minor: int = 0


@dataclass
class Column:
    pipeline: Pipeline
    stage: Stage
    count: int = 0
    # In the pipeline's currency; other currencies are reported apart in `by_currency`.
    amount_minor: int = 0
    weighted_minor: int = 0
    by_currency: list[CurrencyTotal] = field(default_factory=list)
    # The first page (amount desc), read with the totals; later pages are queried.
    first_page: list[Deal] = field(default_factory=list)
    # The board's owner/text narrowing, applied to later pages too.
    where: dict[str, Any] = field(default_factory=dict)

    def page(self, first: int | None, after: str | None) -> Page | None:
        """The requested page from the prefetched one, if it covers it."""
        size = page_size(first)
        if after is not None or size > PREFETCH:
            return None
        items = self.first_page[:size]
        cursors = [encode_cursor(d.amount_minor, d.id) for d in items]
        return Page(items, cursors, self.count > size, self.count)


PREFETCH = DEFAULT_PAGE


async def board(
    store: DealStore, pipeline: Pipeline, where: dict[str, Any] | None = None
) -> list[Column]:
    """Every column's totals (`$group`) and first page in one go; further pages lazily.
    `where` (see `board_filter`) narrows every column, totals included."""
    where = where or {}
    columns = {s.key: Column(pipeline, s, where=where) for s in pipeline.stages}
    totals, pages = await store.board(pipeline.id, list(columns), PREFETCH, where or None)
    for key, docs in pages.items():
        columns[key].first_page = [Deal.from_doc(doc) for doc in docs]
    for row in totals:
        column = columns.get(row["stage_key"])
        if column is None:
            continue  # a stage removed in a later version; its deals stay in `deals`
        column.count += row["count"]
        column.by_currency.append(
            CurrencyTotal(row["currency"], row["count"], row["amount_minor"], row["weighted_minor"])
        )
        if row["currency"] == pipeline.currency:
            column.amount_minor += row["amount_minor"]
            column.weighted_minor += row["weighted_minor"]
    for column in columns.values():
        column.by_currency.sort(key=lambda t: t.currency)
    return list(columns.values())
