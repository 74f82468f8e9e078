"""Reads a supergraph SDL (join spec v0.3 to v0.5) into the metadata the planner needs.

The supergraph is read from its AST rather than from a built schema: the join directives are
metadata about *where* things live, and walking the AST once keeps that explicit and fast.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from graphql import (
    DirectiveNode,
    DocumentNode,
    EnumTypeDefinitionNode,
    EnumValueDefinitionNode,
    FieldDefinitionNode,
    InputObjectTypeDefinitionNode,
    InterfaceTypeDefinitionNode,
    ListTypeNode,
    NamedTypeNode,
    NonNullTypeNode,
    ObjectTypeDefinitionNode,
    ScalarTypeDefinitionNode,
    SchemaDefinitionNode,
    TypeDefinitionNode,
    TypeNode,
    UnionTypeDefinitionNode,
    parse,
    value_from_ast_untyped,
)

OBJECT = "OBJECT"
INTERFACE = "INTERFACE"
UNION = "UNION"
ENUM = "ENUM"
SCALAR = "SCALAR"
INPUT = "INPUT_OBJECT"

BUILTIN_SCALARS = frozenset({"String", "Int", "Float", "Boolean", "ID"})


class SupergraphError(Exception):
    """The SDL is not a supergraph this gateway understands."""


@dataclass(frozen=True)
class Key:
    """One `@key` of an entity in one subgraph."""

    fields: str
    resolvable: bool


@dataclass
class TypeInGraph:
    keys: list[Key] = field(default_factory=list)
    is_interface_object: bool = False
    extension: bool = False


@dataclass(frozen=True)
class FieldInGraph:
    """How one subgraph declares a field (from `@join__field`)."""

    external: bool = False
    requires: str | None = None
    provides: str | None = None
    override: str | None = None
    used_overridden: bool = False
    type: str | None = None

    @property
    def resolvable(self) -> bool:
        return not self.external and not self.used_overridden


@dataclass
class FieldDef:
    name: str
    type_node: TypeNode
    named_type: str
    # graph -> declaration; empty means "every graph that declares the parent type".
    graphs: dict[str, FieldInGraph] = field(default_factory=dict)
    # A bare `@join__field` (no graph): the field lives on the type only through an
    # @interfaceObject elsewhere; no subgraph resolves it on this type directly.
    no_graph: bool = False
    inaccessible: bool = False


@dataclass
class TypeDef:
    name: str
    kind: str
    graphs: dict[str, TypeInGraph] = field(default_factory=dict)
    fields: dict[str, FieldDef] = field(default_factory=dict)
    interfaces: list[str] = field(default_factory=list)
    implements_in: dict[str, set[str]] = field(default_factory=dict)  # graph -> interfaces
    members: list[str] = field(default_factory=list)
    members_in: dict[str, set[str]] = field(default_factory=dict)  # graph -> union members
    inaccessible: bool = False


@dataclass
class Subgraph:
    enum_value: str
    name: str
    url: str


def named_type(node: TypeNode) -> str:
    while isinstance(node, (ListTypeNode, NonNullTypeNode)):
        node = node.type
    assert isinstance(node, NamedTypeNode)
    return node.name.value


def _args(directive: DirectiveNode) -> dict[str, Any]:
    return {a.name.value: value_from_ast_untyped(a.value) for a in directive.arguments or ()}


def _text(args: dict[str, Any], name: str) -> str | None:
    """A string argument; None when absent or empty."""
    value = args.get(name)
    return str(value) if value else None


class Supergraph:
    """Everything the planner asks about types, fields and subgraphs."""

    def __init__(self, document: DocumentNode, sdl: str) -> None:
        self.document = document
        self.sdl = sdl
        self.subgraphs: dict[str, Subgraph] = {}  # keyed by join__Graph enum value
        self.types: dict[str, TypeDef] = {}
        self.root_types = {"query": "Query", "mutation": "Mutation", "subscription": "Subscription"}
        self.inaccessible_name = "inaccessible"
        self.join_version = "v0.3"
        self._possible_cache: dict[tuple[str, str | None], tuple[str, ...]] = {}
        self._load()

    @classmethod
    def from_sdl(cls, sdl: str) -> Supergraph:
        return cls(parse(sdl, no_location=True), sdl)

    # --- loading -------------------------------------------------------------------------

    def _load(self) -> None:
        defs = self.document.definitions
        for d in defs:
            if isinstance(d, SchemaDefinitionNode):
                self._load_schema(d)
        for d in defs:
            if isinstance(d, EnumTypeDefinitionNode) and d.name.value == "join__Graph":
                for v in d.values or ():
                    for dd in v.directives or ():
                        if dd.name.value == "join__graph":
                            a = _args(dd)
                            self.subgraphs[v.name.value] = Subgraph(
                                v.name.value, str(a["name"]), str(a.get("url") or "")
                            )
        if not self.subgraphs:
            raise SupergraphError("no join__Graph enum: not a supergraph SDL")
        for d in defs:
            if isinstance(
                d,
                (
                    ObjectTypeDefinitionNode,
                    InterfaceTypeDefinitionNode,
                    UnionTypeDefinitionNode,
                    EnumTypeDefinitionNode,
                    ScalarTypeDefinitionNode,
                    InputObjectTypeDefinitionNode,
                ),
            ):
                if self.is_machinery(d.name.value):
                    continue
                self.types[d.name.value] = self._load_type(d)

    def _load_schema(self, node: SchemaDefinitionNode) -> None:
        for op in node.operation_types:
            self.root_types[op.operation.value] = op.type.name.value
        for d in node.directives or ():
            if d.name.value != "link":
                continue
            a = _args(d)
            url = str(a.get("url") or "")
            if "/join/" in url:
                self.join_version = url.rsplit("/", 1)[-1]
            if "/inaccessible/" in url and a.get("as"):
                self.inaccessible_name = str(a["as"])

    @staticmethod
    def is_machinery(name: str) -> bool:
        """Types that belong to the join/link specs, never to the client schema."""
        return name.startswith(("join__", "link__")) or name in {"_Any", "_Entity", "_Service"}

    def _load_type(self, node: TypeDefinitionNode) -> TypeDef:
        kind = {
            ObjectTypeDefinitionNode: OBJECT,
            InterfaceTypeDefinitionNode: INTERFACE,
            UnionTypeDefinitionNode: UNION,
            EnumTypeDefinitionNode: ENUM,
            ScalarTypeDefinitionNode: SCALAR,
            InputObjectTypeDefinitionNode: INPUT,
        }[type(node)]
        t = TypeDef(node.name.value, kind)
        for d in node.directives or ():
            name = d.name.value
            if name == "join__type":
                a = _args(d)
                g = t.graphs.setdefault(str(a["graph"]), TypeInGraph())
                if a.get("key"):
                    g.keys.append(Key(str(a["key"]), bool(a.get("resolvable", True))))
                g.is_interface_object = g.is_interface_object or bool(a.get("isInterfaceObject"))
                g.extension = bool(a.get("extension"))
            elif name == "join__implements":
                a = _args(d)
                t.implements_in.setdefault(str(a["graph"]), set()).add(str(a["interface"]))
            elif name == "join__unionMember":
                a = _args(d)
                t.members_in.setdefault(str(a["graph"]), set()).add(str(a["member"]))
            elif name == self.inaccessible_name:
                t.inaccessible = True
        if isinstance(node, (ObjectTypeDefinitionNode, InterfaceTypeDefinitionNode)):
            t.interfaces = [i.name.value for i in node.interfaces or ()]
            for f in node.fields or ():
                t.fields[f.name.value] = self._load_field(f)
        elif isinstance(node, UnionTypeDefinitionNode):
            t.members = [m.name.value for m in node.types or ()]
        return t

    def _load_field(self, node: FieldDefinitionNode) -> FieldDef:
        f = FieldDef(node.name.value, node.type, named_type(node.type))
        for d in node.directives or ():
            if d.name.value == "join__field":
                a = _args(d)
                if a.get("graph") is None:
                    f.no_graph = True
                    continue
                f.graphs[str(a["graph"])] = FieldInGraph(
                    external=bool(a.get("external")),
                    requires=_text(a, "requires"),
                    provides=_text(a, "provides"),
                    override=_text(a, "override"),
                    used_overridden=bool(a.get("usedOverridden")),
                    type=_text(a, "type"),
                )
            elif d.name.value == self.inaccessible_name:
                f.inaccessible = True
        return f

    # --- questions the planner asks --------------------------------------------------------

    def type(self, name: str) -> TypeDef:
        return self.types[name]

    def is_abstract(self, name: str) -> bool:
        t = self.types.get(name)
        return t is not None and t.kind in (INTERFACE, UNION)

    def is_composite(self, name: str) -> bool:
        t = self.types.get(name)
        return t is not None and t.kind in (OBJECT, INTERFACE, UNION)

    def graphs_of_type(self, type_name: str) -> list[str]:
        t = self.types.get(type_name)
        if t is None:
            return []
        if not t.graphs:  # a type without join__type lives everywhere (e.g. old composers)
            return list(self.subgraphs)
        return list(t.graphs)

    def field_graphs(self, type_name: str, field_name: str) -> list[str]:
        """Subgraphs that can resolve `type.field` themselves."""
        t = self.types[type_name]
        f = t.fields.get(field_name)
        if f is None:
            return []
        if f.graphs:
            return [g for g, d in f.graphs.items() if d.resolvable]
        if f.no_graph:
            return []
        return [g for g in self.graphs_of_type(type_name)]

    def field_in_graph(self, type_name: str, field_name: str, graph: str) -> FieldInGraph | None:
        f = self.types[type_name].fields.get(field_name)
        if f is None:
            return None
        if f.graphs:
            return f.graphs.get(graph)
        if f.no_graph:
            return None
        return FieldInGraph() if graph in self.graphs_of_type(type_name) else None

    def keys(self, type_name: str, graph: str) -> list[Key]:
        t = self.types.get(type_name)
        if t is None or graph not in t.graphs:
            return []
        return t.graphs[graph].keys

    def is_interface_object(self, type_name: str, graph: str) -> bool:
        t = self.types.get(type_name)
        return bool(t and graph in t.graphs and t.graphs[graph].is_interface_object)

    def possible_types(self, type_name: str, graph: str | None = None) -> tuple[str, ...]:
        """Object types a value of `type_name` can be, in the supergraph or in one subgraph."""
        ck = (type_name, graph)
        cached = self._possible_cache.get(ck)
        if cached is not None:
            return cached
        t = self.types[type_name]
        out: list[str] = []
        if t.kind == OBJECT:
            out = [type_name]
        elif t.kind == UNION:
            if graph is None:
                out = list(t.members)
            elif t.members_in:
                out = [m for m in t.members if m in t.members_in.get(graph, ())]
            else:
                out = [m for m in t.members if graph in self.graphs_of_type(m)]
        elif t.kind == INTERFACE:
            for o in self.types.values():
                if o.kind != OBJECT or type_name not in o.interfaces:
                    continue
                if graph is None:
                    out.append(o.name)
                elif o.implements_in:
                    if type_name in o.implements_in.get(graph, ()):
                        out.append(o.name)
                elif graph in self.graphs_of_type(o.name):
                    out.append(o.name)
        res = tuple(out)
        self._possible_cache[ck] = res
        return res

    def enum_values_in_graph(self, enum_name: str) -> dict[str, set[str]]:
        """Unused by planning; kept for the API-schema derivation of enum values."""
        out: dict[str, set[str]] = {}
        for d in self.document.definitions:
            if isinstance(d, EnumTypeDefinitionNode) and d.name.value == enum_name:
                for v in d.values or ():
                    out[v.name.value] = _enum_graphs(v)
        return out

    def url_of(self, graph: str) -> str:
        return self.subgraphs[graph].url

    def name_of(self, graph: str) -> str:
        return self.subgraphs[graph].name


def _enum_graphs(v: EnumValueDefinitionNode) -> set[str]:
    return {str(_args(d)["graph"]) for d in v.directives or () if d.name.value == "join__enumValue"}
