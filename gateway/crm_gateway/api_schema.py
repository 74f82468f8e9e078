"""Derives the client-facing (API) schema from the supergraph.

Clients must never see how the graph is split: all join/link machinery goes, and so does
everything marked `@inaccessible`. Fields whose type became inaccessible go too, and object
types left with no fields are dropped, as composition would refuse them otherwise.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeVar

from graphql import (
    DefinitionNode,
    DirectiveDefinitionNode,
    DirectiveNode,
    DocumentNode,
    EnumTypeDefinitionNode,
    FieldDefinitionNode,
    GraphQLSchema,
    InputObjectTypeDefinitionNode,
    InputValueDefinitionNode,
    InterfaceTypeDefinitionNode,
    Node,
    ObjectTypeDefinitionNode,
    SchemaDefinitionNode,
    TypeDefinitionNode,
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

N = TypeVar("N", bound=Node)


def _replace(node: N, **changes: Any) -> N:
    values = {k: getattr(node, k, None) for k in node.keys}
    values.update(changes)
    return node.__class__(**values)


def _kept(directives: Iterable[DirectiveNode] | None) -> tuple[DirectiveNode, ...]:
    return tuple(d for d in directives or () if d.name.value in _KEPT_USAGES)


def build_api_schema(supergraph: Supergraph) -> GraphQLSchema:
    definitions = _ApiDefinitions(supergraph).build()
    return build_ast_schema(DocumentNode(definitions=definitions), assume_valid_sdl=True)


class _ApiDefinitions:
    """The supergraph's definitions minus machinery and everything inaccessible."""

    def __init__(self, supergraph: Supergraph) -> None:
        self.document = supergraph.document
        self.inaccessible = supergraph.inaccessible_name
        self.hidden_types = {
            d.name.value
            for d in self.document.definitions
            if isinstance(d, TypeDefinitionNode)
            and (Supergraph.is_machinery(d.name.value) or self.hidden(d))
        }

    def hidden(self, node: Any) -> bool:
        return any(d.name.value == self.inaccessible for d in node.directives or ())

    def build(self) -> tuple[DefinitionNode, ...]:
        # Dropping an empty type can empty another: iterate to a fixpoint.
        while True:
            before = len(self.hidden_types)
            out = [d for d in map(self.clean, self.document.definitions) if d is not None]
            if len(self.hidden_types) == before:
                return tuple(out)

    def clean(self, d: DefinitionNode) -> DefinitionNode | None:
        if isinstance(d, SchemaDefinitionNode):
            ops = tuple(o for o in d.operation_types if o.type.name.value not in self.hidden_types)
            return _replace(d, directives=(), operation_types=ops)
        if isinstance(d, DirectiveDefinitionNode):
            name = d.name.value
            gateway_only = name.startswith(("join__", "context")) or name == self.inaccessible
            return None if gateway_only or name in _SPEC_DIRECTIVES else d
        if not isinstance(d, TypeDefinitionNode) or d.name.value in self.hidden_types:
            return None
        return self.clean_type(d)

    def clean_type(self, d: TypeDefinitionNode) -> TypeDefinitionNode | None:
        kept = _kept(d.directives)
        if isinstance(d, (ObjectTypeDefinitionNode, InterfaceTypeDefinitionNode)):
            fields = tuple(self.clean_field(f) for f in d.fields or () if self.visible(f))
            if not fields:
                return self.drop(d)
            ifaces = tuple(i for i in d.interfaces or () if i.name.value not in self.hidden_types)
            return _replace(d, directives=kept, fields=fields, interfaces=ifaces)
        if isinstance(d, UnionTypeDefinitionNode):
            members = tuple(m for m in d.types or () if m.name.value not in self.hidden_types)
            return _replace(d, directives=kept, types=members) if members else self.drop(d)
        if isinstance(d, EnumTypeDefinitionNode):
            values = tuple(
                _replace(v, directives=_kept(v.directives))
                for v in d.values or ()
                if not self.hidden(v)
            )
            return _replace(d, directives=kept, values=values)
        if isinstance(d, InputObjectTypeDefinitionNode):
            inputs = tuple(
                _replace(f, directives=_kept(f.directives))
                for f in d.fields or ()
                if self.visible(f)
            )
            return _replace(d, directives=kept, fields=inputs)
        return _replace(d, directives=kept)

    def drop(self, d: TypeDefinitionNode) -> TypeDefinitionNode | None:
        """Hides a type left empty (composition would refuse it); the caller returns None."""
        self.hidden_types.add(d.name.value)
        return None

    def visible(self, f: FieldDefinitionNode | InputValueDefinitionNode) -> bool:
        return not self.hidden(f) and named_type(f.type) not in self.hidden_types

    def clean_field(self, f: FieldDefinitionNode) -> FieldDefinitionNode:
        args = tuple(
            _replace(a, directives=_kept(a.directives))
            for a in f.arguments or ()
            if self.visible(a)
        )
        return _replace(f, directives=_kept(f.directives), arguments=args)
