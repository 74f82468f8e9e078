"""Projects the merged subgraph data onto the client's selection.

Subgraph responses carry extra fields (keys, `@requires` inputs, `__typename`) and know
nothing of the client's fragments. Shaping walks the client operation over the API schema,
keeping exactly what was asked, resolving fragments by runtime type, and applying GraphQL's
null propagation for non-null fields (one error per null, at the field that was null).

The walk is generated code (`crm_gateway.shaping`), built per document and `@skip`/`@include`
values, and reused by every request with the same document.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from graphql import FragmentDefinitionNode, GraphQLObjectType, GraphQLSchema, SelectionNode

from crm_gateway.shaping.codegen import Codegen, ValueFn
from crm_gateway.shaping.collect import ClientFields
from crm_gateway.shaping.run import BUBBLE, Run


class Shaper:
    """Shapes responses for one prepared document."""

    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: Mapping[str, FragmentDefinitionNode],
        condition_names: Sequence[str],
    ) -> None:
        self.schema = schema
        self.fragments = fragments
        self.condition_names = tuple(condition_names)
        self._roots: dict[tuple[str, tuple[bool, ...]], ValueFn] = {}

    def shape(
        self,
        root_type: GraphQLObjectType,
        selections: tuple[SelectionNode, ...],
        data: dict[str, Any],
        variables: Mapping[str, Any],
        errors: list[dict[str, Any]],
    ) -> dict[str, Any] | None:
        cond_key = tuple(bool(variables.get(n)) for n in self.condition_names)
        fn = self._roots.get((root_type.name, cond_key))
        if fn is None:
            conditions = dict(zip(self.condition_names, cond_key, strict=True))
            fields = ClientFields(self.schema, self.fragments, conditions)
            fn = Codegen(fields).object_fn(root_type, selections, root=True)
            self._roots[(root_type.name, cond_key)] = fn
        out = fn(data, None, Run(errors))
        return None if out is BUBBLE else out
