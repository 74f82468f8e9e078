"""Turns a client operation into a query plan over the subgraphs.

`Planner.plan` plans each branch of the operation's `@skip`/`@include` conditions: it gives
each root field a fetch group, walks the selection below it (`planning.fields`), and assembles
the fetch groups into plan nodes (`planning.assembly`). The parts live in `crm_gateway.planning`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionNode,
    VariableDefinitionNode,
    VariableNode,
)

from crm_gateway.plan import ConditionNode, PlanNode, QueryPlan, iter_fetches
from crm_gateway.planning.abstract import conflict_alias
from crm_gateway.planning.assembly import (
    attach_variable_definitions,
    build_nodes,
    check_variables_declared,
)
from crm_gateway.planning.collect import sub_selections
from crm_gateway.planning.errors import PlanningError
from crm_gateway.planning.fields import OperationPlanner
from crm_gateway.planning.groups import Group, Position
from crm_gateway.supergraph import Supergraph

__all__ = [
    "INTROSPECTION_ROOT_FIELDS",
    "MAX_CONDITION_BRANCHES",
    "Planner",
    "PlanningError",
    "conflict_alias",
]

INTROSPECTION_ROOT_FIELDS = frozenset({"__schema", "__type"})
MAX_CONDITION_BRANCHES = 3  # beyond 2**3 plans per document, plan per variable values instead

Fragments = Mapping[str, FragmentDefinitionNode]
VariableDefinitions = Mapping[str, VariableDefinitionNode]


class Planner:
    """Plans operations against one supergraph; stateless between calls."""

    def __init__(self, supergraph: Supergraph) -> None:
        self.sg = supergraph

    @staticmethod
    def condition_variables(operation: OperationDefinitionNode, fragments: Fragments) -> list[str]:
        """Variables that decide `@skip`/`@include` anywhere in the operation."""
        names: list[str] = []
        seen_frags: set[str] = set()

        def walk(selections: Sequence[SelectionNode]) -> None:
            for s in selections:
                for d in s.directives or ():
                    if d.name.value not in ("skip", "include"):
                        continue
                    for a in d.arguments or ():
                        if isinstance(a.value, VariableNode) and a.value.name.value not in names:
                            names.append(a.value.name.value)
                if isinstance(s, FragmentSpreadNode):
                    if s.name.value in seen_frags or s.name.value not in fragments:
                        continue
                    seen_frags.add(s.name.value)
                    walk(fragments[s.name.value].selection_set.selections)
                elif isinstance(s, (FieldNode, InlineFragmentNode)) and s.selection_set:
                    walk(s.selection_set.selections)

        walk(operation.selection_set.selections)
        return names

    def plan(
        self,
        document: DocumentNode,
        operation: OperationDefinitionNode,
        condition_values: dict[str, bool] | None = None,
    ) -> QueryPlan:
        """Plans `operation`; a Condition tree covers `@skip`/`@include` variables.

        With `condition_values` given, those variables are fixed instead (used when an
        operation has too many condition variables for a tree).
        """
        fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        var_defs = {v.variable.name.value: v for v in operation.variable_definitions or ()}
        if condition_values is not None:
            return QueryPlan(self._plan_branch(operation, fragments, var_defs, condition_values))
        names = self.condition_variables(operation, fragments)
        if len(names) > MAX_CONDITION_BRANCHES:
            raise PlanningError("too many condition variables for one plan")
        return QueryPlan(self._tree(operation, fragments, var_defs, names, {}))

    def _tree(
        self,
        operation: OperationDefinitionNode,
        fragments: Fragments,
        var_defs: VariableDefinitions,
        names: list[str],
        fixed: dict[str, bool],
    ) -> PlanNode | None:
        if not names:
            return self._plan_branch(operation, fragments, var_defs, fixed)
        first, rest = names[0], names[1:]
        yes = self._tree(operation, fragments, var_defs, rest, {**fixed, first: True})
        no = self._tree(operation, fragments, var_defs, rest, {**fixed, first: False})
        if _same(yes, no):
            return yes
        return ConditionNode(first, yes, no)

    def _plan_branch(
        self,
        operation: OperationDefinitionNode,
        fragments: Fragments,
        var_defs: VariableDefinitions,
        conditions: Mapping[str, bool],
    ) -> PlanNode | None:
        op = OperationPlanner(self.sg, fragments, conditions)
        kind = operation.operation.value
        root = self.sg.root_types.get(kind)
        if root is None or root not in self.sg.types:
            raise PlanningError(f"the supergraph has no {kind} type")
        _RootFields(self.sg, op, kind, root).plan(operation.selection_set.selections)
        check_variables_declared(op.groups.all, var_defs)
        node = build_nodes(self.sg, op.groups.all, kind)
        attach_variable_definitions(iter_fetches(node), var_defs)
        return node


class _RootFields:
    """Gives each root field a fetch group, then walks the selection below it."""

    def __init__(self, sg: Supergraph, op: OperationPlanner, kind: str, root: str) -> None:
        self.sg = sg
        self.op = op
        self.kind = kind
        self.root = root
        self.by_graph: dict[str, Group] = {}
        self.step = 0
        self.last: Group | None = None

    def plan(self, selections: Sequence[SelectionNode]) -> None:
        for key, nodes in self.op.collector.collect(selections, self.root).items():
            fname = nodes[0].name.value
            if fname in INTROSPECTION_ROOT_FIELDS or fname == "__typename":
                continue  # answered by the gateway itself
            graphs = self.sg.field_graphs(self.root, fname)
            if not graphs:
                raise PlanningError(f"no subgraph resolves {self.root}.{fname}")
            subs = sub_selections(nodes)
            ftype = self.sg.types[self.root].fields[fname].named_type
            costs = {g: (self.op.cost.cost(g, ftype, subs, None) if subs else 0.0) for g in graphs}
            g = self._mutation_group(graphs, costs) if self.kind == "mutation" else None
            if g is None:
                g = self._query_group(graphs, costs)
            self.op.plan_field(Position(g, (), g.sel), self.root, key, nodes, None)

    def _mutation_group(self, graphs: list[str], costs: dict[str, float]) -> Group:
        """Root mutation fields run in order: consecutive fields on one subgraph share a
        fetch, anything else starts a new sequential step."""
        best = min(costs.values())
        if self.last is None or costs.get(self.last.graph) != best:
            chosen = next(gr for gr in graphs if costs[gr] == best)
            self.step += 1
            self.last = self.op.groups.new(chosen, self.step, self.kind)
        return self.last

    def _query_group(self, graphs: list[str], costs: dict[str, float]) -> Group:
        """Root query fields run together: one fetch per subgraph, the cheapest subgraph for
        each field, preferring one already asked."""
        best = min(costs.values())
        chosen = next((gr for gr in graphs if gr in self.by_graph and costs[gr] == best), None)
        if chosen is None:
            chosen = next(gr for gr in graphs if costs[gr] == best)
        g = self.by_graph.get(chosen) or self.op.groups.new(chosen, 0, self.kind)
        self.by_graph[chosen] = g
        return g


def _same(a: PlanNode | None, b: PlanNode | None) -> bool:
    if a is None or b is None:
        return a is b
    return a.to_json() == b.to_json()
