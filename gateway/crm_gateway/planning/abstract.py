"""Interfaces, unions and `@interfaceObject` in the walk.

An abstract position is planned on the abstract type itself when the current subgraph
resolves every selected field for every possible type; otherwise it is spelled out as one
fragment per possible object type, each field planned (and maybe jumping) per type.
"""

from __future__ import annotations

from collections.abc import Sequence

from graphql import FieldNode, SelectionNode

from crm_gateway.planning.collect import FieldsByKey
from crm_gateway.planning.errors import PlanningError
from crm_gateway.planning.groups import Frame, Position
from crm_gateway.planning.sources import ProvidedSelections
from crm_gateway.planning.walk import FieldWalk
from crm_gateway.supergraph import INTERFACE, UNION


def conflict_alias(key: str, type_name: str) -> str:
    """The subgraph-side alias of a response key renamed to avoid a type conflict."""
    return f"_crm_{key}_{type_name}"


class AbstractTypes:
    def __init__(self, walk: FieldWalk) -> None:
        self.walk = walk
        self.sg = walk.sg
        self.collector = walk.collector
        self.sources = walk.sources

    def plan(
        self,
        at: Position,
        type_name: str,
        selections: Sequence[SelectionNode],
        provided: ProvidedSelections,
    ) -> None:
        graph = at.group.graph
        if self.sg.is_interface_object(type_name, graph):
            self.plan_interface_object(at, type_name, selections, provided)
            return
        at.target.add_typename()  # the gateway needs the runtime type to shape the response
        possible = self._members(at, type_name)
        if not possible or self._on_the_interface(graph, type_name, selections, possible, provided):
            # With no possible type here, the fields can only be asked of the abstract type:
            # planning them fails loudly when no subgraph can serve them from here.
            prov = self.sources.provided_for(provided, type_name)
            for key, nodes in self.collector.collect(selections, type_name).items():
                self.walk.plan_field(at, type_name, key, nodes, prov)
            return
        per_type = [(o, self.collector.collect(selections, o)) for o in possible]
        renamed = self._conflicting_keys(graph, per_type)
        for o, fields in per_type:
            if not fields:
                continue
            fragment_at = at.at_target(at.target.fragment(o))
            oprov = self.sources.provided_for(provided, o)
            for key, nodes in fields.items():
                out_key = conflict_alias(key, o) if (o, key) in renamed else key
                self.walk.plan_field(fragment_at, o, out_key, nodes, oprov)

    def _members(self, at: Position, type_name: str) -> tuple[str, ...]:
        """The object types a value at this position can be, as `group`'s subgraph knows them.

        For a union below a shareable path, any subgraph that can resolve the same path (the
        same shareable root field, or the same fields from an entity whose key it accepts)
        may be the one whose answer the client gets; it answers only with the members it
        knows. So only the members common to all those subgraphs are selected.
        """
        members = self.sg.possible_types(type_name, at.group.graph)
        if self.sg.types[type_name].kind != UNION:
            return members
        for other in self._alternatives(at.group.graph, at.chain):
            theirs = set(self.sg.possible_types(type_name, other))
            members = tuple(m for m in members if m in theirs)
        return members

    def _alternatives(self, graph: str, chain: tuple[Frame, ...]) -> set[str]:
        """Other subgraphs that can resolve the path of `chain` from some ancestor on."""
        out: set[str] = set()
        for depth, frame in enumerate(chain):
            steps = chain[depth:]
            from_root = depth == 0 and frame.group.root_kind == "query"
            for g in self.sg.subgraphs:
                if g == graph or g in out:
                    continue
                if not all(self.sources.local(g, f.type_name, f.field_name, None) for f in steps):
                    continue
                t = frame.type_name
                if from_root or self.sources.entity_key(g, t, frame.group.graph, t) is not None:
                    out.add(g)
        return out

    def _on_the_interface(
        self,
        graph: str,
        type_name: str,
        selections: Sequence[SelectionNode],
        possible: tuple[str, ...],
        provided: ProvidedSelections,
    ) -> bool:
        """Whether the selection can be sent as is, on the interface, to `graph`.

        Only when every fragment covers all the interface's types and `graph` resolves each
        selected field locally, on the interface and on every type it can return.
        """
        if self.sg.types[type_name].kind != INTERFACE:
            return False
        everyone = set(self.sg.possible_types(type_name))
        for c in self.collector.fragment_conditions(selections):
            if c != type_name and not everyone <= set(self.sg.possible_types(c)):
                return False
        prov = self.sources.provided_for(provided, type_name)
        for nodes in self.collector.collect(selections, type_name).values():
            fname = nodes[0].name.value
            if fname == "__typename":
                continue
            if not self.sources.local(graph, type_name, fname, prov):
                return False
            for o in possible:
                if not self.sources.local(graph, o, fname, self.sources.provided_for(provided, o)):
                    return False
        return True

    def _conflicting_keys(
        self, graph: str, per_type: list[tuple[str, FieldsByKey]]
    ) -> set[tuple[str, str]]:
        """(type, key) pairs to alias in the subgraph query.

        Sibling fragments may not give one response key two different types in the
        subgraph's schema (`id: ID!` on one type, `id: ID` on another).
        """
        seen_types: dict[str, str] = {}
        renamed: set[tuple[str, str]] = set()
        for o, fields in per_type:
            for key, nodes in fields.items():
                ftype = self.walk.subgraph_type(graph, o, nodes[0].name.value)
                if ftype is None:
                    continue
                if seen_types.setdefault(key, ftype) != ftype:
                    renamed.add((o, key))
        return renamed

    def plan_interface_object(
        self,
        at: Position,
        type_name: str,
        selections: Sequence[SelectionNode],
        provided: ProvidedSelections,
    ) -> None:
        """In this subgraph the interface is an object: it knows no concrete types.

        Interface-level fields are planned as usual; `__typename` and fragments on concrete
        types go to a subgraph that knows the interface for real.
        """
        prov = self.sources.provided_for(provided, type_name)
        local_sels, concrete = self._split_concrete(type_name, selections)
        for key, nodes in self.collector.collect(local_sels, type_name).items():
            if nodes[0].name.value == "__typename":
                concrete.extend(nodes)
                continue
            self.walk.plan_field(at, type_name, key, nodes, prov)
        if not concrete:
            return
        for g in self.sg.graphs_of_type(type_name):
            if self.sg.is_interface_object(type_name, g):
                continue
            if self.sources.entity_key(g, type_name, at.group.graph, type_name) is None:
                continue
            there = self.walk.jumps.jump(at, type_name, g, type_name, None)
            there.target.add_typename()
            self.plan(there, type_name, concrete, None)
            return
        raise PlanningError(f"no subgraph can resolve the concrete type of {type_name}")

    def _split_concrete(
        self, type_name: str, selections: Sequence[SelectionNode]
    ) -> tuple[list[SelectionNode], list[SelectionNode]]:
        """(selections on the interface, `__typename` and fragments on concrete types)."""
        local_sels: list[SelectionNode] = []
        concrete: list[SelectionNode] = []
        for s in selections:
            if isinstance(s, FieldNode):
                (concrete if s.name.value == "__typename" else local_sels).append(s)
            else:
                tc = self.collector.type_condition(s)
                (local_sels if tc in (None, type_name) else concrete).append(s)
        return local_sels, concrete
