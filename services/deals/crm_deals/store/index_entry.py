"""One deal as the read index keeps it: only what lists, filters, sorts, board totals and
the reports (forecast, funnel, scorecards, roll-ups) need, read with a projection (no
custom fields, no outbox). It is the store's answer to `pipeline_facts` too
(`domain.facts.ReportedDeal`), with or without the index.

The stage history is kept compactly for the analytics: the stages entered, in order, as
interned strings (one shared object per stage key) and the times of entry as one
`array('q')` of epoch seconds (8 bytes each, no int objects). Each change's `from_stage`
is the previous change's `to_stage`, so it is not stored.

Every value is the STORED one (weighted amount, probability, `close_sort`, `stale_at` are
derived at write time, see `domain/deal.py`), so the index answers exactly what the
database would for the same filter.
"""

from __future__ import annotations

import sys
from array import array
from dataclasses import dataclass
from datetime import datetime
from typing import Any

Doc = dict[str, Any]

# Stored field -> Entry attribute: the fields a query may filter or sort on.
FIELDS: dict[str, str] = {
    "_id": "id",
    "pipeline_id": "pipeline_id",
    "stage_key": "stage_key",
    "status": "status",
    "owner_id": "owner_id",
    "company_id": "company_id",
    "primary_contact_id": "primary_contact_id",
    "contact_ids": "contact_ids",
    "currency": "currency",
    "amount_minor": "amount_minor",
    "weighted_minor": "weighted_minor",
    "probability": "probability",
    "updated_at": "updated_at",
    "close_date": "close_date",
    "close_sort": "close_sort",
    "title": "title",
    "stale_at": "stale_at",
}
ARRAY_FIELDS = frozenset({"contact_ids"})
# Held for every live deal (the index holds no other): a filter on it is answered.
ALWAYS_NULL = frozenset({"deleted_at"})
# Read for the analytics only (never filtered on by a query dict).
ANALYTICS_FIELDS = (
    "forecast_category",
    "created_at",
    "next_step",
    "stage_history",
    # The forecast roll-ups' "model" figure and range (`usecases/forecasting.py`).
    "probability_model",
    "stage_probability",
)
# The projection of the initial scan (`_id` comes anyway); `rev` orders the states of a
# deal (a write's own state may arrive after a newer one was re-read).
PROJECTION: dict[str, int] = {
    **{name: 1 for name in FIELDS if name != "_id"},
    **dict.fromkeys(ANALYTICS_FIELDS, 1),
    "rev": 1,
}
EMPTY_TIMES: array[int] = array("q")


@dataclass(slots=True, eq=True)
class Entry:
    id: str
    pipeline_id: str | None
    stage_key: str | None
    status: str | None
    owner_id: str | None
    company_id: str | None
    primary_contact_id: str | None
    contact_ids: tuple[str, ...]
    currency: str | None
    amount_minor: int | None
    weighted_minor: int | None
    probability: int | None
    updated_at: datetime | None
    close_date: str | None
    close_sort: str | None
    title: str | None
    stale_at: datetime | None
    # --- analytics ---
    forecast_category: str | None
    created: int | None  # created_at, epoch seconds
    has_next_step: bool
    entered: tuple[str, ...]  # stage keys entered, oldest first (interned)
    entered_at: array[int]  # epoch seconds of each entry, same order (array('q'))
    model_probability: int | None = None  # the win model's estimate, None: none
    stage_probability: int | None = None
    rev: int = 0


def _shared(value: Any) -> Any:
    # Stage keys, statuses, currencies, owners, dates repeat across thousands of deals:
    # one string object each instead of one per deal (a large part of the entry's size).
    return sys.intern(value) if type(value) is str else value


def entry_of(doc: Doc) -> Entry:
    """The entry of a stored deal document (full or projected with PROJECTION)."""
    get = doc.get
    history = get("stage_history") or ()
    return Entry(
        id=doc["_id"],
        pipeline_id=_shared(get("pipeline_id")),
        stage_key=_shared(get("stage_key")),
        status=_shared(get("status")),
        owner_id=_shared(get("owner_id")),
        company_id=_shared(get("company_id")),
        primary_contact_id=_shared(get("primary_contact_id")),
        contact_ids=tuple(_shared(c) for c in get("contact_ids") or ()),
        currency=_shared(get("currency")),
        amount_minor=get("amount_minor"),
        weighted_minor=get("weighted_minor"),
        probability=get("probability"),
        updated_at=get("updated_at"),
        close_date=_shared(get("close_date")),
        close_sort=_shared(get("close_sort")),
        title=get("title"),
        stale_at=get("stale_at"),
        forecast_category=_shared(get("forecast_category")),
        created=_epoch(get("created_at")),
        has_next_step=bool(get("next_step")),
        entered=tuple(_shared(c.get("to_stage")) for c in history),
        entered_at=array("q", [_epoch(c.get("at")) or 0 for c in history])
        if history
        else EMPTY_TIMES,
        model_probability=get("probability_model"),
        stage_probability=get("stage_probability"),
        rev=get("rev") or 0,
    )


def live_entry_of(doc: Doc) -> Entry | None:
    """The entry of a stored deal, None for a deleted one (the index holds live deals)."""
    return None if doc.get("deleted_at") is not None else entry_of(doc)


def older(incoming: Entry, held: Entry) -> bool:
    return incoming.rev < held.rev


def _epoch(value: Any) -> int | None:
    return int(value.timestamp()) if isinstance(value, datetime) else None
