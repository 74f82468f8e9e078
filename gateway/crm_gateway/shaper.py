"""Projects the merged subgraph data onto the client's selection.

Subgraph responses carry extra fields (keys, `@requires` inputs, `__typename`) and know
nothing of the client's fragments. This walks the client operation over the API schema,
keeping exactly what was asked, resolving fragments by runtime type, and applying GraphQL's
null propagation for non-null fields.

Shaping runs for every object of every response, so the walk is compiled: per selection and
object type, once per document and `@skip`/`@include` values, into a list of field steps and
small value functions (closures), built lazily as data reaches them. Response paths are
linked tuples, turned into lists only for an error.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLEnumType,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLSchema,
    GraphQLUnionType,
    InlineFragmentNode,
    SelectionNode,
    VariableNode,
)

from crm_gateway.planner import INTROSPECTION_ROOT_FIELDS, conflict_alias

_MISSING: Any = object()
_BUBBLE: Any = object()  # a non-null field came out null: the parent must become null

# A response path as a linked list: (parent, key) or None at the root.
Path = tuple[Any, str | int] | None
# Shapes one raw value at a path; returns the client value, or _BUBBLE.
ValueFn = Callable[[Any, Path, "_Run"], Any]
ObjectType = GraphQLObjectType | GraphQLInterfaceType

# Field step kinds: how an object's field is produced.
_LEAF = 0  # nullable scalar: the raw value
_LEAF_NON_NULL = 1  # non-null scalar: the raw value, or a null error
_TYPENAME = 2  # the object's type name
_NULL = 3  # a field the API schema does not have here
_AS_IS = 4  # an introspection root field, answered by the gateway
_VALUE = 5  # anything else: through its value function

# (response key, conflict alias, kind, value function, parent type name, field name)
FieldStep = tuple[str, str, int, ValueFn | None, str, str]


class Shaper:
    """Per-document shaping; compiles the walk per `@skip`/`@include` values."""

    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: Mapping[str, FragmentDefinitionNode],
        condition_names: Sequence[str],
    ) -> None:
        self.schema = schema
        self.fragments = fragments
        self.condition_names = tuple(condition_names)
        self._roots: dict[tuple[str, tuple[bool, ...]], list[FieldStep]] = {}

    def shape(
        self,
        root_type: GraphQLObjectType,
        selections: tuple[SelectionNode, ...],
        data: dict[str, Any],
        variables: Mapping[str, Any],
        errors: list[dict[str, Any]],
    ) -> dict[str, Any] | None:
        cond_key = tuple(bool(variables.get(n)) for n in self.condition_names)
        steps = self._roots.get((root_type.name, cond_key))
        if steps is None:
            compiler = _Compiler(self, dict(zip(self.condition_names, cond_key, strict=True)))
            steps = compiler.field_steps(root_type, selections, root=True)
            self._roots[(root_type.name, cond_key)] = steps
        out = _shape_object(steps, data, None, _Run(errors))
        return None if out is _BUBBLE else out


class _Run:
    """Per-request state: the error list and what is known about error paths."""

    __slots__ = ("_error_paths", "_pathless", "errors")

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        self.errors = errors
        self._error_paths: list[tuple[Any, ...]] | None = None
        self._pathless = False

    def error(self, message: str, path: Path) -> None:
        self.errors.append({"message": message, "path": _path_list(path)})
        self._error_paths = None

    def null_error(self, parent: str, field: str, path: Path) -> None:
        """A non-null field is null: say so, unless a subgraph error already explains it."""
        if not self._has_error_at(_path_list(path)):
            self.error(f"Cannot return null for non-nullable field {parent}.{field}.", path)

    def _has_error_at(self, path: list[Any]) -> bool:
        """Whether an error already explains a null at or below `path`."""
        if self._error_paths is None:
            self._error_paths = [tuple(e["path"]) for e in self.errors if e.get("path")]
            self._pathless = any(not e.get("path") for e in self.errors)
        if self._pathless:
            return True
        tp = tuple(path)
        n = len(tp)
        return any(p[:n] == tp or tp[: len(p)] == p for p in self._error_paths)


def _path_list(path: Path) -> list[Any]:
    out: list[Any] = []
    while path is not None:
        path, key = path
        out.append(key)
    out.reverse()
    return out


def _shape_object(steps: list[FieldStep], value: dict[str, Any], path: Path, run: _Run) -> Any:
    out: dict[str, Any] = {}
    get = value.get
    for key, alias, kind, fn, parent, field in steps:
        if kind == _TYPENAME:
            out[key] = parent
            continue
        raw = get(key, _MISSING)
        if raw is _MISSING:
            raw = get(alias)
        if kind == _LEAF:
            out[key] = raw
        elif kind == _LEAF_NON_NULL:
            if raw is None:
                run.null_error(parent, field, (path, key))
                return _BUBBLE
            out[key] = raw
        elif kind == _VALUE:
            v = fn(raw, (path, key), run)  # type: ignore[misc]
            if v is _BUBBLE:
                return _BUBBLE
            out[key] = v
        else:
            out[key] = raw if kind == _AS_IS else None
    return out


class _Compiler:
    """Builds field steps and value functions under fixed `@skip`/`@include` values."""

    def __init__(self, shaper: Shaper, conditions: dict[str, bool]) -> None:
        self.schema = shaper.schema
        self.fragments = shaper.fragments
        self.conditions = conditions

    # --- fields of one object ----------------------------------------------------------

    def field_steps(
        self, obj_type: ObjectType, selections: Sequence[SelectionNode], root: bool = False
    ) -> list[FieldStep]:
        grouped: dict[str, list[FieldNode]] = {}
        self._collect(obj_type, selections, grouped, set())
        steps: list[FieldStep] = []
        for key, nodes in grouped.items():
            name = nodes[0].name.value
            alias = conflict_alias(key, obj_type.name)
            fdef = obj_type.fields.get(name)
            if name == "__typename":
                steps.append((key, alias, _TYPENAME, None, obj_type.name, name))
            elif root and name in INTROSPECTION_ROOT_FIELDS:
                steps.append((key, alias, _AS_IS, None, obj_type.name, name))
            elif fdef is None:
                steps.append((key, alias, _NULL, None, obj_type.name, name))
            else:
                subs = tuple(
                    s for n in nodes if n.selection_set for s in n.selection_set.selections
                )
                kind, fn = self._field_kind(fdef.type, subs, obj_type.name, name)
                steps.append((key, alias, kind, fn, obj_type.name, name))
        return steps

    def _field_kind(
        self, t: GraphQLOutputType, subs: tuple[SelectionNode, ...], parent: str, field: str
    ) -> tuple[int, ValueFn | None]:
        if _is_plain_leaf(t):
            return _LEAF, None
        if isinstance(t, GraphQLNonNull) and _is_plain_leaf(t.of_type):
            return _LEAF_NON_NULL, None
        return _VALUE, self.value_fn(t, subs, parent, field)

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

    # --- values ------------------------------------------------------------------------

    def value_fn(
        self, t: GraphQLOutputType, subs: tuple[SelectionNode, ...], parent: str, field: str
    ) -> ValueFn:
        if isinstance(t, GraphQLNonNull):
            return _non_null(self.value_fn(t.of_type, subs, parent, field), parent, field)
        if isinstance(t, GraphQLList):
            return _list(self.value_fn(t.of_type, subs, parent, field))
        if isinstance(t, GraphQLObjectType):
            return _object(lambda: self.field_steps(t, subs))
        if isinstance(t, (GraphQLInterfaceType, GraphQLUnionType)):
            return self._abstract(t, subs, parent, field)
        if isinstance(t, GraphQLEnumType):
            return _enum(t)
        return _leaf

    def _abstract(
        self,
        t: GraphQLInterfaceType | GraphQLUnionType,
        subs: tuple[SelectionNode, ...],
        parent: str,
        field: str,
    ) -> ValueFn:
        by_typename: dict[Any, list[FieldStep] | None] = {}

        def resolve(typename: Any) -> list[FieldStep] | None:
            runtime = self._runtime_type(t, typename)
            return None if runtime is None else self.field_steps(runtime, subs)

        def shape(raw: Any, path: Path, run: _Run) -> Any:
            if raw is None or not isinstance(raw, dict):
                return None
            tn = raw.get("__typename")
            key = tn if tn is None or isinstance(tn, str) else str(tn)
            if key in by_typename:
                steps = by_typename[key]
            else:
                steps = by_typename[key] = resolve(tn)
            if steps is None:
                run.error(f"Could not resolve the runtime type of {parent}.{field}.", path)
                return None
            v = _shape_object(steps, raw, path, run)
            return None if v is _BUBBLE else v

        return shape

    def _runtime_type(
        self, t: GraphQLInterfaceType | GraphQLUnionType, typename: Any
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


def _is_plain_leaf(t: GraphQLOutputType) -> bool:
    """A scalar (not an enum): its value goes to the client as the subgraph sent it."""
    return not isinstance(t, (GraphQLNonNull, GraphQLList, GraphQLEnumType)) and not (
        isinstance(t, (GraphQLObjectType, GraphQLInterfaceType, GraphQLUnionType))
    )


def _leaf(raw: Any, path: Path, run: _Run) -> Any:
    return raw


def _non_null(inner: ValueFn, parent: str, field: str) -> ValueFn:
    def shape(raw: Any, path: Path, run: _Run) -> Any:
        v = inner(raw, path, run)
        if v is None:
            run.null_error(parent, field, path)
            return _BUBBLE
        return v

    return shape


def _list(inner: ValueFn) -> ValueFn:
    def shape(raw: Any, path: Path, run: _Run) -> Any:
        if not isinstance(raw, list):
            return None
        items = []
        for i, item in enumerate(raw):
            v = inner(item, (path, i), run)
            if v is _BUBBLE:
                return None
            items.append(v)
        return items

    return shape


def _object(compile_steps: Callable[[], list[FieldStep]]) -> ValueFn:
    compiled: list[list[FieldStep]] = []  # filled on first use: only where data goes

    def shape(raw: Any, path: Path, run: _Run) -> Any:
        if not isinstance(raw, dict):
            return None
        if not compiled:
            compiled.append(compile_steps())
        v = _shape_object(compiled[0], raw, path, run)
        return None if v is _BUBBLE else v

    return shape


def _enum(t: GraphQLEnumType) -> ValueFn:
    values = t.values

    def shape(raw: Any, path: Path, run: _Run) -> Any:
        if raw is None or (isinstance(raw, str) and raw in values):
            return raw
        run.error(f"Enum {t.name} cannot represent value: {raw!r}", path)
        return None

    return shape
