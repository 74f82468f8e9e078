"""Objects whose selected fields are all plain attributes, completed in one pass.

Why: a list of 25 rows asks graphql-core, per row and per field, for a resolve-info
object, the resolver (Strawberry's wrapper around `getattr`), an awaitable check and the
completion of the value by its type: about a dozen Python calls per field, most of a
25-row list's CPU above the floor once its rows are held in memory (`edges { node { id
} }`: 50 fields a page). When every field selected on an object (and on the objects below
it) is a basic Strawberry field (no resolver, no field extension, no arguments) of a leaf,
list or object type, the result is fully decided by the attributes: this executor reads
them and coerces each leaf as graphql-core would, and builds the same dictionaries.

A field with a resolver marked `row_value` (sync, reads only the source and
`info.context`, no side effect) is computed in the same pass: the resolver is called with
an info that holds only the context, and with its arguments when the document gives them
as literals (converted once, when the plan is made: the same for every request of the
document; an argument given by a variable leaves the object to graphql-core). When it
raises or answers something to await, the object falls back to graphql-core, which calls
it again with the real info (and words the error at its path): e.g. a money field hidden
from the caller's role.

Anything else on the way (another resolver, an abstract or `is_type_of` type, an awaitable or an
exception as a value, a null where the type says non-null, a value a scalar refuses, an
iterable that is not a list or tuple) falls back to graphql-core for that whole object: a
plain read has no side effect, so reading again gives graphql-core's answer and errors,
with their paths. The plan (which fields, which coercions) is worked out from
graphql-core's own field collection (so `@skip` and `@include` hold as they do there):
once per object type and selection for the life of a cached document without directives,
else per request.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from operator import attrgetter
from typing import Any, TypeVar

from graphql import (
    GraphQLField,
    GraphQLLeafType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLResolveInfo,
    GraphQLUnionType,
    ListValueNode,
    ObjectValueNode,
    Undefined,
    ValueNode,
    VariableNode,
)
from graphql.execution.collect_fields import FieldDetailsList
from graphql.execution.values import get_argument_values
from graphql.pyutils import AwaitableOrValue, Path
from strawberry.execution.is_awaitable import optimized_is_awaitable
from strawberry.types.arguments import convert_arguments
from strawberry.types.base import StrawberryObjectDefinition
from strawberry.types.cast import TYPE_CAST_ATTRIBUTE

Complete = Callable[[Any], Any]
# Plans by object type and the identities of the field nodes selecting it (the nodes of a
# document its cache keeps alive).
SharedPlans = dict[tuple[GraphQLObjectType, tuple[int, ...]], Complete | None]
# Values that are never awaitable: the check per value is a type look-up for them.
PLAIN_VALUES = frozenset({str, int, float, bool, type(None), list, tuple, dict, datetime, date})
# Strawberry's resolver of a field that only reads an attribute (`is_basic_field`).
BASIC_RESOLVER = "_get_basic_result"
ROW_VALUE = "__crm_row_value__"
# The object type a union's value of a Python class resolves to (`_runtime_type`); a
# handful of unions and classes per schema, bounded all the same.
RuntimeTypes = dict[tuple[GraphQLUnionType, type], GraphQLObjectType]
_RUNTIME_TYPES: RuntimeTypes = {}
RUNTIME_TYPES_KEPT = 1024

F = TypeVar("F", bound=Callable[..., Any])


def row_value(resolver: F) -> F:
    """Marks a resolver `(self)` or `(self, info)` that is a plain value of its row: it
    answers at once (or raises, or answers an awaitable when it cannot: then graphql-core
    resolves the field as usual), reads nothing of `info` but `info.context` and changes
    nothing. A row whose fields are all plain or marked is completed in one pass."""
    setattr(resolver, ROW_VALUE, True)
    return resolver


class RowInfo:
    """What a marked resolver gets as `info` in the one-pass completion."""

    __slots__ = ("context",)

    def __init__(self, context: Any) -> None:
        self.context = context


class _Current:
    """The request whose object is being completed: plans are shared by the requests of
    a cached document, so a marked resolver's info is looked up as it runs. A plan runs
    synchronously from start to end (nothing awaited), so no other request's completion
    can interleave."""

    __slots__ = ("info",)

    def __init__(self) -> None:
        self.info = RowInfo(None)


_CURRENT = _Current()


class NotPlain(Exception):
    """This object is not completed here: graphql-core completes it."""


class PlainRows:
    """Mixed into graphql-core's executor (Strawberry's execution-context class): plain
    objects completed by `_plan`, everything else as before."""

    _plans: dict[tuple[GraphQLObjectType, int], tuple[FieldDetailsList, Complete | None]]
    # Plans kept across requests by the prepared document (`SharedPlans`), when its
    # selections do not depend on variables; None: worked out per request.
    _shared: SharedPlans | None

    def __init__(self, *args: Any, plain_plans: SharedPlans | None = None, **kwargs: Any) -> None:
        self._shared = plain_plans
        self._plans = {}
        super().__init__(*args, **kwargs)
        self._row_info = RowInfo(getattr(self, "context_value", None))

    def complete_object_value(
        self,
        return_type: GraphQLObjectType,
        field_details_list: FieldDetailsList,
        info: GraphQLResolveInfo[Any],
        path: Path,
        result: Any,
        position_context: Any,
    ) -> AwaitableOrValue[dict[str, Any]]:
        plan = self._object_plan(return_type, field_details_list)
        if plan is not None:
            _CURRENT.info = self._row_info
            try:
                return plan(result)  # type: ignore[no-any-return]
            except Exception:  # noqa: BLE001 - NotPlain, or a read graphql-core words
                pass
        return super().complete_object_value(  # type: ignore[misc, no-any-return]
            return_type, field_details_list, info, path, result, position_context
        )

    def complete_abstract_value(
        self,
        return_type: Any,
        field_details_list: FieldDetailsList,
        info: GraphQLResolveInfo[Any],
        path: Path,
        result: Any,
        position_context: Any,
    ) -> AwaitableOrValue[dict[str, Any]]:
        """A union's value whose object type is known by its Python class completed as that
        type at once; the rest as graphql-core does (Strawberry's union resolver).

        Why: `_entities` answers a board's 140 cards as members of the `_Entity` union, and
        per card Strawberry's resolver looked for a cast, walked the union's types asking
        each whether it is implemented by the value, and graphql-core checked the name it
        gave back (profiled: a fifth of the tasks service's CPU under the mix, as much as
        completing the cards themselves)."""
        if isinstance(return_type, GraphQLUnionType):
            runtime = _RUNTIME_TYPES.get((return_type, type(result)))
            if runtime is None:
                runtime = _learn_runtime_type(return_type, result, info)
            if runtime is not None and getattr(result, TYPE_CAST_ATTRIBUTE, None) is None:
                return self.complete_object_value(
                    runtime, field_details_list, info, path, result, position_context
                )
        return super().complete_abstract_value(  # type: ignore[misc, no-any-return]
            return_type, field_details_list, info, path, result, position_context
        )

    def _object_plan(
        self, return_type: GraphQLObjectType, field_details_list: FieldDetailsList
    ) -> Complete | None:
        plans = self._plans
        # Keyed as graphql-core memoises collected fields: the list's identity, the list
        # kept alive beside the plan so that identity is not reused during the request.
        key = (return_type, id(field_details_list))
        found = plans.get(key)
        if found is not None:
            return found[1]
        shared = self._shared
        if shared is not None:
            nodes = (return_type, tuple(id(details.node) for details in field_details_list))
            if nodes in shared:
                plan = shared[nodes]
                plans[key] = (field_details_list, plan)
                return plan
        plans[key] = (field_details_list, None)  # a cycle of types is not plain
        plan = self._make_object_plan(return_type, field_details_list)
        plans[key] = (field_details_list, plan)
        if shared is not None:
            shared[nodes] = plan
        return plan

    def _make_object_plan(
        self, return_type: GraphQLObjectType, field_details_list: FieldDetailsList
    ) -> Complete | None:
        if return_type.is_type_of is not None:
            return None
        collected = self.collect_subfields(return_type, field_details_list)  # type: ignore[attr-defined]
        grouped, new_defer_usages = collected[0], collected[1]
        if new_defer_usages:
            return None
        fields: list[tuple[str, Complete, Complete]] = []
        for key, group in grouped.items():
            name = group[0].node.name.value
            if name == "__typename":
                fields.append((key, _constant(None), _constant(return_type.name)))
                continue
            field = return_type.fields.get(name)
            if field is None:
                return None
            definition = field.extensions.get("strawberry-definition")
            if definition is None:
                return None
            basic = getattr(field.resolve, "__name__", None) == BASIC_RESOLVER
            given = any(details.node.arguments for details in group)
            if (
                basic
                and not given
                and definition.is_basic_field
                and definition.default_resolver is getattr
            ):
                read: Complete = attrgetter(definition.python_name)
            else:
                marked = self._marked(definition, field, group)
                if marked is None:
                    return None
                read = marked
            complete = self._value_plan(field.type, group)
            if complete is None:
                return None
            fields.append((key, read, complete))

        def plan(source: Any) -> dict[str, Any]:
            out: dict[str, Any] = {}
            for key, read, complete in fields:
                out[key] = complete(read(source))
            return out

        return plan

    def _marked(
        self, definition: Any, field: GraphQLField, group: FieldDetailsList
    ) -> Complete | None:
        """How a field whose resolver is marked `row_value` is read; None: it is not
        (another resolver, extensions or permissions, arguments given by variables:
        graphql-core's)."""
        resolver = definition.base_resolver
        if resolver is None or definition.extensions or definition.permission_classes:
            return None
        func = resolver.wrapped_func
        if not getattr(func, ROW_VALUE, False) or resolver.is_async:
            return None
        kwargs: dict[str, Any] = {}
        if definition.arguments:
            found = self._literal_arguments(definition, field, group)
            if found is None:
                return None
            kwargs = found
        if resolver.info_parameter is None:
            return _computed(lambda source: func(source, **kwargs))
        current = _CURRENT
        return _computed(lambda source: func(source, current.info, **kwargs))

    def _literal_arguments(
        self, definition: Any, field: GraphQLField, group: FieldDetailsList
    ) -> dict[str, Any] | None:
        """The field's arguments as its resolver gets them, when the document gives them
        as literals (the same for every request of the document, so the plan may keep
        them); None when a variable is among them or they do not convert (graphql-core's
        path then words any error)."""
        node = group[0].node
        if any(_has_variable(argument.value) for argument in node.arguments or ()):
            return None
        strawberry_schema = getattr(self.schema, "_strawberry_schema", None)  # type: ignore[attr-defined]
        if strawberry_schema is None:
            return None
        try:
            values = get_argument_values(field, node, None)
            return convert_arguments(
                values,
                definition.arguments,
                scalar_registry=strawberry_schema.schema_converter.scalar_registry,
                config=strawberry_schema.config,
            )
        except Exception:  # noqa: BLE001 - graphql-core's path reports it
            return None

    def _value_plan(self, type_: GraphQLOutputType, group: FieldDetailsList) -> Complete | None:
        """How a value of `type_` completes; None: not plainly."""
        if isinstance(type_, GraphQLNonNull):
            inner = self._value_plan(type_.of_type, group)
            if inner is None:
                return None

            def non_null(value: Any) -> Any:
                completed = inner(value)
                if completed is None:
                    raise NotPlain  # graphql-core raises the field error
                return completed

            return non_null
        if isinstance(type_, GraphQLList):
            item = self._value_plan(type_.of_type, group)
            if item is None:
                return None

            def listed(value: Any) -> Any:
                value = _settled(value)
                if value is None:
                    return None
                if not isinstance(value, list | tuple):
                    raise NotPlain
                return [item(element) for element in value]

            return listed
        if isinstance(type_, GraphQLLeafType):
            coerce = type_.coerce_output_value

            def leaf(value: Any) -> Any:
                value = _settled(value)
                if value is None:
                    return None
                try:
                    coerced = coerce(value)
                except Exception:  # noqa: BLE001 - graphql-core words the error
                    raise NotPlain from None
                if coerced is None or coerced is Undefined:
                    raise NotPlain
                return coerced

            return leaf
        if isinstance(type_, GraphQLObjectType):
            plan = self._object_plan(type_, group)
            if plan is None:
                return None

            def object_(value: Any) -> Any:
                value = _settled(value)
                return None if value is None else plan(value)

            return object_
        return None  # an interface or a union: the runtime type is graphql-core's


def _has_variable(value: ValueNode) -> bool:
    if isinstance(value, VariableNode):
        return True
    if isinstance(value, ListValueNode):
        return any(_has_variable(item) for item in value.values)
    if isinstance(value, ObjectValueNode):
        return any(_has_variable(item.value) for item in value.fields)
    return False


def _learn_runtime_type(
    union: GraphQLUnionType, result: Any, info: GraphQLResolveInfo[Any]
) -> GraphQLObjectType | None:
    """The object type `union`'s resolver gives `result` for every value of its class,
    when that cannot depend on the value: a Strawberry object type of its own (not
    generic: a generic's specialisation is told by its fields' values), not cast
    (`strawberry.cast` marks an instance), resolved to the type it defines; kept for
    the class. None: graphql-core resolves this value (and words any error)."""
    cls = type(result)
    definition = getattr(cls, "__strawberry_definition__", None)
    if (
        union.resolve_type is None
        or not isinstance(definition, StrawberryObjectDefinition)
        or definition.is_graphql_generic
        or definition.origin is not cls
        or getattr(result, TYPE_CAST_ATTRIBUTE, None) is not None
    ):
        return None
    try:
        name = union.resolve_type(result, info, union)
    except Exception:  # noqa: BLE001 - graphql-core resolves it again and words the error
        return None
    runtime = info.schema.get_type(name) if isinstance(name, str) else None
    if (
        isinstance(runtime, GraphQLObjectType)
        and info.schema.is_sub_type(union, runtime)
        and runtime.extensions.get("strawberry-definition") is definition
    ):
        if len(_RUNTIME_TYPES) >= RUNTIME_TYPES_KEPT:
            _RUNTIME_TYPES.clear()
        _RUNTIME_TYPES[(union, cls)] = runtime
        return runtime
    return None


def _constant(value: str | None) -> Complete:
    return lambda _: value


def _computed(compute: Complete) -> Complete:
    """A marked resolver's value, or NotPlain when it raises or answers an awaitable."""

    def read(source: Any) -> Any:
        try:
            value = compute(source)
        except Exception:  # noqa: BLE001 - graphql-core calls it again and words it
            raise NotPlain from None
        if type(value) not in PLAIN_VALUES and optimized_is_awaitable(value):
            close = getattr(value, "close", None)
            if close is not None:
                close()  # a coroutine not awaited here: graphql-core makes its own
            raise NotPlain
        return value

    return read


def _settled(value: Any) -> Any:
    """The value as it is (None for graphql-core's Undefined), or NotPlain when it is an
    exception or something to await."""
    if type(value) in PLAIN_VALUES:
        return value
    if value is Undefined:
        return None
    if isinstance(value, Exception) or optimized_is_awaitable(value):
        raise NotPlain
    return value
