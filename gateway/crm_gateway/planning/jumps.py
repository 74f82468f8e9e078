"""Entity jumps: opening an `_entities` fetch and fetching its key and `@requires` inputs."""

from __future__ import annotations

from collections.abc import Sequence

from graphql import FieldNode, InlineFragmentNode, SelectionNode

from crm_gateway.plan import EntityInput
from crm_gateway.planning.cost import CostModel
from crm_gateway.planning.errors import PlanningError
from crm_gateway.planning.groups import FetchGroups, Group, Position, extend_path
from crm_gateway.planning.sources import Provided, Sources
from crm_gateway.selection import FieldSel, SelTree, arg_variables, parse_field_set, print_args
from crm_gateway.supergraph import OBJECT, FieldDef, Supergraph


class EntityJumps:
    def __init__(
        self, sg: Supergraph, sources: Sources, cost: CostModel, groups: FetchGroups
    ) -> None:
        self.sg = sg
        self.sources = sources
        self.cost = cost
        self.groups = groups

    def jump(
        self,
        at: Position,
        type_name: str,
        graph: str,
        repr_type: str,
        fname: str | None,
        provided: Provided = None,
    ) -> Position:
        """Opens (or joins) an `_entities` fetch to `graph` for the objects at `at.path`.

        Returns the position in that fetch: a fragment on `repr_type` to add fields to.
        """
        group = at.group
        key_fs = self.sources.entity_key(graph, repr_type, group.graph, type_name, True, provided)
        if key_fs is None:
            raise PlanningError(f"{repr_type} has no resolvable key in {self.sg.name_of(graph)}")
        at.target.add_typename()
        requires = SelTree()
        requires.add_typename()
        deps = {group}
        deps |= self.ensure(at, type_name, parse_field_set(key_fs), requires, provided)
        if fname is not None:
            fig = self.sg.field_in_graph(repr_type, fname, graph)
            if fig is not None and fig.requires:
                req = parse_field_set(fig.requires)
                deps |= self.ensure(at, type_name, req, requires, provided)
        eg = self.groups.entity_group(graph, group.step, deps, at.path, repr_type, requires)
        if self.sg.types[repr_type].kind == OBJECT:
            accepts = frozenset({repr_type})
        else:
            accepts = frozenset({repr_type, *self.sg.possible_types(repr_type)})
        by_type = eg.inputs.setdefault(at.path, {})
        existing = by_type.get(repr_type)
        if existing is None:
            by_type[repr_type] = EntityInput(repr_type, accepts, requires)
        else:
            existing.requires.merge(requires)
        return Position(eg, at.path, eg.sel.fragment(repr_type), at.chain)

    def ensure(
        self,
        at: Position,
        type_name: str,
        selections: Sequence[SelectionNode],
        recipe: SelTree,
        provided: Provided = None,
    ) -> set[Group]:
        """Makes the fields of a key/requires field set present on the objects at `at`.

        Fields go into `at.target` when the current subgraph has them, or into further
        entity fetches otherwise; `recipe` records where each lands so the executor can
        build the representation. Returns the fetches the representation must wait for.
        """
        deps: set[Group] = set()
        for s in selections:
            if isinstance(s, InlineFragmentNode):
                deps |= self._ensure_fragment(at, type_name, s, recipe, provided)
            elif isinstance(s, FieldNode):
                deps |= self._ensure_field(at, type_name, s, recipe, provided)
        return deps

    def _ensure_fragment(
        self,
        at: Position,
        type_name: str,
        s: InlineFragmentNode,
        recipe: SelTree,
        provided: Provided,
    ) -> set[Group]:
        tc = s.type_condition.name.value if s.type_condition else type_name
        sub_sel = s.selection_set.selections
        is_object = self.sg.types[type_name].kind == OBJECT
        if tc == type_name or (is_object and type_name in self.sg.possible_types(tc)):
            return self.ensure(at, type_name, sub_sel, recipe, provided)
        if is_object:
            return set()  # a condition this object type can never meet
        # Representations are built per concrete type: spell abstract conditions out as one
        # fragment per object type.
        if self.sg.types[tc].kind == OBJECT:
            objects = [tc]
        else:
            possible = self.sg.possible_types(type_name)
            objects = [o for o in self.sg.possible_types(tc, at.group.graph) if o in possible]
        deps: set[Group] = set()
        for o in objects:
            fragment_at = at.at_target(at.target.fragment(o))
            deps |= self.ensure(fragment_at, o, sub_sel, recipe.fragment(o))
        return deps

    def _ensure_field(
        self,
        at: Position,
        type_name: str,
        s: FieldNode,
        recipe: SelTree,
        provided: Provided,
    ) -> set[Group]:
        name = s.name.value
        if name == "__typename":
            at.target.add_typename()
            recipe.add_typename()
            return set()
        fdef = self.sg.types[type_name].fields.get(name)
        if fdef is None:
            raise PlanningError(f"field set names unknown field {type_name}.{name}")
        composite = self.sg.is_composite(fdef.named_type)
        args_text = print_args(s.arguments)
        variables = arg_variables(s.arguments)
        deps: set[Group] = set()
        holder = at
        graph = at.group.graph
        if not self.sources.local(graph, type_name, name, provided):
            best = self.cost.best_source(graph, type_name, name, (), graph, False)
            if best is None:
                raise PlanningError(f"no subgraph can provide {type_name}.{name}")
            holder = self.jump(at, type_name, best[0], best[1], name)
            deps.add(holder.group)
        fs = holder.target.add_internal(name, args_text, variables, composite)
        rf = recipe.add_field(fs.key, name, "", frozenset(), composite) or recipe.fields[fs.key]
        if composite and s.selection_set:
            deps |= self._ensure_sub(holder, fdef, s, fs, rf)
        return deps

    def _ensure_sub(
        self, holder: Position, fdef: FieldDef, s: FieldNode, fs: FieldSel, rf: FieldSel
    ) -> set[Group]:
        """The sub-selection of a composite key/requires field (`org { id }`)."""
        assert fs.sub is not None and rf.sub is not None and s.selection_set is not None
        if self.sg.is_abstract(fdef.named_type):
            fs.sub.add_typename()
            rf.sub.add_typename()
        child = Position(holder.group, extend_path(holder.path, fs.key, fdef.type_node), fs.sub)
        return self.ensure(child, fdef.named_type, s.selection_set.selections, rf.sub)
