"""The shape of one GraphQL operation (depth, aliases, root fields, fields once fragments are
expanded), measured in time linear in the document's size.

A fragment is walked once and its measures reused at every spread: expanding it at each use
instead is exponential (~20 nested fragments spread twice each make a million fields from a
sub-kilobyte document). Counts are what the expanded operation would hold, so a fragment of
10 aliases spread 3 times counts 30; they saturate at SATURATED rather than grow without end.
Bounding the expanded field count bounds whatever later expands the document (a planner, a
shaper) to that many fields, whichever fragments the document is built from.
Shared by the gateway (before planning) and the subgraphs (defence in depth).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionNode,
)

__all__ = [
    "SATURATED",
    "Shape",
    "ShapeLimits",
    "ShapeRefused",
    "check_shape",
    "enforce",
    "measure",
]

SATURATED = 1 << 40


@dataclass(frozen=True)
class Shape:
    depth: int
    aliases: int
    root_fields: int
    fields: int = 0  # every field selection once fragments are expanded


@dataclass(frozen=True)
class ShapeLimits:
    max_depth: int
    max_aliases: int
    max_root_fields: int
    max_fields: int = SATURATED


class ShapeRefused(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class _Measure:
    depth: int  # levels of fields below (and including) this selection set
    aliases: int
    fields: int  # fields directly at this level, fragments included
    total: int  # fields at this level and below, fragments expanded


_EMPTY = _Measure(0, 0, 0, 0)


def _add(a: int, b: int) -> int:
    return min(a + b, SATURATED)


class _Walker:
    def __init__(self, fragments: Mapping[str, FragmentDefinitionNode]) -> None:
        self.fragments = fragments
        self.memo: dict[str, _Measure] = {}
        self.active: set[str] = set()

    def selections(self, selections: Iterable[SelectionNode]) -> _Measure:
        depth = aliases = fields = total = 0
        for s in selections:
            if isinstance(s, FieldNode):
                fields = _add(fields, 1)
                if s.alias is not None:
                    aliases = _add(aliases, 1)
                below = self.selections(s.selection_set.selections) if s.selection_set else _EMPTY
                depth = max(depth, 1 + below.depth)
                aliases = _add(aliases, below.aliases)
                total = _add(total, _add(1, below.total))
            else:
                inner = self._fragment(s)
                depth = max(depth, inner.depth)
                aliases = _add(aliases, inner.aliases)
                fields = _add(fields, inner.fields)
                total = _add(total, inner.total)
        return _Measure(depth, aliases, fields, total)

    def _fragment(self, s: SelectionNode) -> _Measure:
        if isinstance(s, InlineFragmentNode):
            return self.selections(s.selection_set.selections)
        if not isinstance(s, FragmentSpreadNode):
            return _EMPTY
        name = s.name.value
        known = self.memo.get(name)
        if known is not None:
            return known
        definition = self.fragments.get(name)
        # An unknown or cyclic spread is a validation error reported elsewhere; it adds
        # nothing here rather than recursing for ever.
        if definition is None or name in self.active:
            return _EMPTY
        self.active.add(name)
        measured = self.selections(definition.selection_set.selections)
        self.active.discard(name)
        self.memo[name] = measured
        return measured


def measure(op: OperationDefinitionNode, fragments: Mapping[str, FragmentDefinitionNode]) -> Shape:
    root = _Walker(fragments).selections(op.selection_set.selections)
    return Shape(depth=root.depth, aliases=root.aliases, root_fields=root.fields, fields=root.total)


def enforce(limits: ShapeLimits, shape: Shape) -> None:
    """ShapeRefused naming the first limit `shape` passes."""
    if shape.depth > limits.max_depth:
        raise ShapeRefused(
            "MAX_DEPTH_EXCEEDED",
            f"Query depth {shape.depth} exceeds the limit of {limits.max_depth}.",
        )
    if shape.aliases > limits.max_aliases:
        raise ShapeRefused(
            "MAX_ALIASES_EXCEEDED",
            f"Query uses {shape.aliases} aliases; the limit is {limits.max_aliases}.",
        )
    if shape.root_fields > limits.max_root_fields:
        raise ShapeRefused(
            "MAX_ROOT_FIELDS_EXCEEDED",
            f"Query selects {shape.root_fields} root fields; the limit is "
            f"{limits.max_root_fields}.",
        )
    if shape.fields > limits.max_fields:
        raise ShapeRefused(
            "MAX_FIELDS_EXCEEDED",
            f"Query selects {shape.fields} fields once its fragments are expanded; the limit "
            f"is {limits.max_fields}.",
        )


def check_shape(
    limits: ShapeLimits,
    op: OperationDefinitionNode,
    fragments: Mapping[str, FragmentDefinitionNode],
) -> Shape:
    """The operation's shape, or ShapeRefused naming the first limit it passes."""
    shape = measure(op, fragments)
    enforce(limits, shape)
    return shape
