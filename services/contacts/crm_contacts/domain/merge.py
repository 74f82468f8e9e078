"""What merging a duplicate into a survivor changes on the survivor."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .model import Contact

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
