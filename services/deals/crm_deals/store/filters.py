"""What each list selects, written once: the kit compiles these filters to MongoDB queries
and evaluates them in memory with the same semantics (`crm_kit.filters`), so the database,
the unit tests' fake and the read index (which evaluates them over its entries) all
answer alike. Fields are the stored documents' (`documents.py`), derived ones included."""

from __future__ import annotations

from crm_kit.filters import And, Contains, Eq, Filter, In, Or, Range
from crm_kit.pagination import Order
from crm_kit.sharing import Visibility

from ..domain.queries import DealOrder, DealSelection

LIVE = Eq("deleted_at", None)
# Deal attribute -> the document field lists sort on.
SORT_FIELDS = {"id": "_id"}
# Who holds a deal (record sharing).
HOLDERS = ("owner_id",)


def _optional(field: str, value: object) -> Filter | None:
    return Eq(field, value) if value is not None else None


def deals_matching(s: DealSelection) -> Filter:
    return And(
        LIVE,
        _optional("pipeline_id", s.pipeline_id),
        In("stage_key", s.stage_keys) if s.stage_keys else None,
        _optional("owner_id", s.owner_id),
        _optional("company_id", s.company_id),
        _optional("contact_ids", s.contact_id),
        _optional("primary_contact_id", s.primary_contact_id),
        _optional("status", s.status),
        _optional("currency", s.currency),
        Range("amount_minor", gte=s.amount_min, lte=s.amount_max)
        if s.amount_min is not None or s.amount_max is not None
        else None,
        Range("close_date", gte=s.close_from, lte=s.close_to)
        if s.close_from is not None or s.close_to is not None
        else None,
        # The title as the user typed it: matched in any case (a regex option).
        Contains("title", s.text, ignore_case=True) if s.text else None,
        _stale(s),
        Visibility(s.visible_to).filter(HOLDERS),
    )


def _stale(s: DealSelection) -> Filter | None:
    if s.stale is None or s.as_of is None:
        return None
    if s.stale:
        return Range("stale_at", lte=s.as_of)
    return Or(Eq("stale_at", None), Range("stale_at", gt=s.as_of))


def order_of(order: DealOrder) -> Order:
    return Order(SORT_FIELDS.get(order.attribute, order.attribute), order.descending)
