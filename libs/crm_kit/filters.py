"""One typed filter model, so a service writes what a query selects once.

A `Filter` compiles to a MongoDB filter document (`to_mongo()`, the subset FerretDB v1
supports) and evaluates in memory (`matches(get)`, where `get(field)` is a stored
document's field) with the same semantics, so the in-memory fake and any read model answer
exactly what the database would:

- `Eq(field, value)`: equal; on an array field, the array contains the value; `None`
  matches a null or missing field.
- `Ne(field, value)`: the negation of `Eq`.
- `In(field, values)`: equal to one of the values (on an array field: any element is).
- `Range(field, gte=, gt=, lte=, lt=)`: within the given bounds; a null or missing field
  or a value of another type never is.
- `Contains(fields, text)`: one of the fields (or an element of an array field) is a
  string containing `text` literally (the caller normalises case: stored search fields
  are lower-case); with `ignore_case=True`, in any case (`$options: "i"`, for a field
  stored as the user typed it).
- `And(*parts)` / `Or(*parts)`; `ALL` selects everything.

Fields are named as stored (document field names, `a.b` for a field of an embedded
document), so derived fields written at write time (search text, sort keys) filter the
same way in both places; `stored_field(doc)` reads a stored document that way.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

Get = Callable[[str], Any]

_REGEX_SPECIAL = set("\\.^$|?*+()[]{}/")


def stored_field(doc: Mapping[str, Any]) -> Get:
    """`get` over a stored document: a field by name, `a.b` into an embedded document
    (missing: None, as MongoDB treats a missing field)."""

    def get(name: str) -> Any:
        if "." not in name:
            return doc.get(name)
        value: Any = doc
        for part in name.split("."):
            if not isinstance(value, Mapping):
                return None
            value = value.get(part)
        return value

    return get


def literal_regex(text: str) -> str:
    """A regex matching `text` literally. Only metacharacters are escaped: FerretDB's Go
    regexp engine rejects escapes of ordinary characters that Python's re.escape emits."""
    return "".join(f"\\{ch}" if ch in _REGEX_SPECIAL else ch for ch in text)


def bounds(**operators: Any) -> dict[str, Any]:
    """A range condition from the bounds that are given: `bounds(gte=a, lt=None)` is
    `{"$gte": a}`; empty when none is (the caller then leaves the field unfiltered)."""
    return {f"${op}": value for op, value in operators.items() if value is not None}


class Filter(ABC):
    @abstractmethod
    def to_mongo(self) -> dict[str, Any]:
        """The MongoDB filter document."""

    @abstractmethod
    def matches(self, get: Get) -> bool:
        """Whether a stored document (its fields through `get`) is selected."""

    def __and__(self, other: Filter) -> Filter:
        return And(self, other)


@dataclass(frozen=True)
class Eq(Filter):
    field: str
    value: Any

    def to_mongo(self) -> dict[str, Any]:
        return {self.field: self.value}

    def matches(self, get: Get) -> bool:
        stored = get(self.field)
        if isinstance(stored, list) and not isinstance(self.value, list):
            return self.value in stored
        return bool(stored == self.value)


@dataclass(frozen=True)
class Ne(Filter):
    field: str
    value: Any

    def to_mongo(self) -> dict[str, Any]:
        return {self.field: {"$ne": self.value}}

    def matches(self, get: Get) -> bool:
        return not Eq(self.field, self.value).matches(get)


@dataclass(frozen=True)
class In(Filter):
    field: str
    values: tuple[Any, ...]

    def __init__(self, field: str, values: Sequence[Any]) -> None:
        object.__setattr__(self, "field", field)
        object.__setattr__(self, "values", tuple(values))

    def to_mongo(self) -> dict[str, Any]:
        return {self.field: {"$in": list(self.values)}}

    def matches(self, get: Get) -> bool:
        stored = get(self.field)
        if isinstance(stored, list):
            return any(element in self.values for element in stored)
        return stored in self.values


