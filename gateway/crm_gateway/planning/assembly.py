"""From fetch groups to plan nodes.

Groups form a DAG through their dependencies. Each group gets a level (the longest chain of
dependencies before it); groups of one subgraph at the same level are merged, so a plan makes
one `_entities` call per subgraph per level however many paths and types it touches. Levels
run in sequence, the fetches of one level in parallel.
"""

from __future__ import annotations

from collections.abc import Mapping

from graphql import VariableDefinitionNode, print_ast

from crm_gateway.plan import FetchNode, FlattenNode, ParallelNode, PlanNode, SequenceNode
from crm_gateway.planning.errors import PlanningError
from crm_gateway.planning.groups import Group
from crm_gateway.supergraph import Supergraph


def build_nodes(sg: Supergraph, all_groups: list[Group], kind: str) -> PlanNode | None:
    groups = [g for g in all_groups if not (g.is_entity_fetch and g.sel.is_empty())]
    kept = set(groups)
    for g in groups:
        g.deps = {d for d in g.deps if d in kept and d is not g}
    _assign_levels(groups)
    groups = _merge_levels(groups)
    steps: dict[int, list[Group]] = {}
    for g in groups:
        steps.setdefault(g.step, []).append(g)
    step_nodes: list[PlanNode] = []
    for step in sorted(steps):
        levels: dict[int, list[Group]] = {}
        for g in steps[step]:
            levels.setdefault(g.level, []).append(g)
        for lvl in sorted(levels):
            nodes = [_fetch_node(sg, g, kind) for g in sorted(levels[lvl], key=lambda x: x.id)]
            step_nodes.append(nodes[0] if len(nodes) == 1 else ParallelNode(nodes))
    if not step_nodes:
        return None
    return step_nodes[0] if len(step_nodes) == 1 else SequenceNode(step_nodes)


def _assign_levels(groups: list[Group]) -> None:
    done: dict[int, int] = {}

    def level(g: Group, seen: frozenset[int]) -> int:
        if g.id in done:
            return done[g.id]
        if g.id in seen:
            raise PlanningError("cyclic fetch dependencies")
        lv = 0
        for d in g.deps:
            lv = max(lv, level(d, seen | {g.id}) + 1)
        done[g.id] = lv
        g.level = lv
        return lv

    for g in groups:
        level(g, frozenset())


def _merge_levels(groups: list[Group]) -> list[Group]:
    """One `_entities` call per subgraph per step: merge same-level fetches."""
    out: list[Group] = []
    by_slot: dict[tuple[str, int, int], list[Group]] = {}
    replaced: dict[int, Group] = {}
    for g in sorted(groups, key=lambda x: x.id):
        if not g.is_entity_fetch:
            out.append(g)
            continue
        slot = (g.graph, g.step, g.level)
        into = next((c for c in by_slot.get(slot, []) if _mergeable(c, g)), None)
        if into is None:
            by_slot.setdefault(slot, []).append(g)
            out.append(g)
            continue
        _merge_into(into, g)
        replaced[g.id] = into
    for g in out:
        g.deps = {replaced.get(d.id, d) for d in g.deps} - {g}
    return out


def _mergeable(a: Group, b: Group) -> bool:
    if not a.sel.can_merge(b.sel):
        return False
    for p, by_type in b.inputs.items():
        mine = a.inputs.get(p)
        if not mine:
            continue
        for tn, inp in by_type.items():
            if tn in mine and (
                not mine[tn].requires.can_merge(inp.requires)
                or mine[tn].requires.names_conflict(inp.requires)
            ):
                return False
    return True


def _merge_into(into: Group, g: Group) -> None:
    into.sel.merge(g.sel)
    for p, by_type in g.inputs.items():
        mine = into.inputs.setdefault(p, {})
        for tn, inp in by_type.items():
            if tn in mine:
                mine[tn].requires.merge(inp.requires)
            else:
                mine[tn] = inp
    into.deps |= g.deps


def _fetch_node(sg: Supergraph, g: Group, kind: str) -> PlanNode:
    name = sg.name_of(g.graph)
    variables = tuple(sorted(g.sel.variables()))
    if g.root_kind is not None:
        body = g.sel.print() or "{ __typename }"
        return FetchNode(g.graph, name, body, g.root_kind, variables, None, g.id)
    body = "{ _entities(representations: $representations) " + g.sel.print() + " }"
    inputs = [(p, list(by_type.values())) for p, by_type in g.inputs.items()]
    node = FetchNode(g.graph, name, body, "query", variables, inputs, g.id)
    return FlattenNode([p for p, _ in inputs], node)


def check_variables_declared(
    groups: list[Group], var_defs: Mapping[str, VariableDefinitionNode]
) -> None:
    for g in groups:
        for v in g.sel.variables():
            if v not in var_defs:
                raise PlanningError(f"variable ${v} is not defined")


def attach_variable_definitions(
    fetches: list[FetchNode], var_defs: Mapping[str, VariableDefinitionNode]
) -> None:
    """Turns each fetch body into a full operation with its variable declarations."""
    for f in fetches:
        decls = [_declaration(var_defs[v]) for v in f.variable_names]
        if f.inputs is not None:
            decls.insert(0, "$representations: [_Any!]!")
        head = f.operation_kind if f.inputs is None else "query"
        if decls:
            f.operation = f"{head}({', '.join(decls)}) {f.operation}"
        elif head != "query":
            f.operation = f"{head} {f.operation}"


def _declaration(vd: VariableDefinitionNode) -> str:
    text = f"${vd.variable.name.value}: {print_ast(vd.type)}"
    if vd.default_value:
        text += f" = {print_ast(vd.default_value)}"
    return text
