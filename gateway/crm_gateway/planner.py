"""Turns a client operation into a query plan over the subgraphs.

The planner walks the client selection with a "current fetch group" (one subgraph, one
position). A field the current subgraph resolves stays in that fetch; otherwise the planner
jumps: it makes sure the entity's key (and any `@requires` inputs) is fetched where it is,
and opens (or reuses) an `_entities` fetch to the subgraph that owns the field. Fetch groups
form a DAG; groups of one subgraph at the same depth of that DAG are merged, so a plan makes
one `_entities` call per subgraph per step however many paths and types it touches.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from graphql import (
    BooleanValueNode,
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    ListTypeNode,
    NonNullTypeNode,
    OperationDefinitionNode,
    SelectionNode,
    TypeNode,
    VariableNode,
    print_ast,
)

from crm_gateway.plan import (
    ConditionNode,
    EntityInput,
    FetchNode,
    FlattenNode,
    ParallelNode,
    PlanNode,
    QueryPlan,
    SequenceNode,
)
from crm_gateway.selection import SelTree, arg_variables, parse_field_set, print_args
from crm_gateway.supergraph import INTERFACE, OBJECT, UNION, Supergraph

INTROSPECTION_ROOT_FIELDS = frozenset({"__schema", "__type"})
MAX_CONDITION_BRANCHES = 3  # beyond 2**3 plans per document, plan per variable values instead
INF = float("inf")


class PlanningError(Exception):
    """The operation cannot be planned over these subgraphs."""


@dataclass(eq=False)
class Group:
    """One future fetch: a subgraph, the selection to send, and what it waits for."""

    id: int
    graph: str
    step: int
    root_kind: str | None  # "query"/"mutation" for a root fetch, None for `_entities`
    sel: SelTree = field(default_factory=SelTree)
    inputs: dict[tuple[str, ...], dict[str, EntityInput]] = field(default_factory=dict)
    deps: set[Group] = field(default_factory=set)
    level: int = 0


@dataclass(frozen=True, eq=False)
class Frame:
    """An ancestor position: the object of `type_name` at `path`, whose `key` led here."""

    group: Group
    type_name: str
    path: tuple[str, ...]
    target: SelTree
    key: str
    field_name: str
    args_text: str
    variables: frozenset[str]


def conflict_alias(key: str, type_name: str) -> str:
    """The subgraph-side alias of a response key renamed to avoid a type conflict."""
    return f"_crm_{key}_{type_name}"


def _is_list(node: TypeNode) -> bool:
    while isinstance(node, NonNullTypeNode):
        node = node.type
    return isinstance(node, ListTypeNode)


class _OperationPlanner:
    """State for planning one operation under one set of condition values."""

    def __init__(
        self,
        sg: Supergraph,
        fragments: dict[str, FragmentDefinitionNode],
        conditions: dict[str, bool],
    ) -> None:
        self.sg = sg
        self.fragments = fragments
        self.conditions = conditions
        self.groups: list[Group] = []
        self._ids = itertools.count(1)
        self._cost_memo: dict[tuple, float] = {}

    # --- selection helpers -------------------------------------------------------------

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

    def collect(
        self, selections: list[SelectionNode], type_name: str
    ) -> dict[str, list[FieldNode]]:
        out: dict[str, list[FieldNode]] = {}
        self._collect(selections, type_name, out)
        return out

    def _collect(
        self, selections: list[SelectionNode], type_name: str, out: dict[str, list[FieldNode]]
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
                    self._collect(list(s.selection_set.selections), type_name, out)
            elif isinstance(s, FragmentSpreadNode):
                frag = self.fragments.get(s.name.value)
                if frag and self.applies(frag.type_condition.name.value, type_name):
                    self._collect(list(frag.selection_set.selections), type_name, out)

    def fragment_conditions(self, selections: list[SelectionNode]) -> set[str]:
        """Type conditions used at this level (through nested fragments too)."""
        out: set[str] = set()
        for s in selections:
            if not self.included(s):
                continue
            if isinstance(s, InlineFragmentNode):
                if s.type_condition:
                    out.add(s.type_condition.name.value)
                out |= self.fragment_conditions(list(s.selection_set.selections))
            elif isinstance(s, FragmentSpreadNode):
                frag = self.fragments.get(s.name.value)
                if frag:
                    out.add(frag.type_condition.name.value)
                    out |= self.fragment_conditions(list(frag.selection_set.selections))
        return out

    @staticmethod
    def sub_selections(nodes: list[FieldNode]) -> list[SelectionNode]:
        out: list[SelectionNode] = []
        for n in nodes:
            if n.selection_set:
                out.extend(n.selection_set.selections)
        return out

    # --- where a field can come from ---------------------------------------------------

    def local(self, graph: str, type_name: str, fname: str, provided: dict | None) -> bool:
        if provided is not None and fname in provided:
            return True
        fig = self.sg.field_in_graph(type_name, fname, graph)
        return fig is not None and fig.resolvable and not fig.requires

    def provided_for(
        self, provided: tuple[SelectionNode, ...] | None, type_name: str
    ) -> dict[str, list[FieldNode]] | None:
        """Fields a parent's `@provides` makes available on this object."""
        if provided is None:
            return None
        out: dict[str, list[FieldNode]] = {}
        for s in provided:
            if isinstance(s, FieldNode):
                out.setdefault(s.name.value, []).append(s)
            elif isinstance(s, InlineFragmentNode):
                tc = s.type_condition.name.value if s.type_condition else None
                if self.applies(tc, type_name):
                    sub = self.provided_for(tuple(s.selection_set.selections), type_name)
                    for k, v in (sub or {}).items():
                        out.setdefault(k, []).extend(v)
        return out

    def child_provided(
        self,
        graph: str,
        type_name: str,
        fname: str,
        provided: dict[str, list[FieldNode]] | None,
    ) -> tuple[SelectionNode, ...] | None:
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
        provided: dict[str, list[FieldNode]] | None = None,
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
            ok = True
            for s in parse_field_set(k.fields):
                if not isinstance(s, FieldNode) or s.name.value == "__typename":
                    continue
                name = s.name.value
                if self.local(from_graph, type_name, name, provided):
                    continue
                if not any(
                    g2 != graph and self.entity_key(g2, r2, from_graph, type_name, False)
                    for g2, r2 in self.sources(type_name, name)
                ):
                    ok = False
                    break
            if ok:
                return k.fields
        return None

    def field_set_local(
        self,
        graph: str,
        type_name: str,
        selections: tuple[SelectionNode, ...],
        provided: dict[str, list[FieldNode]] | None = None,
    ) -> bool:
        for s in selections:
            if isinstance(s, FieldNode):
                name = s.name.value
                if name == "__typename":
                    continue
                if not self.local(graph, type_name, name, provided):
                    return False
                if s.selection_set:
                    ft = self.sg.types[type_name].fields[name].named_type
                    if not self.field_set_local(graph, ft, tuple(s.selection_set.selections)):
                        return False
            elif isinstance(s, InlineFragmentNode):
                tc = s.type_condition.name.value if s.type_condition else type_name
                if not self.field_set_local(graph, tc, tuple(s.selection_set.selections)):
                    return False
        return True

    # --- cost estimate: used to pick among subgraphs that can all serve a field ----------

    def cost(
        self,
        graph: str,
        type_name: str,
        selections: list[SelectionNode],
        provided: tuple[SelectionNode, ...] | None,
        depth: int = 0,
    ) -> float:
        memo_key = (graph, type_name, tuple(map(id, selections)), id(provided))
        hit = self._cost_memo.get(memo_key)
        if hit is not None:
            return hit
        if depth > 40:
            return INF
        t = self.sg.types[type_name]
        if t.kind in (INTERFACE, UNION) and not self.sg.is_interface_object(type_name, graph):
            total = 0.0
            for o in self.sg.possible_types(type_name, graph):
                total = max(total, self.cost(graph, o, selections, provided, depth + 1))
            self._cost_memo[memo_key] = total
            return total
        prov = self.provided_for(provided, type_name)
        total = 0.0
        jumps: set[str] = set()
        for nodes in self.collect(selections, type_name).values():
            fname = nodes[0].name.value
            if fname == "__typename" or fname not in t.fields:
                continue
            fdef = t.fields[fname]
            subs = self.sub_selections(nodes)
            if self.local(graph, type_name, fname, prov):
                if subs:
                    cp = self.child_provided(graph, type_name, fname, prov)
                    total += self.cost(graph, fdef.named_type, subs, cp, depth + 1)
                continue
            best = INF
            best_graph = ""
            for g, repr_type in self.sources(type_name, fname):
                if self.entity_key(g, repr_type, graph, type_name) is None:
                    continue
                c = self.cost(g, fdef.named_type, subs, None, depth + 1) if subs else 0.0
                if self.sg.field_in_graph(repr_type, fname, g) and (
                    self.sg.field_in_graph(repr_type, fname, g).requires  # type: ignore[union-attr]
                ):
                    c += 0.5
                if c < best:
                    best, best_graph = c, g
            if best == INF:
                best = 3.0  # maybe reachable through an ancestor entity; planning decides
            total += best
            jumps.add(best_graph)
        total += len(jumps)
        self._cost_memo[memo_key] = total
        return total

    # --- groups --------------------------------------------------------------------------

    def new_group(self, graph: str, step: int, root_kind: str | None) -> Group:
        g = Group(next(self._ids), graph, step, root_kind)
        self.groups.append(g)
        return g

    def entity_group(self, graph: str, step: int, deps: set[Group], path: tuple[str, ...]) -> Group:
        fdeps = frozenset(deps)
        for g in self.groups:
            if (
                g.root_kind is None
                and g.graph == graph
                and g.step == step
                and frozenset(g.deps) == fdeps
                and path in g.inputs
            ):
                return g
        g = self.new_group(graph, step, None)
        g.deps = set(deps)
        return g

    # --- the walk ----------------------------------------------------------------------

    def plan_selection(
        self,
        group: Group,
        type_name: str,
        selections: list[SelectionNode],
        path: tuple[str, ...],
        target: SelTree,
        provided: tuple[SelectionNode, ...] | None,
        chain: tuple[Frame, ...] = (),
    ) -> None:
        t = self.sg.types[type_name]
        if t.kind in (INTERFACE, UNION):
            self.plan_abstract(group, type_name, selections, path, target, provided, chain)
            return
        prov = self.provided_for(provided, type_name)
        for key, nodes in self.collect(selections, type_name).items():
            self.plan_field(group, type_name, key, nodes, path, target, prov, chain)

    def plan_abstract(
        self,
        group: Group,
        type_name: str,
        selections: list[SelectionNode],
        path: tuple[str, ...],
        target: SelTree,
        provided: tuple[SelectionNode, ...] | None,
        chain: tuple[Frame, ...] = (),
    ) -> None:
        sg = self.sg
        graph = group.graph
        if sg.is_interface_object(type_name, graph):
            self.plan_interface_object(group, type_name, selections, path, target, provided, chain)
            return
        target.add_typename()  # the gateway needs the runtime type to shape the response
        possible = sg.possible_types(type_name, graph)
        conds = self.fragment_conditions(selections)
        prov = self.provided_for(provided, type_name)
        t = sg.types[type_name]
        simple = t.kind == INTERFACE and all(
            c == type_name or set(sg.possible_types(type_name)) <= set(sg.possible_types(c))
            for c in conds
        )
        if simple:
            fields = self.collect(selections, type_name)
            for nodes in fields.values():
                fname = nodes[0].name.value
                if fname == "__typename":
                    continue
                if not self.local(graph, type_name, fname, prov):
                    simple = False
                    break
                for o in possible:
                    if not self.local(graph, o, fname, self.provided_for(provided, o)):
                        simple = False
                        break
            if simple:
                for key, nodes in fields.items():
                    self.plan_field(group, type_name, key, nodes, path, target, prov, chain)
                return
        per_type = [(o, self.collect(selections, o)) for o in possible]
        # Sibling fragments may not give one response key two different types in the
        # subgraph's schema (`id: ID!` on one type, `id: ID` on another): alias those.
        seen_types: dict[str, str] = {}
        renamed: set[tuple[str, str]] = set()
        for o, fields in per_type:
            for key, nodes in fields.items():
                ftype = self.subgraph_type(graph, o, nodes[0].name.value)
                if ftype is None:
                    continue
                prev = seen_types.setdefault(key, ftype)
                if prev != ftype:
                    renamed.add((o, key))
        for o, fields in per_type:
            if not fields:
                continue
            sub = target.fragment(o)
            oprov = self.provided_for(provided, o)
            for key, nodes in fields.items():
                out_key = conflict_alias(key, o) if (o, key) in renamed else key
                self.plan_field(group, o, out_key, nodes, path, sub, oprov, chain)

    def plan_interface_object(
        self,
        group: Group,
        type_name: str,
        selections: list[SelectionNode],
        path: tuple[str, ...],
        target: SelTree,
        provided: tuple[SelectionNode, ...] | None,
        chain: tuple[Frame, ...] = (),
    ) -> None:
        """In this subgraph the interface is an object: it knows no concrete types.

        Interface-level fields are planned as usual; `__typename` and fragments on concrete
        types go to a subgraph that knows the interface for real.
        """
        prov = self.provided_for(provided, type_name)
        local_sels: list[SelectionNode] = []
        concrete: list[SelectionNode] = []
        for s in selections:
            if isinstance(s, FieldNode):
                (concrete if s.name.value == "__typename" else local_sels).append(s)
            else:
                tc = self._type_condition(s)
                (local_sels if tc in (None, type_name) else concrete).append(s)
        for key, nodes in self.collect(local_sels, type_name).items():
            if nodes[0].name.value == "__typename":
                concrete.extend(nodes)
                continue
            self.plan_field(group, type_name, key, nodes, path, target, prov, chain)
        if not concrete:
            return
        for g in self.sg.graphs_of_type(type_name):
            if self.sg.is_interface_object(type_name, g):
                continue
            if self.entity_key(g, type_name, group.graph, type_name) is None:
                continue
            eg, etarget = self.jump(group, type_name, path, target, g, type_name, None)
            etarget.add_typename()
            self.plan_abstract(eg, type_name, concrete, path, etarget, None, chain)
            return
        raise PlanningError(f"no subgraph can resolve the concrete type of {type_name}")

    def _type_condition(self, s: SelectionNode) -> str | None:
        if isinstance(s, InlineFragmentNode):
            return s.type_condition.name.value if s.type_condition else None
        if isinstance(s, FragmentSpreadNode):
            frag = self.fragments.get(s.name.value)
            return frag.type_condition.name.value if frag else None
        return None

    def plan_field(
        self,
        group: Group,
        type_name: str,
        key: str,
        nodes: list[FieldNode],
        path: tuple[str, ...],
        target: SelTree,
        provided: dict[str, list[FieldNode]] | None,
        chain: tuple[Frame, ...] = (),
    ) -> None:
        node = nodes[0]
        fname = node.name.value
        if fname == "__typename":
            target.add_field(key, "__typename")
            return
        t = self.sg.types[type_name]
        fdef = t.fields.get(fname)
        if fdef is None:
            raise PlanningError(f"unknown field {type_name}.{fname}")
        composite = self.sg.is_composite(fdef.named_type)
        subs = self.sub_selections(nodes)
        child_path = path + ((key, "@") if _is_list(fdef.type_node) else (key,))
        args_text = print_args(node.arguments)
        variables = arg_variables(node.arguments)
        graph = group.graph
        if self.local(graph, type_name, fname, provided):
            stay = self.cost(graph, fdef.named_type, subs, None) if composite else 0.0
            alt = None
            if stay > 0:  # only a subtree that needs jumps may be cheaper elsewhere
                alt = self._best_source(group, type_name, fname, subs, graph, True, provided)
            if alt is None or stay <= alt[2] + 1:
                fs = target.add_field(key, fname, args_text, variables, composite)
                if fs is None:
                    raise PlanningError(f"conflicting selections for {key}")
                if composite:
                    assert fs.sub is not None
                    cp = self.child_provided(graph, type_name, fname, provided)
                    frame = Frame(group, type_name, path, target, key, fname, args_text, variables)
                    sub_type = self.subgraph_named_type(graph, type_name, fname, fs.sub)
                    self.plan_selection(
                        group, sub_type, subs, child_path, fs.sub, cp, (*chain, frame)
                    )
                return
        best = self._best_source(group, type_name, fname, subs, None, True, provided)
        if best is None:
            if self.plan_via_ancestor(type_name, key, nodes, chain):
                return
            raise PlanningError(f"no subgraph can resolve {type_name}.{fname} from {graph}")
        src_graph, repr_type, _ = best
        eg, etarget = self.jump(
            group, type_name, path, target, src_graph, repr_type, fname, provided
        )
        fs = etarget.add_field(key, fname, args_text, variables, composite)
        if fs is None:
            raise PlanningError(f"conflicting selections for {key}")
        if composite:
            assert fs.sub is not None
            cp = self.child_provided(src_graph, repr_type, fname, None)
            frame = Frame(eg, type_name, path, etarget, key, fname, args_text, variables)
            sub_type = self.subgraph_named_type(src_graph, repr_type, fname, fs.sub)
            self.plan_selection(eg, sub_type, subs, child_path, fs.sub, cp, (*chain, frame))

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
        fdef = self.sg.types[type_name].fields.get(fname)
        if fdef is None:
            return None
        fig = self.sg.field_in_graph(type_name, fname, graph)
        if fig is not None and fig.type:
            return fig.type
        return print_ast(fdef.type_node)

    def _key_source(self, frame: Frame, graph: str) -> tuple[Group, SelTree] | None:
        """A fetch at the ancestor's position that can supply its key for `graph`.

        The ancestor may have been reached through an entity fetch that cannot return the key
        (it is `@external` there); the fetch it depends on, which produced the object, may.
        """
        t = frame.type_name
        if self.entity_key(graph, t, frame.group.graph, t) is not None:
            return frame.group, frame.target
        for dep in sorted(frame.group.deps, key=lambda d: d.id):
            target = _find_target(dep, frame.path)
            if target is not None and self.entity_key(graph, t, dep.graph, t, False):
                return dep, target
        return None

    def plan_via_ancestor(
        self, type_name: str, key: str, nodes: list[FieldNode], chain: tuple[Frame, ...]
    ) -> bool:
        """Fetches a field of a value type through the nearest ancestor entity.

        `Category.details` may live in a subgraph where Category has no key; that subgraph
        can still return `product { category { details } }` when asked for the Product.
        """
        fname = nodes[0].name.value
        for depth in range(len(chain) - 1, -1, -1):
            frame = chain[depth]
            steps = chain[depth:]
            for g in self.sg.field_graphs(type_name, fname):
                if not all(self.local(g, f.type_name, f.field_name, None) for f in steps):
                    continue
                source = self._key_source(frame, g)
                if source is None:
                    continue
                src_group, src_target = source
                eg, etarget = self.jump(
                    src_group, frame.type_name, frame.path, src_target, g, frame.type_name, None
                )
                sub = etarget
                for f in steps:
                    fs = sub.add_field(f.key, f.field_name, f.args_text, f.variables, True)
                    if fs is None or fs.sub is None:
                        raise PlanningError(f"conflicting selections for {f.key}")
                    sub = fs.sub
                path = chain[-1].path
                last = chain[-1]
                lt = self.sg.types[last.type_name].fields[last.field_name]
                path = last.path + ((last.key, "@") if _is_list(lt.type_node) else (last.key,))
                self.plan_field(eg, type_name, key, nodes, path, sub, None, chain)
                return True
        root = chain[0] if chain else None
        keyless = not any(t.keys for t in self.sg.types[type_name].graphs.values())
        if root is not None and root.group.root_kind == "query" and keyless:
            # A shareable root field whose subtree is split over subgraphs without keys:
            # ask each subgraph for its part from the root.
            for g in self.sg.field_graphs(type_name, fname):
                if not all(self.local(g, f.type_name, f.field_name, None) for f in chain):
                    continue
                rg = next(
                    (
                        x
                        for x in self.groups
                        if x.root_kind == "query" and x.graph == g and x.step == root.group.step
                    ),
                    None,
                ) or self.new_group(g, root.group.step, "query")
                sub = rg.sel
                for f in chain:
                    fs = sub.add_field(f.key, f.field_name, f.args_text, f.variables, True)
                    if fs is None or fs.sub is None:
                        raise PlanningError(f"conflicting selections for {f.key}")
                    sub = fs.sub
                last = chain[-1]
                lt = self.sg.types[last.type_name].fields[last.field_name]
                path = last.path + ((last.key, "@") if _is_list(lt.type_node) else (last.key,))
                self.plan_field(rg, type_name, key, nodes, path, sub, None, chain)
                return True
        return False

    def _best_source(
        self,
        group: Group,
        type_name: str,
        fname: str,
        subs: list[SelectionNode],
        exclude: str | None,
        indirect: bool = True,
        provided: dict[str, list[FieldNode]] | None = None,
    ) -> tuple[str, str, float] | None:
        fdef = self.sg.types[type_name].fields[fname]
        best: tuple[str, str, float] | None = None
        for g, repr_type in self.sources(type_name, fname):
            if g == exclude:
                continue
            if g == group.graph and repr_type == type_name:
                fig = self.sg.field_in_graph(type_name, fname, g)
                if fig is None or not fig.requires:
                    continue
            if self.entity_key(g, repr_type, group.graph, type_name, indirect, provided) is None:
                continue
            c = self.cost(g, fdef.named_type, subs, None) if subs else 0.0
            if best is None or c < best[2]:
                best = (g, repr_type, c)
        return best

    def jump(
        self,
        group: Group,
        type_name: str,
        path: tuple[str, ...],
        target: SelTree,
        graph: str,
        repr_type: str,
        fname: str | None,
        provided: dict[str, list[FieldNode]] | None = None,
    ) -> tuple[Group, SelTree]:
        """Opens an `_entities` fetch to `graph` for the objects at `path`."""
        key_fs = self.entity_key(graph, repr_type, group.graph, type_name, True, provided)
        if key_fs is None:
            raise PlanningError(f"{repr_type} has no resolvable key in {self.sg.name_of(graph)}")
        target.add_typename()
        requires = SelTree()
        requires.add_typename()
        deps = {group}
        key_sel = parse_field_set(key_fs)
        deps |= self.ensure(group, type_name, key_sel, path, target, requires, provided)
        if fname is not None:
            fig = self.sg.field_in_graph(repr_type, fname, graph)
            if fig is not None and fig.requires:
                req = parse_field_set(fig.requires)
                deps |= self.ensure(group, type_name, req, path, target, requires, provided)
        eg = self.entity_group(graph, group.step, deps, path)
        if self.sg.types[repr_type].kind == OBJECT:
            accepts = frozenset({repr_type})
        else:
            accepts = frozenset({repr_type, *self.sg.possible_types(repr_type)})
        by_type = eg.inputs.setdefault(path, {})
        existing = by_type.get(repr_type)
        if existing is None:
            by_type[repr_type] = EntityInput(repr_type, accepts, requires)
        else:
            existing.requires.merge(requires)
        return eg, eg.sel.fragment(repr_type)

    def ensure(
        self,
        group: Group,
        type_name: str,
        selections: tuple[SelectionNode, ...],
        path: tuple[str, ...],
        target: SelTree,
        recipe: SelTree,
        provided: dict[str, list[FieldNode]] | None = None,
    ) -> set[Group]:
        """Makes the fields of a key/requires field set present on the objects at `path`.

        Fields go into `target` when the current subgraph has them, or into further entity
        fetches otherwise; `recipe` records where each lands so the executor can build the
        representation. Returns the fetches the representation must wait for.
        """
        deps: set[Group] = set()
        t = self.sg.types[type_name]
        for s in selections:
            if isinstance(s, InlineFragmentNode):
                tc = s.type_condition.name.value if s.type_condition else type_name
                sub_sel = tuple(s.selection_set.selections)
                if tc == type_name or (
                    self.sg.types[type_name].kind == OBJECT
                    and type_name in self.sg.possible_types(tc)
                ):
                    deps |= self.ensure(group, type_name, sub_sel, path, target, recipe, provided)
                    continue
                if self.sg.types[type_name].kind == OBJECT:
                    continue  # a condition this object type can never meet
                # Representations are built per concrete type: spell abstract conditions
                # out as one fragment per object type.
                objects = (
                    [tc]
                    if self.sg.types[tc].kind == OBJECT
                    else [
                        o
                        for o in self.sg.possible_types(tc, group.graph)
                        if o in self.sg.possible_types(type_name)
                        or self.sg.types[type_name].kind == OBJECT
                    ]
                )
                for o in objects:
                    deps |= self.ensure(
                        group, o, sub_sel, path, target.fragment(o), recipe.fragment(o)
                    )
                continue
            if not isinstance(s, FieldNode):
                continue
            name = s.name.value
            if name == "__typename":
                target.add_typename()
                recipe.add_typename()
                continue
            fdef = t.fields.get(name)
            if fdef is None:
                raise PlanningError(f"field set names unknown field {type_name}.{name}")
            composite = self.sg.is_composite(fdef.named_type)
            args_text = print_args(s.arguments)
            variables = arg_variables(s.arguments)
            if self.local(group.graph, type_name, name, provided):
                fs = target.add_internal(name, args_text, variables, composite)
                holder = group
            else:
                best = self._best_source(group, type_name, name, [], group.graph, indirect=False)
                if best is None:
                    raise PlanningError(f"no subgraph can provide {type_name}.{name}")
                eg, etarget = self.jump(group, type_name, path, target, best[0], best[1], name)
                fs = etarget.add_internal(name, args_text, variables, composite)
                deps.add(eg)
                holder = eg
            child_path = path + ((fs.key, "@") if _is_list(fdef.type_node) else (fs.key,))
            rf = recipe.add_field(fs.key, name, "", frozenset(), composite)
            if rf is None:
                rf = recipe.fields[fs.key]
            if composite and s.selection_set:
                assert fs.sub is not None and rf.sub is not None
                ft = fdef.named_type
                if self.sg.is_abstract(ft):
                    fs.sub.add_typename()
                    rf.sub.add_typename()
                deps |= self.ensure(
                    holder, ft, tuple(s.selection_set.selections), child_path, fs.sub, rf.sub
                )
        return deps

    # --- from groups to plan nodes ------------------------------------------------------

    def build_nodes(self, kind: str) -> PlanNode | None:
        groups = [g for g in self.groups if not (g.root_kind is None and g.sel.is_empty())]
        for g in groups:
            g.deps = {d for d in g.deps if d in groups and d is not g}
        self._assign_levels(groups)
        groups = self._merge_levels(groups)
        steps: dict[int, list[Group]] = {}
        for g in groups:
            steps.setdefault(g.step, []).append(g)
        step_nodes: list[PlanNode] = []
        for step in sorted(steps):
            levels: dict[int, list[Group]] = {}
            for g in steps[step]:
                levels.setdefault(g.level, []).append(g)
            seq: list[PlanNode] = []
            for lvl in sorted(levels):
                nodes = [self._fetch_node(g, kind) for g in sorted(levels[lvl], key=lambda x: x.id)]
                seq.append(nodes[0] if len(nodes) == 1 else ParallelNode(nodes))
            step_nodes.extend(seq)
        if not step_nodes:
            return None
        return step_nodes[0] if len(step_nodes) == 1 else SequenceNode(step_nodes)

    @staticmethod
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

    @staticmethod
    def _merge_levels(groups: list[Group]) -> list[Group]:
        """One `_entities` call per subgraph per step: merge same-level fetches."""
        out: list[Group] = []
        by_slot: dict[tuple[str, int, int], list[Group]] = {}
        replaced: dict[int, Group] = {}
        for g in sorted(groups, key=lambda x: x.id):
            if g.root_kind is not None:
                out.append(g)
                continue
            slot = (g.graph, g.step, g.level)
            for cand in by_slot.get(slot, []):
                if cand.sel.can_merge(g.sel) and _inputs_mergeable(cand, g):
                    cand.sel.merge(g.sel)
                    for p, by_type in g.inputs.items():
                        mine = cand.inputs.setdefault(p, {})
                        for tn, inp in by_type.items():
                            if tn in mine:
                                mine[tn].requires.merge(inp.requires)
                            else:
                                mine[tn] = inp
                    cand.deps |= g.deps
                    replaced[g.id] = cand
                    break
            else:
                by_slot.setdefault(slot, []).append(g)
                out.append(g)
        for g in out:
            g.deps = {replaced.get(d.id, d) for d in g.deps} - {g}
        return out

    def _fetch_node(self, g: Group, kind: str) -> PlanNode:
        name = self.sg.name_of(g.graph)
        if g.root_kind is not None:
            body = g.sel.print() or "{ __typename }"
            variables = sorted(g.sel.variables())
            node = FetchNode(g.graph, name, body, g.root_kind, tuple(variables), None, g.id)
            return node
        body = "{ _entities(representations: $representations) " + g.sel.print() + " }"
        variables = sorted(g.sel.variables())
        inputs = [(p, list(by_type.values())) for p, by_type in g.inputs.items()]
        node = FetchNode(g.graph, name, body, "query", tuple(variables), inputs, g.id)
        return FlattenNode([p for p, _ in inputs], node)


