"""MongoDB-shaped deal filters and sorts, evaluated over index entries.

The same query dicts the store receives (`usecases/queries.deal_query`, keyset cursors,
the board's column queries, the consumers' lookups) are compiled once into a predicate
over `Entry`, with the semantics of `store/matching.py` (what the in-memory fake and the
FerretDB by-`_id` re-checks use). A filter on a field the index does not hold raises
`Unsupported`, and the caller falls back to the database.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Iterable
from typing import Any

from .index_entry import ARRAY_FIELDS, FIELDS, Entry

Predicate = Callable[[Entry], bool]
Sort = list[tuple[str, int]]
# Fields with a posting list (value -> deal ids): an equality filter on one of them
# narrows the candidates before the predicate runs (a company's deals, a board column).
POSTED = ("pipeline_id", "stage_key", "owner_id", "company_id", "contact_ids")


class Unsupported(Exception):
    """The query uses a field or operator the index cannot evaluate."""


def _always(_: Entry) -> bool:
    return True


def compile_query(query: dict[str, Any]) -> Predicate:
    parts: list[Predicate] = []
    for key, condition in query.items():
        if key in ("$and", "$or"):
            subs = [compile_query(sub) for sub in condition]
            combine = all if key == "$and" else any
            parts.append(lambda e, subs=subs, combine=combine: combine(p(e) for p in subs))
        elif key in FIELDS:
            parts.append(_field(FIELDS[key], key in ARRAY_FIELDS, condition))
        else:
            raise Unsupported(key)
    if not parts:
        return _always
    if len(parts) == 1:
        return parts[0]
    return lambda e: all(p(e) for p in parts)


def _less(op: str) -> Callable[[Any, Any], bool]:
    compare = {"$gt": operator.gt, "$gte": operator.ge, "$lt": operator.lt}.get(op, operator.le)

    def check(value: Any, operand: Any) -> bool:
        # As matching._cmp: a missing side or values of different types never match.
        if value is None or operand is None:
            return False
        try:
            return compare(value, operand)
        except TypeError:
            return False

    return check


def _operator(op: str, operand: Any) -> Callable[[Any, tuple], bool]:
    """One `{$op: operand}` test of a value; `candidates` are the array's items (or the
    value itself), as MongoDB matches an array when any element matches."""
    if op == "$in":
        return lambda value, candidates: (
            any(c in operand for c in candidates) or (value is None and None in operand)
        )
    if op == "$nin":
        return lambda value, candidates: not any(c in operand for c in candidates)
    if op == "$ne":
        return lambda value, candidates: (
            not (value == operand or (isinstance(value, tuple) and operand in value))
        )
    if op == "$exists":
        return lambda value, candidates: (value is not None) == bool(operand)
    if op in ("$gt", "$gte", "$lt", "$lte"):
        check = _less(op)
        return lambda value, candidates: any(check(c, operand) for c in candidates)
    raise Unsupported(op)


def _regex(operand: Any, options: str) -> Callable[[Any, tuple], bool]:
    """`{$regex, $options}` as matching.py reads it (only the `i` option is used)."""
    pattern = re.compile(operand, re.IGNORECASE if "i" in options else 0)
    return lambda value, candidates: any(
        isinstance(c, str) and pattern.search(c) is not None for c in candidates
    )


def _field(attr: str, is_array: bool, condition: Any) -> Predicate:
    get = operator.attrgetter(attr)
    if isinstance(condition, dict):
        if not condition or not all(k.startswith("$") for k in condition):
            raise Unsupported(f"{attr}: sub-document equality")
        tests = [
            _regex(operand, condition.get("$options", ""))
            if op == "$regex"
            else _operator(op, operand)
            for op, operand in condition.items()
            if op != "$options"
        ]

        def check(entry: Entry) -> bool:
            value = get(entry)
            candidates = value if is_array else (value,)
            return all(test(value, candidates) for test in tests)

        return check
    if condition is None:
        return lambda e: get(e) is None
    if is_array:
        whole = tuple(condition) if isinstance(condition, list) else None
        return lambda e: condition in get(e) or get(e) == whole
    return lambda e: get(e) == condition


def narrowing(query: dict[str, Any]) -> list[tuple[str, list[Any]]]:
    """Equality constraints every match must meet (top level and inside `$and`), on posted
    fields: (field, the values one of which it must equal)."""
    found: list[tuple[str, list[Any]]] = []
    for key, condition in query.items():
        if key == "$and":
            for sub in condition:
                found.extend(narrowing(sub))
        elif key in POSTED:
            if isinstance(condition, str):
                found.append((key, [condition]))
            elif isinstance(condition, dict) and list(condition) == ["$in"]:
                found.append((key, [v for v in condition["$in"] if isinstance(v, str)]))
    return found


class _Desc:
    """Inverts the order of one sort part (for sorts mixing directions)."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __lt__(self, other: _Desc) -> bool:
        return other.value < self.value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Desc) and other.value == self.value


def ordered(entries: Iterable[Entry], sort: Sort, limit: int | None) -> list[Entry]:
    """`entries` in MongoDB sort order (a missing value first when ascending), cut at
    `limit`. Every sort the service issues ends on `_id`, so the order is total."""
    items = list(entries)
    if not sort:
        return items[:limit] if limit is not None else items
    getters = [operator.attrgetter(FIELDS[name]) if name in FIELDS else None for name, _ in sort]
    if None in getters:
        raise Unsupported("sort field")
    directions = {direction for _, direction in sort}
    if len(directions) == 1:
        reverse = directions.pop() < 0

        def key(e: Entry) -> tuple:
            return tuple((v is not None, v) for v in (g(e) for g in getters))  # type: ignore[misc]

    else:
        reverse = False

        def key(e: Entry) -> tuple:
            parts = []
            for g, (_, direction) in zip(getters, sort, strict=True):
                value = g(e)  # type: ignore[misc]
                part = (value is not None, value)
                parts.append(_Desc(part) if direction < 0 else part)
            return tuple(parts)

    items.sort(key=key, reverse=reverse)
    return items[:limit] if limit is not None else items
