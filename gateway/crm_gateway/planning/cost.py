"""A cost estimate, used to choose among subgraphs that can all serve a field's subtree.

The unit is roughly "one entity hop": a field resolved where we are costs nothing, a field
that needs a jump costs the jump plus what its subtree costs over there.
"""

from __future__ import annotations

from collections.abc import Sequence

from graphql import FieldNode, SelectionNode

from crm_gateway.planning.collect import FieldCollector, sub_selections
from crm_gateway.planning.sources import Provided, ProvidedSelections, Sources
from crm_gateway.supergraph import INTERFACE, UNION, Supergraph

INF = float("inf")
MAX_DEPTH = 40  # deeper than any sane schema: treat as unreachable rather than recurse on
UNKNOWN_JUMP = 3.0  # maybe reachable through an ancestor entity; planning decides
REQUIRES_PENALTY = 0.5  # a `@requires` field needs its inputs fetched first


class CostModel:
    def __init__(self, sg: Supergraph, collector: FieldCollector, sources: Sources) -> None:
        self.sg = sg
        self.collector = collector
        self.sources = sources
        self._memo: dict[tuple[str, str, tuple[int, ...], int], float] = {}

    def cost(
        self,
        graph: str,
        type_name: str,
        selections: Sequence[SelectionNode],
        provided: ProvidedSelections,
        depth: int = 0,
    ) -> float:
        memo_key = (graph, type_name, tuple(map(id, selections)), id(provided))
        hit = self._memo.get(memo_key)
        if hit is not None:
            return hit
        if depth > MAX_DEPTH:
            return INF
        t = self.sg.types[type_name]
        if t.kind in (INTERFACE, UNION) and not self.sg.is_interface_object(type_name, graph):
            total = 0.0
            for o in self.sg.possible_types(type_name, graph):
                total = max(total, self.cost(graph, o, selections, provided, depth + 1))
        else:
            total = self._object_cost(graph, type_name, selections, provided, depth)
        self._memo[memo_key] = total
        return total

    def _object_cost(
        self,
        graph: str,
        type_name: str,
        selections: Sequence[SelectionNode],
        provided: ProvidedSelections,
        depth: int,
    ) -> float:
        t = self.sg.types[type_name]
        prov = self.sources.provided_for(provided, type_name)
        total = 0.0
        jumps: set[str] = set()
        for nodes in self.collector.collect(selections, type_name).values():
            fname = nodes[0].name.value
            if fname == "__typename" or fname not in t.fields:
                continue
            subs = sub_selections(nodes)
            if self.sources.local(graph, type_name, fname, prov):
                if subs:
                    cp = self.sources.child_provided(graph, type_name, fname, prov)
                    total += self.cost(graph, t.fields[fname].named_type, subs, cp, depth + 1)
                continue
            best, best_graph = self._jump_cost(graph, type_name, nodes, subs, depth)
            total += best
            jumps.add(best_graph)
        return total + len(jumps)

    def _jump_cost(
        self,
        graph: str,
        type_name: str,
        nodes: list[FieldNode],
        subs: list[SelectionNode],
        depth: int,
    ) -> tuple[float, str]:
        """The cheapest other subgraph for a field `graph` cannot resolve, and its cost."""
        fname = nodes[0].name.value
        named = self.sg.types[type_name].fields[fname].named_type
        best = INF
        best_graph = ""
        for g, repr_type in self.sources.sources(type_name, fname):
            if self.sources.entity_key(g, repr_type, graph, type_name) is None:
                continue
            c = self.cost(g, named, subs, None, depth + 1) if subs else 0.0
            fig = self.sg.field_in_graph(repr_type, fname, g)
            if fig is not None and fig.requires:
                c += REQUIRES_PENALTY
            if c < best:
                best, best_graph = c, g
        if best == INF:
            best = UNKNOWN_JUMP
        return best, best_graph

    def best_source(
        self,
        graph: str,
        type_name: str,
        fname: str,
        subs: Sequence[SelectionNode],
        exclude: str | None,
        indirect: bool = True,
        provided: Provided = None,
    ) -> tuple[str, str, float] | None:
        """(subgraph, entity type, cost) of the cheapest jump for `type.fname` from `graph`."""
        named = self.sg.types[type_name].fields[fname].named_type
        best: tuple[str, str, float] | None = None
        for g, repr_type in self.sources.sources(type_name, fname):
            if g == exclude:
                continue
            if g == graph and repr_type == type_name:
                # Jumping to ourselves only makes sense to satisfy a `@requires`.
                fig = self.sg.field_in_graph(type_name, fname, g)
                if fig is None or not fig.requires:
                    continue
            if self.sources.entity_key(g, repr_type, graph, type_name, indirect, provided) is None:
                continue
            c = self.cost(g, named, subs, None) if subs else 0.0
            if best is None or c < best[2]:
                best = (g, repr_type, c)
        return best
