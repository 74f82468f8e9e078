"""Field collection over the API schema under fixed `@skip`/`@include` values."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLUnionType,
    InlineFragmentNode,
    SelectionNode,
    VariableNode,
)

# The type an object is shaped as: its object type, or an interface when an
# `@interfaceObject` subgraph could not say which object it is.
ObjectType = GraphQLObjectType | GraphQLInterfaceType


class ClientFields:
    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: Mapping[str, FragmentDefinitionNode],
        conditions: Mapping[str, bool],
    ) -> None:
        self.schema = schema
        self.fragments = fragments
        self.conditions = conditions

    def collect(
        self, obj_type: ObjectType, selections: Sequence[SelectionNode]
    ) -> dict[str, list[FieldNode]]:
        """The client's fields on an object of `obj_type`, by response key."""
        out: dict[str, list[FieldNode]] = {}
        self._collect(obj_type, selections, out, set())
        return out

    def _collect(
        self,
        obj_type: ObjectType,
        selections: Sequence[SelectionNode],
        out: dict[str, list[FieldNode]],
        seen: set[str],
    ) -> None:
        for s in selections:
            if not self._included(s):
                continue
            if isinstance(s, FieldNode):
                out.setdefault(s.alias.value if s.alias else s.name.value, []).append(s)
            elif isinstance(s, InlineFragmentNode):
                if s.type_condition is None or self._applies(s.type_condition.name.value, obj_type):
                    self._collect(obj_type, s.selection_set.selections, out, seen)
            elif isinstance(s, FragmentSpreadNode):
                name = s.name.value
                frag = self.fragments.get(name)
                if frag is None or name in seen:
                    continue
                if self._applies(frag.type_condition.name.value, obj_type):
                    seen.add(name)
                    self._collect(obj_type, frag.selection_set.selections, out, seen)

    def _included(self, node: SelectionNode) -> bool:
        for d in node.directives or ():
            name = d.name.value
            if name not in ("skip", "include"):
                continue
            for a in d.arguments or ():
                if a.name.value != "if":
                    continue
                v = a.value
                if isinstance(v, VariableNode):
                    val = self.conditions.get(v.name.value, False)
                else:
                    val = bool(getattr(v, "value", False))
                if (name == "skip" and val) or (name == "include" and not val):
                    return False
        return True

    def _applies(self, type_condition: str, obj_type: ObjectType) -> bool:
        if type_condition == obj_type.name:
            return True
        t = self.schema.get_type(type_condition)
        return isinstance(t, (GraphQLInterfaceType, GraphQLUnionType)) and self.schema.is_sub_type(
            t, obj_type
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
