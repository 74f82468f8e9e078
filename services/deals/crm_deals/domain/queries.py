"""What a deal list selects and how it is ordered and paged, validated: the use cases
build these from client input, the store answers them (`store/filters.py` turns a
selection into the one filter the database, the fake and the read index all evaluate)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

Cursor = tuple[Any, str]

# API order -> the deal attribute lists sort on (each set on every deal, so keyset
# cursors hold; CREATED_AT is the id: ids are time-ordered).
ORDERS = {
    "CREATED_AT": "id",
    "UPDATED_AT": "updated_at",
    "AMOUNT": "amount_minor",
    "CLOSE_DATE": "close_sort",
    "TITLE": "title",
}


@dataclass(frozen=True)
class DealSelection:
    """Live deals of the workspace that meet every given condition."""

    pipeline_id: str | None = None
    stage_keys: tuple[str, ...] | None = None
    owner_id: str | None = None
    company_id: str | None = None
    contact_id: str | None = None  # among contact_ids
    primary_contact_id: str | None = None
    status: str | None = None
    # Stale (or not) at `as_of`: `stale_at` is stored, so staleness is a range.
    stale: bool | None = None
    as_of: datetime | None = None
    currency: str | None = None
    # Minor units of `currency`; amounts compare only within one currency.
    amount_min: int | None = None
    amount_max: int | None = None
    close_from: str | None = None  # YYYY-MM-DD, inclusive
    close_to: str | None = None
    text: str | None = None  # in the title, literally, in any case
    # Record sharing (`crm_kit.sharing`): only deals owned by one of these (or by
    # nobody); None: every deal. Set by the read use cases.
    visible_to: frozenset[str] | None = None


EVERY_DEAL = DealSelection()


@dataclass(frozen=True)
class DealOrder:
    attribute: str = "id"  # one of ORDERS' values
    descending: bool = True


NEWEST_FIRST = DealOrder()
# A board column: the largest deals first.
LARGEST_FIRST = DealOrder("amount_minor", True)


@dataclass(frozen=True)
class DealQuery:
    selection: DealSelection
    order: DealOrder = NEWEST_FIRST
    after: Cursor | None = None
    first: int = 20


@dataclass
class StageTotal:
    """A board column's totals in one currency."""

    stage_key: str
    currency: str
    count: int = 0
    amount_minor: int = 0
    weighted_minor: int = 0
