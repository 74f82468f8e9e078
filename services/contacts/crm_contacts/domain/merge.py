"""Merging a duplicate contact into a survivor: what it changes on the survivor, and the
record that makes an interrupted merge resumable."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from crm_kit.clock import utcnow

from .contact import Contact, ContactUpdated, wire_field

# Scalar fields the duplicate fills in when the survivor has none.
FILLABLE = ("title", "company_id", "owner_id", "source")
UNIONED = ("emails", "phones", "tags")


@dataclass
class FieldChange:
    field: str
    before: Any
    after: Any


@dataclass
class MergePlan:
    survivor_id: str
    duplicate_id: str
    changes: list[FieldChange] = field(default_factory=list)

    @property
    def changed_fields(self) -> list[str]:
        return [change.field for change in self.changes]

    def apply(self, survivor: Contact) -> Contact:
        for change in self.changes:
            setattr(survivor, change.field, change.after)
        return survivor


def plan_merge(survivor: Contact, duplicate: Contact) -> MergePlan:
    """Fill the survivor's empty fields from the duplicate; union emails, phones and tags
    (the survivor's primary email stays primary); add custom fields it lacks."""
    plan = MergePlan(survivor.id, duplicate.id)
    for name in FILLABLE:
        before = getattr(survivor, name)
        after = getattr(duplicate, name)
        if not before and after:
            plan.changes.append(FieldChange(name, before, after))
    for name in UNIONED:
        before = list(getattr(survivor, name))
        after = before + [v for v in getattr(duplicate, name) if v not in before]
        if after != before:
            plan.changes.append(FieldChange(name, before, after))
    missing = {k: v for k, v in duplicate.custom_fields.items() if k not in survivor.custom_fields}
    if missing:
        before_custom = dict(survivor.custom_fields)
        plan.changes.append(FieldChange("custom_fields", before_custom, before_custom | missing))
    return plan


def absorb(survivor: Contact, duplicate: Contact, *, at: datetime, by: str) -> bool:
    """The survivor takes what `duplicate` adds, once: False when it did already (a
    resumed merge)."""
    if duplicate.id in survivor.merged_from:
        return False
    plan = plan_merge(survivor, duplicate)
    plan.apply(survivor)
    survivor.merged_from = [*survivor.merged_from, duplicate.id]
    survivor.updated_at, survivor.updated_by = at, by
    changed = [wire_field(name) for name in plan.changed_fields]
    if changed:
        survivor.raise_event(ContactUpdated(survivor, changed))
    return True


@dataclass
class MergeRecord:
    """Written before a merge changes anything, so an interrupted merge can be resumed."""

    duplicate_id: str
    workspace_id: str
    survivor_id: str
    moved_interactions: int
    changed_fields: list[str]
    status: str = "started"  # started | done
    started_at: datetime = field(default_factory=utcnow)
    finished_at: datetime | None = None

    def finish(self, at: datetime) -> bool:
        if self.status == "done":
            return False
        self.status, self.finished_at = "done", at
        return True
