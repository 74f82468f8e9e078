"""Evaluation of the MongoDB filter subset this service uses, in Python: the in-memory
fake matches with it, and the Mongo adapter re-checks documents read by `_id` with it."""

from __future__ import annotations

import re
from typing import Any

Doc = dict[str, Any]


def _get(doc: Doc, path: str) -> Any:
    value: Any = doc
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _cmp(op: str, value: Any, operand: Any) -> bool:
    if value is None or operand is None:
        return False
    try:
        if op == "$gt":
            return value > operand
        if op == "$gte":
            return value >= operand
        if op == "$lt":
            return value < operand
        return value <= operand
    except TypeError:
        return False


def _match_value(value: Any, condition: Any) -> bool:
    candidates = value if isinstance(value, list) else [value]
    if isinstance(condition, dict) and condition and all(k.startswith("$") for k in condition):
        for op, operand in condition.items():
            if op == "$in":
                if not any(c in operand for c in candidates) and not (
                    value is None and None in operand
                ):
                    return False
            elif op == "$nin":
                if any(c in operand for c in candidates):
                    return False
            elif op == "$ne":
                if value == operand or (isinstance(value, list) and operand in value):
                    return False
            elif op == "$exists":
                if (value is not None) != bool(operand):
                    return False
            elif op in ("$gt", "$gte", "$lt", "$lte"):
                if not any(_cmp(op, c, operand) for c in candidates):
                    return False
            elif op == "$regex":
                pattern = re.compile(
                    operand, re.IGNORECASE if "i" in condition.get("$options", "") else 0
                )
                if not any(isinstance(c, str) and pattern.search(c) for c in candidates):
                    return False
            elif op == "$options":
                continue  # read with $regex
            else:
                raise NotImplementedError(f"memory store: operator {op}")
        return True
    if condition is None:
        return value is None
    return value == condition or (isinstance(value, list) and condition in value)


def matches(doc: Doc, query: Doc) -> bool:
    for key, condition in query.items():
        if key == "$or":
            if not any(matches(doc, sub) for sub in condition):
                return False
        elif key == "$and":
            if not all(matches(doc, sub) for sub in condition):
                return False
        elif not _match_value(_get(doc, key), condition):
            return False
    return True
