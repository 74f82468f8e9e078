"""Where a field can come from: local fields, `@provides`, and entity keys between subgraphs."""

from __future__ import annotations

from collections.abc import Sequence

from graphql import FieldNode, InlineFragmentNode, SelectionNode

from crm_gateway.planning.collect import FieldCollector, FieldsByKey
from crm_gateway.selection import parse_field_set
from crm_gateway.supergraph import Supergraph

# What a parent's `@provides` makes local on the current object: by field name, the field
# nodes of the provides selection (None: nothing is provided here).
Provided = FieldsByKey | None
# The raw `@provides` selection handed down to a child object.
ProvidedSelections = tuple[SelectionNode, ...] | None


class Sources:
    """Answers "can this subgraph resolve that field here, and how do we get there"."""

    def __init__(self, sg: Supergraph, collector: FieldCollector) -> None:
        self.sg = sg
        self.collector = collector

    def local(self, graph: str, type_name: str, fname: str, provided: Provided) -> bool:
        """Whether `graph` resolves `type.fname` in place (no `@requires` to satisfy)."""
        if provided is not None and fname in provided:
            return True
        fig = self.sg.field_in_graph(type_name, fname, graph)
        return fig is not None and fig.resolvable and not fig.requires

    def provided_for(self, provided: ProvidedSelections, type_name: str) -> Provided:
        """Fields a parent's `@provides` makes available on this object."""
        if provided is None:
            return None
        out: FieldsByKey = {}
        for s in provided:
            if isinstance(s, FieldNode):
                out.setdefault(s.name.value, []).append(s)
            elif isinstance(s, InlineFragmentNode):
                tc = s.type_condition.name.value if s.type_condition else None
                if self.collector.applies(tc, type_name):
                    sub = self.provided_for(tuple(s.selection_set.selections), type_name)
                    for k, v in (sub or {}).items():
                        out.setdefault(k, []).extend(v)
        return out

    def child_provided(
        self, graph: str, type_name: str, fname: str, provided: Provided
    ) -> ProvidedSelections:
        """What `graph` provides below `type.fname`: its own `@provides` or the parent's."""
        fig = self.sg.field_in_graph(type_name, fname, graph)
        if fig is not None and fig.provides:
            return parse_field_set(fig.provides)
        if provided is not None and fname in provided:
            subs = [
                s for n in provided[fname] if n.selection_set for s in n.selection_set.selections
            ]
            return tuple(subs) if subs else None
        return None

    def sources(self, type_name: str, fname: str) -> list[tuple[str, str]]:
        """(subgraph, entity type to ask it for) pairs able to resolve `type.field`."""
        out = [(g, type_name) for g in self.sg.field_graphs(type_name, fname)]
        t = self.sg.types[type_name]
        # Fields an @interfaceObject adds reach concrete types only through the interface.
        for iface in t.interfaces:
            it = self.sg.types.get(iface)
            if it is None or fname not in it.fields:
                continue
            for g in self.sg.field_graphs(iface, fname):
                if self.sg.is_interface_object(iface, g) and (g, type_name) not in out:
                    out.append((g, iface))
        return out

    def entity_key(
        self,
        graph: str,
        repr_type: str,
        from_graph: str,
        type_name: str,
        indirect: bool = True,
        provided: Provided = None,
    ) -> str | None:
        """A resolvable key of `repr_type` in `graph` that `from_graph` can supply.

        With `indirect`, a key may also use fields that a third subgraph adds first (one hop,
        through a key `from_graph` has), which keeps key acquisition finite.
        """
        keys = [k for k in self.sg.keys(repr_type, graph) if k.resolvable]
        for k in keys:
            if self.field_set_local(from_graph, type_name, parse_field_set(k.fields), provided):
                return k.fields
        if not indirect:
            return None
        for k in keys:
            if self._reachable_in_one_hop(graph, from_graph, type_name, k.fields, provided):
                return k.fields
        return None

    def _reachable_in_one_hop(
        self, graph: str, from_graph: str, type_name: str, key_fields: str, provided: Provided
    ) -> bool:
        """Each key field is local to `from_graph` or one direct entity hop away."""
        for s in parse_field_set(key_fields):
            if not isinstance(s, FieldNode) or s.name.value == "__typename":
                continue
            name = s.name.value
            if self.local(from_graph, type_name, name, provided):
                continue
            if not any(
                g2 != graph and self.entity_key(g2, r2, from_graph, type_name, False)
                for g2, r2 in self.sources(type_name, name)
            ):
                return False
        return True

    def field_set_local(
        self,
        graph: str,
        type_name: str,
        selections: Sequence[SelectionNode],
        provided: Provided = None,
    ) -> bool:
        """Whether `graph` can return a whole field set (a key) for an object of the type."""
        for s in selections:
            if isinstance(s, FieldNode):
                name = s.name.value
                if name == "__typename":
                    continue
                if not self.local(graph, type_name, name, provided):
                    return False
                if s.selection_set:
                    ft = self.sg.types[type_name].fields[name].named_type
                    if not self.field_set_local(graph, ft, s.selection_set.selections):
                        return False
            elif isinstance(s, InlineFragmentNode):
                tc = s.type_condition.name.value if s.type_condition else type_name
                if not self.field_set_local(graph, tc, s.selection_set.selections):
                    return False
        return True