@dataclass(frozen=True)
class Range(Filter):
    field: str
    gte: Any = None
    gt: Any = None
    lte: Any = None
    lt: Any = None

    def to_mongo(self) -> dict[str, Any]:
        limits = bounds(gte=self.gte, gt=self.gt, lte=self.lte, lt=self.lt)
        return {self.field: limits} if limits else {}

    def matches(self, get: Get) -> bool:
        stored = get(self.field)
        if stored is None:
            return not bounds(gte=self.gte, gt=self.gt, lte=self.lte, lt=self.lt)
        try:
            return (
                (self.gte is None or stored >= self.gte)
                and (self.gt is None or stored > self.gt)
                and (self.lte is None or stored <= self.lte)
                and (self.lt is None or stored < self.lt)
            )
        except TypeError:  # another type: MongoDB compares only within a type
            return False


@dataclass(frozen=True)
class Contains(Filter):
    fields: tuple[str, ...]
    text: str
    ignore_case: bool = False
    _folded: Callable[[str], re.Match[str] | None] = field(
        init=False, repr=False, compare=False, hash=False
    )

    def __init__(
        self, fields: str | Sequence[str], text: str, *, ignore_case: bool = False
    ) -> None:
        names = (fields,) if isinstance(fields, str) else tuple(fields)
        if not names:
            raise ValueError("Contains needs at least one field")
        object.__setattr__(self, "fields", names)
        object.__setattr__(self, "text", text)
        object.__setattr__(self, "ignore_case", ignore_case)
        # Compiled once: a read model evaluates this per row.
        object.__setattr__(self, "_folded", re.compile(re.escape(text), re.IGNORECASE).search)

    def to_mongo(self) -> dict[str, Any]:
        pattern = {"$regex": literal_regex(self.text)}
        if self.ignore_case:
            pattern["$options"] = "i"
        if len(self.fields) == 1:
            return {self.fields[0]: pattern}
        return {"$or": [{name: pattern} for name in self.fields]}

    def matches(self, get: Get) -> bool:
        return any(self._in(get(name)) for name in self.fields)

    def _in(self, stored: Any) -> bool:
        if isinstance(stored, list):  # as MongoDB does: any element
            return any(self._in(element) for element in stored)
        if not isinstance(stored, str):
            return False
        if self.ignore_case:
            # Case folded as the database's regex engine folds (simple Unicode folding).
            return self._folded(stored) is not None
        return self.text in stored


@dataclass(frozen=True)
class And(Filter):
    parts: tuple[Filter, ...]

    def __init__(self, *parts: Filter | None) -> None:
        object.__setattr__(self, "parts", tuple(part for part in parts if part is not None))

    def to_mongo(self) -> dict[str, Any]:
        # One flat document while the parts name different fields (what an index planner
        # and a reader expect); `$and` only where two parts would share a key.
        merged: dict[str, Any] = {}
        compiled = [part.to_mongo() for part in self.parts]
        for document in compiled:
            if merged.keys() & document.keys():
                return {"$and": [document for document in compiled if document]}
            merged.update(document)
        return merged

    def matches(self, get: Get) -> bool:
        # A loop, not all(generator): read models evaluate this per row, and it is faster.
        for part in self.parts:  # noqa: SIM110
            if not part.matches(get):
                return False
        return True


@dataclass(frozen=True)
class Or(Filter):
    parts: tuple[Filter, ...]

    def __init__(self, *parts: Filter) -> None:
        if not parts:
            raise ValueError("Or needs at least one part")  # MongoDB refuses `$or: []`
        object.__setattr__(self, "parts", parts)

    def to_mongo(self) -> dict[str, Any]:
        return {"$or": [part.to_mongo() for part in self.parts]}

    def matches(self, get: Get) -> bool:
        return any(part.matches(get) for part in self.parts)


ALL: Filter = And()
