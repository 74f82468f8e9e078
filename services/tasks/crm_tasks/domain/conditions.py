"""The rule condition language: predicates on an event's `data`.

A condition is `path op value`. `path` walks the event data with dots (`deal.amountMinor`,
`toStage`, `task.type`); a numeric segment indexes a list (`contactIds.0`). All conditions
of a rule must hold. Operators:

- `eq` / `neq`: equality (numbers compare by value, 1 == 1.0);
- `in`: the value is a list and the field equals one of its items; if the field is itself a
  list, any overlap holds;
- `gt` / `lt`: numbers, or ISO-8601 strings compared as text (both sides same kind);
- `exists`: `value` true (default) means the path resolves to a non-null value; false means
  it does not.

A missing path makes every operator but `exists`/`neq` false.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .rule import Condition

OPS = ("eq", "neq", "in", "gt", "lt", "exists")
_MISSING = object()


class InvalidCondition(ValueError):
    pass


def resolve(data: Any, path: str) -> Any:
    """The value at `path` in `data`, or the `_MISSING` sentinel."""
    current = data
    for segment in path.split("."):
        if isinstance(current, dict):
            if segment not in current:
                return _MISSING
            current = current[segment]
        elif isinstance(current, list) and segment.isdigit():
            index = int(segment)
            if index >= len(current):
                return _MISSING
            current = current[index]
        else:
            return _MISSING
    return current


def validate(condition: Condition) -> None:
    if not condition.path or any(not part for part in condition.path.split(".")):
        raise InvalidCondition("path must be dot-separated names, e.g. deal.amountMinor")
    if condition.op not in OPS:
        raise InvalidCondition(f"op must be one of {', '.join(OPS)}")
    if condition.op == "in" and not isinstance(condition.value, list):
        raise InvalidCondition("op IN needs a JSON list value")
    if condition.op in ("gt", "lt") and not _comparable(condition.value):
        raise InvalidCondition("op GT/LT needs a number or a string value")
    if condition.op == "exists" and condition.value not in (None, True, False):
        raise InvalidCondition("op EXISTS takes true, false or no value")


def _comparable(value: Any) -> bool:
    return isinstance(value, int | float | str) and not isinstance(value, bool)


def _equal(left: Any, right: Any) -> bool:
    if isinstance(left, bool) or isinstance(right, bool):
        return left is right or (type(left) is type(right) and left == right)
    return bool(left == right)


def holds(condition: Condition, data: dict[str, Any]) -> bool:
    actual = resolve(data, condition.path)
    op, expected = condition.op, condition.value
    if op == "exists":
        present = actual is not _MISSING and actual is not None
        return present if expected in (None, True) else not present
    if op == "neq":
        return actual is _MISSING or not _equal(actual, expected)
    if actual is _MISSING:
        return False
    if op == "eq":
        return _equal(actual, expected)
    if op == "in":
        options = expected if isinstance(expected, list) else [expected]
        if isinstance(actual, list):
            return any(_equal(a, o) for a in actual for o in options)
        return any(_equal(actual, o) for o in options)
    if op in ("gt", "lt"):
        if not (_comparable(actual) and _comparable(expected)):
            return False
        if isinstance(actual, str) != isinstance(expected, str):
            return False
        return actual > expected if op == "gt" else actual < expected
    raise InvalidCondition(f"unknown op {op}")


def all_hold(conditions: Iterable[Condition], data: dict[str, Any]) -> bool:
    return all(holds(condition, data) for condition in conditions)
