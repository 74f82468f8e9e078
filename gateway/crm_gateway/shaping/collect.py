"""Field collection over the API schema under fixed `@skip`/`@include` values."""

from __future__ import annotations

from collections.abc import Mapping

from graphql import (
    FragmentDefinitionNode,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLUnionType,
)

from crm_gateway.field_collection import FieldCollection

# The type an object is shaped as: its object type, or an interface when an
# `@interfaceObject` subgraph could not say which object it is.
ObjectType = GraphQLObjectType | GraphQLInterfaceType


class ClientFields(FieldCollection[ObjectType]):
    """Collects the client's fields over the API schema, for an object's runtime type."""

    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: Mapping[str, FragmentDefinitionNode],
        conditions: Mapping[str, bool],
    ) -> None:
        super().__init__(fragments, conditions)
        self.schema = schema

    def applies(self, type_condition: str | None, on: ObjectType) -> bool:
        if type_condition is None or type_condition == on.name:
            return True
        t = self.schema.get_type(type_condition)
        return isinstance(t, (GraphQLInterfaceType, GraphQLUnionType)) and self.schema.is_sub_type(
            t, on
        )

    def runtime_type(
        self, t: GraphQLInterfaceType | GraphQLUnionType, typename: object
    ) -> ObjectType | None:
        """The type to shape an abstract value as; None when the value cannot be `t`."""
        runtime = t if typename is None else self.schema.get_type(str(typename))
        if isinstance(runtime, GraphQLInterfaceType) and (
            runtime is t or self.schema.is_sub_type(t, runtime)
        ):
            # An @interfaceObject subgraph only knows the interface; when the client needs
            # no concrete type, the planner did not ask for one.
            return runtime
        if isinstance(runtime, GraphQLObjectType) and self.schema.is_sub_type(t, runtime):
            return runtime
        return None
