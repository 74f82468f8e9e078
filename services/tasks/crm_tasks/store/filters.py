"""What a task list selects and how it is ordered, written once: the kit compiles these
filters to MongoDB queries and evaluates them in memory with the same semantics
(`crm_kit.filters`), for the in-memory database, the read index and the deal lists alike.
Fields are the stored documents' (`documents.py`), derived ones included."""

from __future__ import annotations

from datetime import datetime

from crm_kit.filters import And, Eq, Filter, In, Ne, Or, Range
from crm_kit.pagination import Order
from crm_kit.sharing import Visibility

from ..domain.queries import TaskFilter, TaskOrder
from ..domain.task import ACTIVE_STATUSES

# The stored field each order sorts by (`due_sort`: the due time, undated last).
SORT_FIELD = {
    "due_at": "due_sort",
    "created_at": "created_at",
    "updated_at": "updated_at",
    "priority_rank": "priority_rank",
}
ACTIVE = In("status", ACTIVE_STATUSES)
# Who holds a task (record sharing).
HOLDERS = ("assignee_id", "created_by")


def tasks_matching(where: TaskFilter, now: datetime) -> Filter:
    """`now` is the time `overdue` is judged at: active and due before it."""
    return And(
        In("_id", where.ids) if where.ids is not None else None,
        Eq("assignee_id", where.assignee_id) if where.assignee_id is not None else None,
        Eq("team_id", where.team_id) if where.team_id is not None else None,
        In("status", where.statuses) if where.statuses is not None else None,
        In("deal_id", where.deal_ids) if where.deal_ids is not None else None,
        In("contact_id", where.contact_ids) if where.contact_ids is not None else None,
        Eq("source.kind", where.source_kind) if where.source_kind is not None else None,
        _range("due_at", gte=where.due_after, lt=where.due_before),
        _overdue(where.overdue, now),
        _range("created_at", gte=where.created_from, lt=where.created_to),
        Visibility(where.visible_to).filter(HOLDERS),
    )


def _range(field: str, *, gte: datetime | None, lt: datetime | None) -> Filter | None:
    return Range(field, gte=gte, lt=lt) if gte is not None or lt is not None else None


def _overdue(overdue: bool | None, now: datetime) -> Filter | None:
    if overdue is None:
        return None
    if overdue:
        return And(Range("due_at", lt=now), ACTIVE)
    # Done or cancelled, or not due before now (undated: due_sort is after every date).
    closed = And(*(Ne("status", status) for status in ACTIVE_STATUSES))
    return Or(closed, Range("due_sort", gte=now))


def order_of(order: TaskOrder) -> Order:
    return Order(SORT_FIELD[order.field], order.descending)
