"""Fetch groups (future fetches) and the frames of the walk that lead to them."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from graphql import ListTypeNode, NonNullTypeNode, TypeNode

from crm_gateway.plan import EntityInput
from crm_gateway.selection import SelTree

# Response path (list markers "@" included) -> representation inputs by entity type.
InputsByPath = dict[tuple[str, ...], dict[str, EntityInput]]


@dataclass(eq=False)
class Group:
    """One future fetch: a subgraph, the selection to send, and what it waits for."""

    id: int
    graph: str
    step: int
    root_kind: str | None  # "query"/"mutation" for a root fetch, None for `_entities`
    sel: SelTree = field(default_factory=SelTree)
    inputs: InputsByPath = field(default_factory=dict)
    deps: set[Group] = field(default_factory=set)
    level: int = 0

    @property
    def is_entity_fetch(self) -> bool:
        return self.root_kind is None

    def recipe_conflicts(self, path: tuple[str, ...], repr_type: str, recipe: SelTree) -> bool:
        """Whether `recipe` cannot share this fetch's representations at `path`."""
        existing = self.inputs.get(path, {}).get(repr_type)
        return existing is not None and existing.requires.names_conflict(recipe)


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


@dataclass(frozen=True, eq=False)
class Position:
    """Where the walk is: the fetch being built, the response path, the selection (in that
    fetch) that fields go into, and the ancestors that led here."""

    group: Group
    path: tuple[str, ...]
    target: SelTree
    chain: tuple[Frame, ...] = ()

    def at_target(self, target: SelTree) -> Position:
        """The same place, adding to another selection (a type's fragment)."""
        return Position(self.group, self.path, target, self.chain)


class FetchGroups:
    """The groups of one operation plan, in creation order."""

    def __init__(self) -> None:
        self.all: list[Group] = []
        self._ids = itertools.count(1)

    def new(self, graph: str, step: int, root_kind: str | None) -> Group:
        g = Group(next(self._ids), graph, step, root_kind)
        self.all.append(g)
        return g

    def entity_group(
        self,
        graph: str,
        step: int,
        deps: set[Group],
        path: tuple[str, ...],
        repr_type: str,
        recipe: SelTree,
    ) -> Group:
        """An `_entities` fetch to `graph` for the objects at `path` after `deps`.

        Reuses one with the same dependencies that already serves this path, so fields of
        one object that live in one subgraph travel in one fetch; but never one whose
        representations would need a different value under the same field name (one field
        required with different arguments): that takes a fetch of its own.
        """
        fdeps = frozenset(deps)
        for g in self.all:
            if (
                g.is_entity_fetch
                and g.graph == graph
                and g.step == step
                and frozenset(g.deps) == fdeps
                and path in g.inputs
                and not g.recipe_conflicts(path, repr_type, recipe)
            ):
                return g
        g = self.new(graph, step, None)
        g.deps = set(deps)
        return g

    def root_group(self, graph: str, step: int) -> Group:
        """The root query fetch to `graph` in `step`, opened if there is none yet."""
        for g in self.all:
            if g.root_kind == "query" and g.graph == graph and g.step == step:
                return g
        return self.new(graph, step, "query")


def find_target(group: Group, path: tuple[str, ...]) -> SelTree | None:
    """The selection of `group` at a response path (plain fields only), if it has one."""
    if group.is_entity_fetch:
        for p, by_type in group.inputs.items():
            if p == path and len(by_type) == 1:
                return group.sel.fragments.get(next(iter(by_type)))
        return None
    sel: SelTree | None = group.sel
    for k in path:
        if k == "@":
            continue
        fs = sel.fields.get(k) if sel is not None else None
        if fs is None or fs.sub is None:
            return None
        sel = fs.sub
    return sel


def extend_path(path: tuple[str, ...], key: str, type_node: TypeNode) -> tuple[str, ...]:
    """The response path of a field: its key, then a list marker when it returns a list."""
    node = type_node
    while isinstance(node, NonNullTypeNode):
        node = node.type
    return path + ((key, "@") if isinstance(node, ListTypeNode) else (key,))
