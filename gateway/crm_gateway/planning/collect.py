"""Field collection: which of the client's fields apply to an object of a given type."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    SelectionNode,
)

from crm_gateway.field_collection import FieldCollection, FieldsByKey
from crm_gateway.supergraph import Supergraph

__all__ = ["FieldCollector", "FieldsByKey", "sub_selections"]


class FieldCollector(FieldCollection[str]):
    """Collects fields over the supergraph's types, by type name."""

    def __init__(
        self,
        sg: Supergraph,
        fragments: Mapping[str, FragmentDefinitionNode],
        conditions: Mapping[str, bool],
    ) -> None:
        super().__init__(fragments, conditions)
        self.sg = sg

    def applies(self, type_condition: str | None, on: str) -> bool:
        if type_condition is None or type_condition == on:
            return True
        if type_condition not in self.sg.types:
            return False
        cond = self.sg.possible_types(type_condition)
        if self.sg.is_abstract(on):
            # Selecting on an abstract type: a fragment applies when it covers every
            # possible type (e.g. `... on Node` inside a `Product` interface selection).
            return set(self.sg.possible_types(on)) <= set(cond)
        return on in cond

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
