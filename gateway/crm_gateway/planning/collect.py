"""Field collection: which of the client's fields apply to an object of a given type."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from graphql import (
    BooleanValueNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    SelectionNode,
    VariableNode,
)

from crm_gateway.supergraph import Supergraph

# Response key -> the field nodes selected under it (several when fragments repeat a field).
FieldsByKey = dict[str, list[FieldNode]]


class FieldCollector:
    """Collects fields for one operation under fixed `@skip`/`@include` condition values."""

    def __init__(
        self,
        sg: Supergraph,
        fragments: Mapping[str, FragmentDefinitionNode],
        conditions: Mapping[str, bool],
    ) -> None:
        self.sg = sg
        self.fragments = fragments
        self.conditions = conditions

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

    def applies(self, type_condition: str | None, type_name: str) -> bool:
        if type_condition is None or type_condition == type_name:
            return True
        if type_condition not in self.sg.types:
            return False
        cond = self.sg.possible_types(type_condition)
        if self.sg.is_abstract(type_name):
            # Selecting on an abstract type: a fragment applies when it covers every
            # possible type (e.g. `... on Node` inside a `Product` interface selection).
            return set(self.sg.possible_types(type_name)) <= set(cond)
        return type_name in cond

    def collect(self, selections: Sequence[SelectionNode], type_name: str) -> FieldsByKey:
        out: FieldsByKey = {}
        self._collect(selections, type_name, out)
        return out

    def _collect(
        self, selections: Sequence[SelectionNode], type_name: str, out: FieldsByKey
    ) -> None:
        for s in selections:
            if not self.included(s):
                continue
            if isinstance(s, FieldNode):
                key = s.alias.value if s.alias else s.name.value
                out.setdefault(key, []).append(s)
            elif isinstance(s, InlineFragmentNode):
                tc = s.type_condition.name.value if s.type_condition else None
                if self.applies(tc, type_name):
                    self._collect(s.selection_set.selections, type_name, out)
            elif isinstance(s, FragmentSpreadNode):
                frag = self.fragments.get(s.name.value)
                if frag and self.applies(frag.type_condition.name.value, type_name):
                    self._collect(frag.selection_set.selections, type_name, out)

    def fragment_conditions(self, selections: Sequence[SelectionNode]) -> set[str]:
        """Type conditions used at this level (through nested fragments too)."""
        out: set[str] = set()
        for s in selections:
            if not self.included(s):
                continue
            if isinstance(s, InlineFragmentNode):
                if s.type_condition:
                    out.add(s.type_condition.name.value)
                out |= self.fragment_conditions(s.selection_set.selections)
            elif isinstance(s, FragmentSpreadNode):
                frag = self.fragments.get(s.name.value)
                if frag:
                    out.add(frag.type_condition.name.value)
                    out |= self.fragment_conditions(frag.selection_set.selections)
        return out

    def type_condition(self, s: SelectionNode) -> str | None:
        """The type condition of a fragment (inline or spread); None for fields."""
        if isinstance(s, InlineFragmentNode):
            return s.type_condition.name.value if s.type_condition else None
        if isinstance(s, FragmentSpreadNode):
            frag = self.fragments.get(s.name.value)
            return frag.type_condition.name.value if frag else None
        return None


def sub_selections(nodes: Sequence[FieldNode]) -> list[SelectionNode]:
    """The merged sub-selections of the field nodes under one response key."""
    out: list[SelectionNode] = []
    for n in nodes:
        if n.selection_set:
            out.extend(n.selection_set.selections)
    return out
