"""The update operators `crm_kit.records.Records.update` takes, applied to a document in
Python as MongoDB applies them: the in-memory database's writes, and the audit log's
"after" of an update (`crm_kit.audit`)."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any


def apply_update(
    doc: dict[str, Any], update: Mapping[str, Any], *, inserting: bool, copy_values: bool = True
) -> None:
    """Apply `crm_kit.records.Records.update`'s operators to a document, as MongoDB does.
    Values it holds are replaced, never changed in place (a list pushed to is a new list),
    so a shallow copy of a document may be updated; `copy_values=False` puts the update's
    own values in it (a document only read, then dropped: an audit entry's after)."""
    for operator, changes in update.items():
        for name, value in changes.items():
            _apply(doc, operator, name, copy.deepcopy(value) if copy_values else value, inserting)


def _apply(doc: dict[str, Any], operator: str, name: str, value: Any, inserting: bool) -> None:
    current = doc.get(name)
    if operator == "$set" or (operator == "$setOnInsert" and inserting):
        doc[name] = value
    elif operator == "$unset":
        doc.pop(name, None)
    elif operator == "$inc":
        doc[name] = (current or 0) + value
    elif operator in ("$max", "$min"):
        better = max if operator == "$max" else min
        doc[name] = value if current is None else better(current, value)
    elif operator in ("$push", "$addToSet"):
        items = value["$each"] if isinstance(value, dict) and "$each" in value else [value]
        listed = list(current or [])
        for item in items:
            if operator == "$push" or item not in listed:
                listed.append(item)
        doc[name] = listed
