"""GraphQL field collection, shared by planning (over the supergraph) and shaping (over the
API schema): which fields of a selection apply to an object, after fragments and
`@skip`/`@include`. Each fragment spread is collected once per object, as the spec's
CollectFields does."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Generic, TypeVar

from graphql import (
    BooleanValueNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    SelectionNode,
    VariableNode,
)

# Response key -> the field nodes selected under it (several when fragments repeat a field).
FieldsByKey = dict[str, list[FieldNode]]

T = TypeVar("T")  # how the subclass names the type fields are collected for


class FieldCollection(Generic[T]):
    """Collects fields under fixed `@skip`/`@include` condition values."""

    def __init__(
        self, fragments: Mapping[str, FragmentDefinitionNode], conditions: Mapping[str, bool]
    ) -> None:
        self.fragments = fragments
        self.conditions = conditions

    def applies(self, type_condition: str | None, on: T) -> bool:
        """Whether a fragment with this type condition applies to an object of `on`."""
        raise NotImplementedError

    def collect(self, selections: Sequence[SelectionNode], on: T) -> FieldsByKey:
        out: FieldsByKey = {}
        self._collect(selections, on, out, set())
        return out

    def _collect(
        self, selections: Sequence[SelectionNode], on: T, out: FieldsByKey, seen: set[str]
    ) -> None:
        for s in selections:
            if not self.included(s):
                continue
            if isinstance(s, FieldNode):
                out.setdefault(s.alias.value if s.alias else s.name.value, []).append(s)
            elif isinstance(s, InlineFragmentNode):
                tc = s.type_condition.name.value if s.type_condition else None
                if self.applies(tc, on):
                    self._collect(s.selection_set.selections, on, out, seen)
            elif isinstance(s, FragmentSpreadNode):
                frag = self.fragments.get(s.name.value)
                if frag is None or s.name.value in seen:
                    continue
                if self.applies(frag.type_condition.name.value, on):
                    seen.add(s.name.value)
                    self._collect(frag.selection_set.selections, on, out, seen)

    def included(self, node: SelectionNode) -> bool:
        for d in node.directives or ():
            name = d.name.value
            if name not in ("skip", "include"):
                continue
            arg = next((a for a in d.arguments or () if a.name.value == "if"), None)
            if arg is None:
                continue
            v = arg.value
            if isinstance(v, BooleanValueNode):
                val = v.value
            elif isinstance(v, VariableNode):
                val = bool(self.conditions.get(v.name.value, False))
            else:
                val = False
            if (name == "skip" and val) or (name == "include" and not val):
                return False
        return True
