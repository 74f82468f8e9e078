"""Deal lists with keyset pagination, and the pipeline board."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime

from crm_kit import bounds
from crm_kit.errors import BadUserInput
from crm_kit.pagination import DEFAULT_PAGE, decode_cursor, encode_cursor, page_size

from ..domain import rules
from ..domain.deal import STATUSES, Deal
from ..domain.money import parse_amount, validate_currency
from ..domain.pipeline import Pipeline, Stage
from ..domain.queries import EVERY_DEAL, ORDERS, DealOrder, DealQuery, DealSelection
from ..domain.rates import Converter
from .inputs import DealFilter
from .scope import Scope
from .visibility import AMOUNT
from .visibility import narrowed as visible


@dataclass
class DealPage:
    items: list[Deal]
    cursors: list[str]
    has_next: bool
    total: int
    has_previous: bool = False


MAX_TEXT = 100


def title_text(text: str | None, field: str) -> str | None:
    """A text to find in titles (in any case): trimmed, None when blank, bounded."""
    text = (text or "").strip()
    if len(text) > MAX_TEXT:
        raise BadUserInput(f"at most {MAX_TEXT} characters", field=field)
    return text or None


def selection_of(f: DealFilter, now: datetime) -> DealSelection:
    """A client's filter, validated (errors name `filter.<field>`)."""
    if f.status and f.status not in STATUSES:
        raise BadUserInput(f"status must be one of {STATUSES}", field="filter.status")
    bounds.count(f.stage_keys, bounds.MAX_STAGES + 2, "filter.stageKeys")  # + won, lost
    for name, given in (
        ("pipelineId", f.pipeline_id),
        ("ownerId", f.owner_id),
        ("companyId", f.company_id),
        ("contactId", f.contact_id),
    ):
        bounds.text(given, bounds.MAX_ID, f"filter.{name}")
    currency = amount_min = amount_max = None
    if f.amount_min is not None or f.amount_max is not None or f.currency:
        # Amounts compare only within one currency: the range is in `currency` (USD default).
        currency = validate_currency(f.currency or "USD", "filter.currency")
        if f.amount_min is not None:
            amount_min = parse_amount(f.amount_min, currency, "filter.amountMin")
        if f.amount_max is not None:
            amount_max = parse_amount(f.amount_max, currency, "filter.amountMax")
    return DealSelection(
        pipeline_id=f.pipeline_id or None,
        stage_keys=tuple(f.stage_keys) if f.stage_keys else None,
        owner_id=f.owner_id or None,
        company_id=f.company_id or None,
        contact_id=f.contact_id or None,
        status=f.status or None,
        stale=f.stale,
        as_of=now,
        currency=currency,
        amount_min=amount_min,
        amount_max=amount_max,
        close_from=rules.iso_date(f.close_date_from, "filter.closeDateFrom") or None,
        close_to=rules.iso_date(f.close_date_to, "filter.closeDateTo") or None,
        text=title_text(f.text, "filter.text"),
    )


def board_narrowing(owner_id: str | None, text: str | None) -> DealSelection:
    """The board's owner and title text (arguments `ownerId`, `text`), validated: the
    deals every column (totals, first and later pages) is narrowed to."""
    return DealSelection(owner_id=owner_id or None, text=title_text(text, "text"))


def order_of(order: str, descending: bool) -> DealOrder:
    attribute = ORDERS.get(order)
    if attribute is None:
        raise BadUserInput(f"order must be one of {list(ORDERS)}", field="orderBy.field")
    return DealOrder(attribute, descending)


