"""Derives the client-facing (API) schema from the supergraph.

Clients must never see how the graph is split: all join/link machinery goes, and so does
everything marked `@inaccessible`. Fields whose type became inaccessible go too, and object
types left with no fields are dropped, as composition would refuse them otherwise.
"""

from __future__ import annotations

from typing import Any

from graphql import (
    DirectiveDefinitionNode,
    DirectiveNode,
    DocumentNode,
    EnumTypeDefinitionNode,
    GraphQLSchema,
    InputObjectTypeDefinitionNode,
    InterfaceTypeDefinitionNode,
    ObjectTypeDefinitionNode,
    SchemaDefinitionNode,
    UnionTypeDefinitionNode,
    build_ast_schema,
)

from crm_gateway.supergraph import Supergraph, named_type

# Directives of link-imported specs that only the gateway reads.
_SPEC_DIRECTIVES = frozenset(
    {"link", "tag", "authenticated", "requiresScopes", "policy", "cost", "listSize"}
)
# Directives the client schema keeps on its elements.
_KEPT_USAGES = frozenset({"deprecated", "specifiedBy", "oneOf"})


def _replace(node: Any, **changes: Any) -> Any:
    values = {k: getattr(node, k, None) for k in node.keys}
    values.update(changes)
    return node.__class__(**values)


def _kept(directives: Any) -> tuple[DirectiveNode, ...]:
    return tuple(d for d in directives or () if d.name.value in _KEPT_USAGES)


def build_api_schema(supergraph: Supergraph) -> GraphQLSchema:
    inacc = supergraph.inaccessible_name

    def hidden(node: Any) -> bool:
        return any(d.name.value == inacc for d in node.directives or ())

    hidden_types = {
        d.name.value
        for d in supergraph.document.definitions
        if hasattr(d, "name")
        and not isinstance(d, DirectiveDefinitionNode)
        and (Supergraph.is_machinery(d.name.value) or hidden(d))
    }

    def visible_field(f: Any) -> bool:
        return not hidden(f) and named_type(f.type) not in hidden_types

    def clean_args(args: Any) -> tuple:
        return tuple(
            _replace(a, directives=_kept(a.directives))
            for a in args or ()
            if not hidden(a) and named_type(a.type) not in hidden_types
        )

    out: list[Any] = []
    dropped = True
    while dropped:  # dropping an empty type can empty another; iterate to a fixpoint
        dropped = False
        out = []
        for d in supergraph.document.definitions:
            if isinstance(d, SchemaDefinitionNode):
                ops = tuple(o for o in d.operation_types if o.type.name.value not in hidden_types)
                out.append(_replace(d, directives=(), operation_types=ops))
                continue
            if isinstance(d, DirectiveDefinitionNode):
                name = d.name.value
                if name.startswith(("join__", "context")) or name == inacc:
                    continue
                if name in _SPEC_DIRECTIVES:
                    continue
                out.append(d)
                continue
            name = getattr(d, "name", None)
            if name is None or name.value in hidden_types:
                continue
            if isinstance(d, (ObjectTypeDefinitionNode, InterfaceTypeDefinitionNode)):
                fields = tuple(
                    _replace(f, directives=_kept(f.directives), arguments=clean_args(f.arguments))
                    for f in d.fields or ()
                    if visible_field(f)
                )
                if not fields:
                    hidden_types.add(name.value)
                    dropped = True
                    continue
                ifaces = tuple(i for i in d.interfaces or () if i.name.value not in hidden_types)
                out.append(
                    _replace(d, directives=_kept(d.directives), fields=fields, interfaces=ifaces)
                )
            elif isinstance(d, UnionTypeDefinitionNode):
                members = tuple(m for m in d.types or () if m.name.value not in hidden_types)
                if not members:
                    hidden_types.add(name.value)
                    dropped = True
                    continue
                out.append(_replace(d, directives=_kept(d.directives), types=members))
            elif isinstance(d, EnumTypeDefinitionNode):
                values = tuple(
                    _replace(v, directives=_kept(v.directives))
                    for v in d.values or ()
                    if not hidden(v)
                )
                out.append(_replace(d, directives=_kept(d.directives), values=values))
            elif isinstance(d, InputObjectTypeDefinitionNode):
                fields = tuple(
                    _replace(f, directives=_kept(f.directives))
                    for f in d.fields or ()
                    if not hidden(f) and named_type(f.type) not in hidden_types
                )
                out.append(_replace(d, directives=_kept(d.directives), fields=fields))
            else:
                out.append(_replace(d, directives=_kept(d.directives)))
    return build_ast_schema(DocumentNode(definitions=tuple(out)), assume_valid_sdl=True)
