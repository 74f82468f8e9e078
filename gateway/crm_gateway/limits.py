"""Request limits, checked before any subgraph is called.

Depth, aliases and root fields depend only on the document and are checked once when the
document enters the cache; the estimated cost can depend on variables (`first: $n`), so it
is computed per request (a walk over an already-validated document, cheap).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionNode,
    VariableNode,
    get_named_type,
)
from graphql.type import is_composite_type


@dataclass(frozen=True)
class Limits:
    max_document_bytes: int = 64_000
    max_depth: int = 15
    max_aliases: int = 30
    max_root_fields: int = 20
    max_cost: int = 50_000
    default_list_size: int = 10  # assumed length of a list without a size argument

    @classmethod
    def unlimited(cls) -> Limits:
        big = 1 << 30
        return cls(big, big, big, big, big, 10)


class LimitExceeded(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


_SIZE_ARGS = ("first", "last", "limit", "pageSize", "take")


class DocumentShape:
    """Walks one operation (fragments inlined) for depth, aliases and root field count."""

    def __init__(self, fragments: dict[str, FragmentDefinitionNode]) -> None:
        self.fragments = fragments

    def measure(self, op: OperationDefinitionNode) -> tuple[int, int, int]:
        roots = self._fields(op.selection_set.selections, set())
        depth, aliases = self._walk(op.selection_set.selections, 0, set())
        return depth, aliases, len(roots)

    def _fields(self, selections, seen: set[str]) -> list[FieldNode]:
        out: list[FieldNode] = []
        for s in selections:
            if isinstance(s, FieldNode):
                out.append(s)
            elif isinstance(s, InlineFragmentNode):
                out.extend(self._fields(s.selection_set.selections, seen))
            elif isinstance(s, FragmentSpreadNode):
                frag = self.fragments.get(s.name.value)
                if frag and s.name.value not in seen:
                    out.extend(self._fields(frag.selection_set.selections, seen | {s.name.value}))
        return out

    def _walk(self, selections, depth: int, seen: set[str]) -> tuple[int, int]:
        max_depth = depth
        aliases = 0
        for f in self._fields(selections, seen):
            if f.alias is not None:
                aliases += 1
            if f.selection_set:
                d, a = self._walk(f.selection_set.selections, depth + 1, seen)
                max_depth = max(max_depth, d)
                aliases += a
            else:
                max_depth = max(max_depth, depth + 1)
        return max_depth, aliases


def check_shape(
    limits: Limits, op: OperationDefinitionNode, fragments: dict[str, FragmentDefinitionNode]
) -> None:
    depth, aliases, roots = DocumentShape(fragments).measure(op)
    if depth > limits.max_depth:
        raise LimitExceeded(
            "MAX_DEPTH_EXCEEDED", f"Query depth {depth} exceeds the limit of {limits.max_depth}."
        )
    if aliases > limits.max_aliases:
        raise LimitExceeded(
            "MAX_ALIASES_EXCEEDED",
            f"Query uses {aliases} aliases; the limit is {limits.max_aliases}.",
        )
    if roots > limits.max_root_fields:
        raise LimitExceeded(
            "MAX_ROOT_FIELDS_EXCEEDED",
            f"Query selects {roots} root fields; the limit is {limits.max_root_fields}.",
        )


def estimate_cost(
    schema: GraphQLSchema,
    root: GraphQLObjectType,
    op: OperationDefinitionNode,
    fragments: dict[str, FragmentDefinitionNode],
    variables: dict[str, Any],
    default_list_size: int,
) -> int:
    """Objects the query may touch: each composite field costs 1 times its list sizes."""

    def size_of(f: FieldNode) -> int | None:
        for a in f.arguments or ():
            if a.name.value in _SIZE_ARGS:
                v = a.value
                if isinstance(v, IntValueNode):
                    return int(v.value)
                if isinstance(v, VariableNode) and isinstance(variables.get(v.name.value), int):
                    return int(variables[v.name.value])
        return None

    def walk(parent: Any, selections: list[SelectionNode], seen: frozenset[str]) -> int:
        total = 0
        for s in selections:
            if isinstance(s, FieldNode):
                fields = getattr(parent, "fields", {})
                fdef = fields.get(s.name.value)
                if fdef is None or not s.selection_set:
                    continue
                t = fdef.type
                mult = 1
                while isinstance(t, (GraphQLNonNull, GraphQLList)):
                    if isinstance(t, GraphQLList):
                        size = size_of(s)
                        mult *= size if size is not None else default_list_size
                    t = t.of_type
                named = get_named_type(t)
                if not is_composite_type(named):
                    continue
                inner = walk(named, list(s.selection_set.selections), seen)
                total += mult * (1 + inner)
            elif isinstance(s, InlineFragmentNode):
                tc = schema.get_type(s.type_condition.name.value) if s.type_condition else parent
                total += walk(tc or parent, list(s.selection_set.selections), seen)
            elif isinstance(s, FragmentSpreadNode):
                frag = fragments.get(s.name.value)
                if frag and s.name.value not in seen:
                    tc = schema.get_type(frag.type_condition.name.value) or parent
                    total += walk(tc, list(frag.selection_set.selections), seen | {s.name.value})
        return total

    return walk(root, list(op.selection_set.selections), frozenset())
