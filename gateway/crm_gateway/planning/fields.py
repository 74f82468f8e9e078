"""The walk over the client selection: each field stays in the current fetch or jumps.

A field the current subgraph resolves stays in that fetch (unless its subtree is cheaper
elsewhere); otherwise the walk jumps: it makes sure the entity's key (and any `@requires`
inputs) is fetched where it is, and opens (or reuses) an `_entities` fetch to the subgraph
that owns the field.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from graphql import FieldNode, FragmentDefinitionNode, SelectionNode, print_ast

from crm_gateway.planning.abstract import AbstractTypes
from crm_gateway.planning.ancestors import Ancestors
from crm_gateway.planning.collect import FieldCollector, sub_selections
from crm_gateway.planning.cost import CostModel
from crm_gateway.planning.errors import PlanningError
from crm_gateway.planning.groups import FetchGroups, Frame, Position, extend_path
from crm_gateway.planning.jumps import EntityJumps
from crm_gateway.planning.sources import Provided, ProvidedSelections, Sources
from crm_gateway.selection import SelTree, arg_variables, print_args
from crm_gateway.supergraph import INTERFACE, UNION, FieldDef, Supergraph


class OperationPlanner:
    """State for planning one operation under one set of condition values."""

    def __init__(
        self,
        sg: Supergraph,
        fragments: Mapping[str, FragmentDefinitionNode],
        conditions: Mapping[str, bool],
    ) -> None:
        self.sg = sg
        self.collector = FieldCollector(sg, fragments, conditions)
        self.sources = Sources(sg, self.collector)
        self.cost = CostModel(sg, self.collector, self.sources)
        self.groups = FetchGroups()
        self.jumps = EntityJumps(sg, self.sources, self.cost, self.groups)
        self.abstract = AbstractTypes(self)
        self.ancestors = Ancestors(self)

    def plan_selection(
        self,
        at: Position,
        type_name: str,
        selections: Sequence[SelectionNode],
        provided: ProvidedSelections,
    ) -> None:
        if self.sg.types[type_name].kind in (INTERFACE, UNION):
            self.abstract.plan(at, type_name, selections, provided)
            return
        prov = self.sources.provided_for(provided, type_name)
        for key, nodes in self.collector.collect(selections, type_name).items():
            self.plan_field(at, type_name, key, nodes, prov)

    def plan_field(
        self,
        at: Position,
        type_name: str,
        key: str,
        nodes: list[FieldNode],
        provided: Provided,
    ) -> None:
        fname = nodes[0].name.value
        if fname == "__typename":
            at.target.add_field(key, "__typename")
            return
        fdef = self.sg.types[type_name].fields.get(fname)
        if fdef is None:
            raise PlanningError(f"unknown field {type_name}.{fname}")
        subs = sub_selections(nodes)
        graph = at.group.graph
        if self.sources.local(graph, type_name, fname, provided) and self._stays(
            graph, type_name, fdef, subs, provided
        ):
            self._place(at, type_name, type_name, key, nodes[0], fdef, subs, provided)
            return
        best = self.cost.best_source(graph, type_name, fname, subs, None, True, provided)
        if best is None:
            if self.ancestors.plan_via_ancestor(type_name, key, nodes, at.chain):
                return
            raise PlanningError(f"no subgraph can resolve {type_name}.{fname} from {graph}")
        src_graph, repr_type, _ = best
        there = self.jumps.jump(at, type_name, src_graph, repr_type, fname, provided)
        self._place(there, type_name, repr_type, key, nodes[0], fdef, subs, None)

    def _stays(
        self,
        graph: str,
        type_name: str,
        fdef: FieldDef,
        subs: Sequence[SelectionNode],
        provided: Provided,
    ) -> bool:
        """A local field stays here unless its subtree is clearly cheaper elsewhere."""
        if not self.sg.is_composite(fdef.named_type):
            return True
        stay = self.cost.cost(graph, fdef.named_type, subs, None)
        if stay <= 0:  # only a subtree that needs jumps may be cheaper elsewhere
            return True
        alt = self.cost.best_source(graph, type_name, fdef.name, subs, graph, True, provided)
        return alt is None or stay <= alt[2] + 1

    def _place(
        self,
        at: Position,
        type_name: str,
        src_type: str,
        key: str,
        node: FieldNode,
        fdef: FieldDef,
        subs: Sequence[SelectionNode],
        provided: Provided,
    ) -> None:
        """Adds the field at `at` and plans its subtree in the same fetch.

        `src_type` is the type the subgraph is asked about: the field's own type, or the
        interface when the field comes from an `@interfaceObject`.
        """
        args_text = print_args(node.arguments)
        variables = arg_variables(node.arguments)
        composite = self.sg.is_composite(fdef.named_type)
        fs = at.target.add_field(key, fdef.name, args_text, variables, composite)
        if fs is None:
            raise PlanningError(f"conflicting selections for {key}")
        if fs.sub is None:
            return
        graph = at.group.graph
        cp = self.sources.child_provided(graph, src_type, fdef.name, provided)
        frame = Frame(at.group, type_name, at.path, at.target, key, fdef.name, args_text, variables)
        sub_type = self.subgraph_named_type(graph, src_type, fdef.name, fs.sub)
        child_path = extend_path(at.path, key, fdef.type_node)
        child = Position(at.group, child_path, fs.sub, (*at.chain, frame))
        self.plan_selection(child, sub_type, subs, cp)

    def subgraph_named_type(self, graph: str, type_name: str, fname: str, target: SelTree) -> str:
        """The field's type as this subgraph declares it (join__field `type:`).

        A subgraph may return `Book` where the supergraph says `Media`: plan for `Book`, but
        keep `__typename` so the gateway still resolves the supergraph's abstract type.
        """
        fdef = self.sg.types[type_name].fields[fname]
        named = fdef.named_type
        fig = self.sg.field_in_graph(type_name, fname, graph)
        if fig is not None and fig.type:
            own = fig.type.replace("[", "").replace("]", "").replace("!", "").strip()
            if own in self.sg.types and own != named:
                named = own
        if self.sg.is_abstract(fdef.named_type):
            target.add_typename()
        return named

    def subgraph_type(self, graph: str, type_name: str, fname: str) -> str | None:
        """The printed type of `type.fname` in `graph`'s own schema."""
        fdef = self.sg.types[type_name].fields.get(fname)
        if fdef is None:
            return None
        fig = self.sg.field_in_graph(type_name, fname, graph)
        if fig is not None and fig.type:
            return fig.type
        return print_ast(fdef.type_node)
