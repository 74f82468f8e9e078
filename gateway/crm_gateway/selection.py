"""Mergeable selection sets used to build subgraph operations.

The planner adds fields to these trees from several places (client fields, keys, `@requires`
inputs); a tree merges duplicates and reports a conflict instead of silently sending a
subgraph two different fields under one response key.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache

from graphql import (
    ArgumentNode,
    FieldNode,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionNode,
    VariableNode,
    parse,
    print_ast,
)
from graphql.language import Visitor, visit


class FieldSel:
    __slots__ = ("args_text", "key", "name", "sub", "variables")

    def __init__(self, name: str, key: str, args_text: str, variables: frozenset[str]) -> None:
        self.name = name
        self.key = key
        self.args_text = args_text
        self.variables = variables
        self.sub: SelTree | None = None


class SelTree:
    """An ordered selection set: fields by response key plus inline fragments by type."""

    __slots__ = ("fields", "fragments")

    def __init__(self) -> None:
        self.fields: dict[str, FieldSel] = {}
        self.fragments: dict[str, SelTree] = {}

    def add_field(
        self,
        key: str,
        name: str,
        args_text: str = "",
        variables: frozenset[str] = frozenset(),
        composite: bool = False,
    ) -> FieldSel | None:
        """Adds (or finds) a field; None when `key` already names a different field."""
        existing = self.fields.get(key)
        if existing is not None:
            if existing.name != name or existing.args_text != args_text:
                return None
            if composite and existing.sub is None:
                existing.sub = SelTree()
            return existing
        fs = FieldSel(name, key, args_text, variables)
        if composite:
            fs.sub = SelTree()
        self.fields[key] = fs
        return fs

    def add_internal(
        self,
        name: str,
        args_text: str = "",
        variables: frozenset[str] = frozenset(),
        composite: bool = False,
    ) -> FieldSel:
        """Adds a field the gateway itself needs; aliases it if the name is taken.

        A field with arguments is always aliased: the client may select the same field
        with other arguments under its plain name, in this or a later fetch.
        """
        fs = None
        if args_text:
            digest = hashlib.sha1(args_text.encode()).hexdigest()[:8]
            fs = self.add_field(f"_crm_{name}_{digest}", name, args_text, variables, composite)
        else:
            fs = self.add_field(name, name, args_text, variables, composite)
        n = 0
        while fs is None:
            n += 1
            fs = self.add_field(f"_crm{n}_{name}", name, args_text, variables, composite)
        return fs

    def add_typename(self, key: str = "__typename") -> None:
        self.add_field(key, "__typename")

    def fragment(self, type_name: str) -> SelTree:
        sub = self.fragments.get(type_name)
        if sub is None:
            sub = self.fragments[type_name] = SelTree()
        return sub

    def is_empty(self) -> bool:
        return not self.fields and not any(not f.is_empty() for f in self.fragments.values())

    def can_merge(self, other: SelTree) -> bool:
        for key, of in other.fields.items():
            mine = self.fields.get(key)
            if mine is None:
                continue
            if mine.name != of.name or mine.args_text != of.args_text:
                return False
            if mine.sub is not None and of.sub is not None and not mine.sub.can_merge(of.sub):
                return False
        for tc, ofr in other.fragments.items():
            mine_fr = self.fragments.get(tc)
            if mine_fr is not None and not mine_fr.can_merge(ofr):
                return False
        return True

    def names_conflict(self, other: SelTree) -> bool:
        """Whether two representation recipes read one field name from different keys.

        A recipe reads fields by response key and writes them by field name: one
        representation cannot carry both `price(currency: "USD")` and
        `price(currency: "EUR")`, fetched under two aliases, as its one `price`.
        """
        mine = {f.name: f for f in self.fields.values()}
        for of in other.fields.values():
            m = mine.get(of.name)
            if m is None:
                continue
            if m.key != of.key:
                return True
            if m.sub is not None and of.sub is not None and m.sub.names_conflict(of.sub):
                return True
        for tc, ofr in other.fragments.items():
            mine_fr = self.fragments.get(tc)
            if mine_fr is not None and mine_fr.names_conflict(ofr):
                return True
        return False

    def merge(self, other: SelTree) -> None:
        for key, of in other.fields.items():
            mine = self.fields.get(key)
            if mine is None:
                self.fields[key] = of
            elif of.sub is not None:
                if mine.sub is None:
                    mine.sub = SelTree()
                mine.sub.merge(of.sub)
        for tc, ofr in other.fragments.items():
            self.fragment(tc).merge(ofr)

    def variables(self, out: set[str] | None = None) -> set[str]:
        out = set() if out is None else out
        for f in self.fields.values():
            out.update(f.variables)
            if f.sub is not None:
                f.sub.variables(out)
        for fr in self.fragments.values():
            fr.variables(out)
        return out

    def print(self) -> str:
        parts: list[str] = []
        for f in self.fields.values():
            head = f.name if f.key == f.name else f"{f.key}: {f.name}"
            if f.sub is not None:
                inner = f.sub.print()
                # A composite field needs at least one selection; __typename is always valid.
                parts.append(f"{head}{f.args_text} {inner if inner else '{ __typename }'}")
            else:
                parts.append(head + f.args_text)
        for tc, fr in self.fragments.items():
            inner = fr.print()
            if inner:
                parts.append(f"... on {tc} {inner}")
        return "{ " + " ".join(parts) + " }" if parts else ""


class _VarCollector(Visitor):
    def __init__(self) -> None:
        super().__init__()
        self.names: set[str] = set()

    def enter_variable(self, node: VariableNode, *_: object) -> None:
        self.names.add(node.name.value)


def print_args(args: tuple[ArgumentNode, ...] | list[ArgumentNode] | None) -> str:
    if not args:
        return ""
    return "(" + ", ".join(f"{a.name.value}: {print_ast(a.value)}" for a in args) + ")"


def arg_variables(args: tuple[ArgumentNode, ...] | list[ArgumentNode] | None) -> frozenset[str]:
    if not args:
        return frozenset()
    c = _VarCollector()
    for a in args:
        visit(a, c)
    return frozenset(c.names)


@lru_cache(maxsize=4096)
def parse_field_set(field_set: str) -> tuple[SelectionNode, ...]:
    """Parses a join__FieldSet string (`id`, `id org { id }`, `... on A { x }`)."""
    doc = parse("{" + field_set + "}", no_location=True)
    op = doc.definitions[0]
    assert isinstance(op, OperationDefinitionNode)
    return tuple(op.selection_set.selections)


def field_set_names(selections: tuple[SelectionNode, ...]) -> list[str]:
    """Top-level field names of a field set, including those inside inline fragments."""
    out: list[str] = []
    for s in selections:
        if isinstance(s, FieldNode):
            out.append(s.name.value)
        elif isinstance(s, InlineFragmentNode):
            out.extend(field_set_names(tuple(s.selection_set.selections)))
    return out