def _find_target(group: Group, path: tuple[str, ...]) -> SelTree | None:
    """The selection of `group` at a response path (plain fields only), if it has one."""
    keys = [p for p in path if p != "@"]
    if group.root_kind is None:
        for p, by_type in group.inputs.items():
            if p == path and len(by_type) == 1:
                return group.sel.fragments.get(next(iter(by_type)))
        return None
    sel: SelTree | None = group.sel
    for k in keys:
        fs = sel.fields.get(k) if sel is not None else None
        if fs is None or fs.sub is None:
            return None
        sel = fs.sub
    return sel


def _inputs_mergeable(a: Group, b: Group) -> bool:
    for p, by_type in b.inputs.items():
        mine = a.inputs.get(p)
        if not mine:
            continue
        for tn, inp in by_type.items():
            if tn in mine and not mine[tn].requires.can_merge(inp.requires):
                return False
    return True


class Planner:
    """Plans operations against one supergraph; stateless between calls."""

    def __init__(self, supergraph: Supergraph) -> None:
        self.sg = supergraph

    @staticmethod
    def condition_variables(
        operation: OperationDefinitionNode, fragments: dict[str, FragmentDefinitionNode]
    ) -> list[str]:
        """Variables that decide `@skip`/`@include` anywhere in the operation."""
        names: list[str] = []
        seen_frags: set[str] = set()

        def walk(selections) -> None:
            for s in selections:
                for d in s.directives or ():
                    if d.name.value in ("skip", "include"):
                        for a in d.arguments or ():
                            if (
                                isinstance(a.value, VariableNode)
                                and a.value.name.value not in names
                            ):
                                names.append(a.value.name.value)
                if isinstance(s, FragmentSpreadNode):
                    if s.name.value in seen_frags or s.name.value not in fragments:
                        continue
                    seen_frags.add(s.name.value)
                    walk(fragments[s.name.value].selection_set.selections)
                elif s.selection_set:
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

    def _tree(self, operation, fragments, var_defs, names, fixed) -> PlanNode | None:
        if not names:
            return self._plan_branch(operation, fragments, var_defs, fixed)
        first, rest = names[0], names[1:]
        yes = self._tree(operation, fragments, var_defs, rest, {**fixed, first: True})
        no = self._tree(operation, fragments, var_defs, rest, {**fixed, first: False})
        if _same(yes, no):
            return yes
        return ConditionNode(first, yes, no)

    def _plan_branch(self, operation, fragments, var_defs, conditions) -> PlanNode | None:
        op = _OperationPlanner(self.sg, fragments, conditions)
        kind = operation.operation.value
        root = self.sg.root_types.get(kind)
        if root is None or root not in self.sg.types:
            raise PlanningError(f"the supergraph has no {kind} type")
        fields = op.collect(list(operation.selection_set.selections), root)
        by_graph: dict[str, Group] = {}
        step = 0
        last: Group | None = None
        for key, nodes in fields.items():
            fname = nodes[0].name.value
            if fname in INTROSPECTION_ROOT_FIELDS or fname == "__typename":
                continue  # answered by the gateway itself
            graphs = self.sg.field_graphs(root, fname)
            if not graphs:
                raise PlanningError(f"no subgraph resolves {root}.{fname}")
            subs = op.sub_selections(nodes)
            ftype = self.sg.types[root].fields[fname].named_type
            costs = {g: (op.cost(g, ftype, subs, None) if subs else 0.0) for g in graphs}
            best = min(costs.values())
            if kind == "mutation":
                # Root mutation fields run in order: consecutive fields on one subgraph share
                # a fetch, anything else starts a new sequential step.
                if last is not None and costs.get(last.graph) == best:
                    g = last
                else:
                    chosen = next(gr for gr in graphs if costs[gr] == best)
                    step += 1
                    g = op.new_group(chosen, step, kind)
                last = g
            else:
                chosen = next((gr for gr in graphs if gr in by_graph and costs[gr] == best), None)
                if chosen is None:
                    chosen = next(gr for gr in graphs if costs[gr] == best)
                g = by_graph.get(chosen) or op.new_group(chosen, 0, kind)
                by_graph[chosen] = g
            op.plan_field(g, root, key, nodes, (), g.sel, None)
        _declare_check(op, var_defs)
        node = op.build_nodes(kind)
        if node is not None:
            _attach_variable_definitions(node, var_defs, kind)
        return node


def _declare_check(op: _OperationPlanner, var_defs: dict) -> None:
    for g in op.groups:
        for v in g.sel.variables():
            if v not in var_defs:
                raise PlanningError(f"variable ${v} is not defined")


def _attach_variable_definitions(node: PlanNode, var_defs: dict, kind: str) -> None:
    """Turns each fetch body into a full operation with its variable declarations."""
    from crm_gateway.plan import iter_fetches

    for f in iter_fetches(node):
        decls = [
            f"${v}: {print_ast(var_defs[v].type)}"
            + (f" = {print_ast(var_defs[v].default_value)}" if var_defs[v].default_value else "")
            for v in f.variable_names
        ]
        if f.inputs is not None:
            decls.insert(0, "$representations: [_Any!]!")
        head = f.operation_kind if f.inputs is None else "query"
        if decls:
            f.operation = f"{head}({', '.join(decls)}) {f.operation}"
        elif head != "query":
            f.operation = f"{head} {f.operation}"


def _same(a: PlanNode | None, b: PlanNode | None) -> bool:
    if a is None or b is None:
        return a is b
    return a.to_json() == b.to_json()