async def list_deals(
    scope: Scope,
    selection: DealSelection,
    *,
    order: str = "CREATED_AT",
    descending: bool = True,
    first: int | None = None,
    after: str | None = None,
) -> DealPage:
    """One page in (order field, id) order, after the opaque cursor `after`, of the deals
    the caller sees."""
    sort = order_of(order, descending)
    if sort.attribute == "amount_minor":
        (await scope.access()).require_field(AMOUNT, "orderBy.field")
    selection = await visible(scope, selection)
    size = page_size(first)
    cursor = decode_cursor(after) if after else None
    page = await scope.store.list_deals(DealQuery(selection, sort, cursor, max(size, 1)))
    items = page.items[:size]
    cursors = [encode_cursor(getattr(deal, sort.attribute), deal.id) for deal in items]
    has_next = page.has_next if size else False  # an empty page says nothing follows
    return DealPage(items, cursors, has_next, page.total, has_previous=cursor is not None)


@dataclass
class CurrencyTotal:
    currency: str
    count: int = 0
    amount_minor: int = 0
    weighted_minor: int = 0


PREFETCH = DEFAULT_PAGE


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
    # The board's owner/title narrowing (`board_narrowing`), later pages included.
    narrowed: DealSelection = EVERY_DEAL

    def page(self, first: int | None, after: str | None) -> DealPage | None:
        """The requested page from the prefetched one, if it covers it."""
        size = page_size(first)
        if after is not None or size > PREFETCH:
            return None
        items = self.first_page[:size]
        cursors = [encode_cursor(d.amount_minor, d.id) for d in items]
        return DealPage(items, cursors, self.count > size, self.count)

    @property
    def selection(self) -> DealSelection:
        return replace(self.narrowed, pipeline_id=self.pipeline.id, stage_keys=(self.stage.key,))


async def board(
    scope: Scope,
    pipeline: Pipeline,
    converter: Converter | None = None,
    narrowed: DealSelection = EVERY_DEAL,
) -> list[Column]:
    """Every column's totals and first page in one go; further pages lazily. Other
    currencies are converted by `converter`: an open column's totals per currency at
    today's rate; a closed column's deals one by one at their close date (read only when a
    closed column holds another currency). `narrowed` (`board_narrowing`) narrows every
    column, totals and conversions included."""
    narrowed = await visible(scope, narrowed)
    columns = {s.key: Column(pipeline, s, narrowed=narrowed) for s in pipeline.stages}
    closed_foreign: set[tuple[str, str]] = set()
    totals, pages = await scope.store.board(pipeline.id, list(columns), PREFETCH, narrowed)
    for key, deals in pages.items():
        columns[key].first_page = deals
    for row in totals:
        column = columns.get(row.stage_key)
        if column is None:
            continue  # a stage removed in a later version; its deals stay in `deals`
        column.count += row.count
        column.by_currency.append(
            CurrencyTotal(row.currency, row.count, row.amount_minor, row.weighted_minor)
        )
        if row.currency == pipeline.currency:
            column.amount_minor += row.amount_minor
            column.weighted_minor += row.weighted_minor
        elif converter is None:
            column.unconverted += row.count
        elif column.stage.terminal:
            closed_foreign.add((row.stage_key, row.currency))
        else:
            amount = converter.convert(row.amount_minor, row.currency)
            weighted = converter.convert(row.weighted_minor, row.currency)
            if amount is None or weighted is None:
                column.unconverted += row.count
            else:
                column.amount_minor += amount
                column.weighted_minor += weighted
    if closed_foreign and converter is not None:
        for facts in await scope.store.pipeline_facts(pipeline.id, narrowed):
            if (facts.stage_key, facts.currency) not in closed_foreign:
                continue
            column = columns[facts.stage_key or ""]
            amount = converter.convert_on(facts.amount_minor or 0, facts.currency, facts.close_date)
            weighted = converter.convert_on(
                facts.weighted_minor or 0, facts.currency, facts.close_date
            )
            if amount is None or weighted is None:
                column.unconverted += 1
            else:
                column.amount_minor += amount
                column.weighted_minor += weighted
    for column in columns.values():
        column.by_currency.sort(key=lambda t: t.currency)
    return list(columns.values())
