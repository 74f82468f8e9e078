"""A `TaskFilter` and a page evaluated in Python over task documents: the in-memory fake
uses it for everything, the Mongo adapter for the lookups it serves by `_id` (FerretDB v1
serves only a filter that is exactly `{_id: <value>}` from an index; any other filter scans
the whole collection)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from ..domain.model import Task
from .protocol import NO_DUE, TaskFilter, TaskPageRequest


def matches(task: Task, flt: TaskFilter, now: datetime) -> bool:
    checks = [
        flt.ids is None or task.id in flt.ids,
        flt.assignee_id is None or task.assignee_id == flt.assignee_id,
        flt.team_id is None or task.team_id == flt.team_id,
        flt.statuses is None or task.status in flt.statuses,
        flt.deal_ids is None or task.deal_id in flt.deal_ids,
        flt.contact_ids is None or task.contact_id in flt.contact_ids,
        flt.source_kind is None or task.source.kind == flt.source_kind,
        flt.due_before is None or (task.due_at is not None and task.due_at < flt.due_before),
        flt.due_after is None or (task.due_at is not None and task.due_at >= flt.due_after),
        flt.overdue is None or task.is_overdue(now) == flt.overdue,
        flt.created_from is None or task.created_at >= flt.created_from,
        flt.created_to is None or task.created_at < flt.created_to,
    ]
    return all(checks)


def sort_value(doc: dict[str, Any], field: str) -> Any:
    if field == "due_at":
        return doc.get("due_sort") or NO_DUE
    return doc.get(field)


def page_docs(docs: Iterable[dict[str, Any]], page: TaskPageRequest | None) -> list[dict[str, Any]]:
    """Sort by the page's field then `_id`, keep what follows the cursor, cut to the limit."""
    docs = list(docs)
    if page is None:
        return docs
    field = page.sort_field
    docs.sort(key=lambda d: (sort_value(d, field), d["_id"]), reverse=page.descending)
    if page.after is not None:
        value, after_id = page.after
        key = (value, after_id)
        docs = [
            d
            for d in docs
            if ((sort_value(d, field), d["_id"]) < key) == page.descending
            and (sort_value(d, field), d["_id"]) != key
        ]
    return docs[: page.limit]
