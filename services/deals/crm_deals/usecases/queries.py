"""Deal lists with keyset pagination, and the pipeline board."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
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
from ..domain.rates import Converter
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


@dataclass(frozen=True)
class BoardFilter:
    """The board's narrowing: an owner, a text in the title (case-insensitive)."""

    owner_id: str | None = None
    text: str | None = None

    def query(self) -> dict[str, Any]:
        """As a store query, merged into every column's (totals and pages)."""
        where = title_contains(self.text, "text")
        if self.owner_id:
            where["owner_id"] = self.owner_id
        return where

    def matches(self, entry: Any) -> bool:
        """The same test on a read-index entry (`owner_id`, `title`)."""
        if self.owner_id and entry.owner_id != self.owner_id:
            return False
        if self.text:
            return re.search(re.escape(self.text), entry.title or "", re.IGNORECASE) is not None
        return True


def board_filter(owner_id: str | None, text: str | None) -> BoardFilter:
    text = (text or "").strip() or None
    title_contains(text, "text")  # validates the length
    return BoardFilter(owner_id or None, text)


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
    # In the pipeline's (reporting) currency, other currencies converted (open deals at
    # today's rate, won and lost ones at their close date's); every currency's exact
    # totals apart in `by_currency`; deals with no rate known only in `unconverted`.
    amount_minor: int = 0
    weighted_minor: int = 0
    unconverted: int = 0
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
    store: DealStore,
    pipeline: Pipeline,
    converter: Converter | None = None,
    entries: Callable[[], Awaitable[list[Any]]] | None = None,
    where: BoardFilter | None = None,
) -> list[Column]:
    """Every column's totals (`$group`) and first page in one go; further pages lazily.
    Other currencies are converted by `converter`: an open column's totals per currency
    at today's rate; a closed column's deals one by one at their close date (`entries`:
    the pipeline's index entries, read only when a closed column holds another currency).
    `where` (see `board_filter`) narrows every column, totals included."""
    narrowed = where.query() if where else {}
    columns = {s.key: Column(pipeline, s, where=narrowed) for s in pipeline.stages}
    closed_foreign: set[tuple[str, str]] = set()
    totals, pages = await store.board(pipeline.id, list(columns), PREFETCH, narrowed or None)
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
        elif converter is None:
            column.unconverted += row["count"]
        elif column.stage.terminal:
            closed_foreign.add((row["stage_key"], row["currency"]))
        else:
            amount = converter.convert(row["amount_minor"], row["currency"])
            weighted = converter.convert(row["weighted_minor"], row["currency"])
            if amount is None or weighted is None:
                column.unconverted += row["count"]
            else:
                column.amount_minor += amount
                column.weighted_minor += weighted
    if closed_foreign and converter is not None and entries is not None:
        for entry in await entries():
            if (entry.stage_key, entry.currency) not in closed_foreign:
                continue
            if where is not None and not where.matches(entry):
                continue
            column = columns[entry.stage_key]
            amount = converter.convert_on(entry.amount_minor or 0, entry.currency, entry.close_date)
            weighted = converter.convert_on(
                entry.weighted_minor or 0, entry.currency, entry.close_date
            )
            if amount is None or weighted is None:
                column.unconverted += 1
            else:
                column.amount_minor += amount
                column.weighted_minor += weighted
    for column in columns.values():
        column.by_currency.sort(key=lambda t: t.currency)
    return list(columns.values())
