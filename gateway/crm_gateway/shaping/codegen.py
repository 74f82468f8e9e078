"""Generates one Python function per client selection and object type.

Shaping visits every object of every response (667 for the board query), so the generic
walk's per-field dispatch was its main cost. Here each (object type, selection) becomes the
straight-line code a person would write for it: one dict lookup per field, the type's
null and list handling inlined, a call per child object. Functions are generated on the
first object that needs them, so fragments used in many places cost only what data reaches.

Only names from the validated document and the schema (GraphQL names: `[_A-Za-z][_0-9A-Za-z]*`)
are written into the source, each through `repr`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from graphql import (
    FieldNode,
    GraphQLEnumType,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLUnionType,
    SelectionNode,
)

from crm_gateway.planner import INTROSPECTION_ROOT_FIELDS, conflict_alias
from crm_gateway.shaping.collect import ClientFields, ObjectType
from crm_gateway.shaping.run import BUBBLE, MISSING, Path, Run

# Shapes one raw value (an object for an ObjectFn) at a path; returns it or BUBBLE.
ValueFn = Callable[[Any, Path, Run], Any]


class Codegen:
    def __init__(self, fields: ClientFields) -> None:
        self.fields = fields

    def object_fn(
        self, obj_type: ObjectType, selections: Sequence[SelectionNode], root: bool = False
    ) -> ValueFn:
        source = _ObjectSource(self, obj_type)
        for key, nodes in self.fields.collect(selections, obj_type).items():
            source.field(key, nodes, root)
        return source.build()

    def abstract_fn(
        self,
        t: GraphQLInterfaceType | GraphQLUnionType,
        subs: tuple[SelectionNode, ...],
        parent: str,
        field: str,
    ) -> ValueFn:
        by_typename: dict[str | None, ValueFn | None] = {}

        def shape(raw: Any, path: Path, run: Run) -> Any:
            if raw.__class__ is not dict:
                return None
            tn = raw.get("__typename")
            key = tn if tn is None or isinstance(tn, str) else str(tn)
            fn = by_typename.get(key, MISSING)
            if fn is MISSING:
                runtime = self.fields.runtime_type(t, tn)
                fn = by_typename[key] = None if runtime is None else self.object_fn(runtime, subs)
            if fn is None:
                run.error(f"Could not resolve the runtime type of {parent}.{field}.", path)
                return None
            v = fn(raw, path, run)
            return None if v is BUBBLE else v

        return shape


class _ObjectSource:
    """The source of one generated object function and the callables it refers to."""

    def __init__(self, gen: Codegen, obj_type: ObjectType) -> None:
        self.gen = gen
        self.obj_type = obj_type
        self.lines = ["def shape(value, path, run):", "    out = {}", "    get = value.get"]
        self.refs: list[ValueFn] = []  # `F[i]` in the source
        self._names = 0

    def build(self) -> ValueFn:
        self.lines.append("    return out")
        namespace: dict[str, Any] = {"_M": MISSING, "_B": BUBBLE, "F": self.refs}
        code = compile("\n".join(self.lines), f"<shape {self.obj_type.name}>", "exec")
        exec(code, namespace)  # the source holds repr'd GraphQL names only (see above)
        fn: ValueFn = namespace["shape"]
        return fn

    def field(self, key: str, nodes: list[FieldNode], root: bool) -> None:
        name = nodes[0].name.value
        k = repr(key)
        fdef = self.obj_type.fields.get(name)
        if name == "__typename":
            self.lines.append(f"    out[{k}] = {self.obj_type.name!r}")
        elif root and name in INTROSPECTION_ROOT_FIELDS:
            self.lines.append(f"    out[{k}] = get({k})")  # answered by the gateway itself
        elif fdef is None:
            self.lines.append(f"    out[{k}] = None")
        else:
            alias = repr(conflict_alias(key, self.obj_type.name))
            self.lines += [
                f"    raw = get({k}, _M)",
                "    if raw is _M:",
                f"        raw = get({alias})",
            ]
            subs = tuple(s for n in nodes if n.selection_set for s in n.selection_set.selections)
            self.value(fdef.type, subs, "raw", "v", f"(path, {k})", ["return _B"], 1, name)
            self.lines.append(f"    out[{k}] = v")

    def value(
        self,
        t: GraphQLOutputType,
        subs: tuple[SelectionNode, ...],
        src: str,
        dst: str,
        path: str,
        bubble: list[str],
        depth: int,
        field: str,
    ) -> None:
        """Lines computing `dst` from `src`; `bubble` runs when a non-null value is null."""
        pad = "    " * depth
        if isinstance(t, GraphQLNonNull):
            self.value(t.of_type, subs, src, dst, path, bubble, depth, field)
            parent = repr(self.obj_type.name)
            self.lines += [
                f"{pad}if {dst} is None:",
                f"{pad}    run.null_error({parent}, {field!r}, {path})",
                *(f"{pad}    {line}" for line in bubble),
            ]
        elif isinstance(t, GraphQLList):
            self._list(t, subs, src, dst, path, depth, field)
        elif isinstance(t, GraphQLObjectType):
            i = self._ref(self._lazy_object(t, subs))
            self.lines += [
                f"{pad}{dst} = F[{i}]({src}, {path}, run) if {src}.__class__ is dict else None",
                f"{pad}if {dst} is _B:",
                f"{pad}    {dst} = None",
            ]
        elif isinstance(t, (GraphQLInterfaceType, GraphQLUnionType)):
            i = self._ref(self.gen.abstract_fn(t, subs, self.obj_type.name, field))
            self.lines.append(f"{pad}{dst} = F[{i}]({src}, {path}, run)")
        elif isinstance(t, GraphQLEnumType):
            i = self._ref(_enum(t))
            self.lines.append(f"{pad}{dst} = F[{i}]({src}, {path}, run)")
        else:
            self.lines.append(f"{pad}{dst} = {src}")

    def _list(
        self,
        t: GraphQLList[Any],
        subs: tuple[SelectionNode, ...],
        src: str,
        dst: str,
        path: str,
        depth: int,
        field: str,
    ) -> None:
        """A list: a null item where the item is non-null makes the whole list null."""
        pad = "    " * depth
        self._names += 1
        item, x, j = f"item{self._names}", f"x{self._names}", f"j{self._names}"
        self.lines += [
            f"{pad}if {src}.__class__ is list:",
            f"{pad}    {dst} = []",
            f"{pad}    for {j}, {item} in enumerate({src}):",
        ]
        bubble = [f"{dst} = None", "break"]
        self.value(t.of_type, subs, item, x, f"({path}, {j})", bubble, depth + 2, field)
        self.lines += [f"{pad}        {dst}.append({x})", f"{pad}else:", f"{pad}    {dst} = None"]

    def _ref(self, fn: ValueFn) -> int:
        self.refs.append(fn)
        return len(self.refs) - 1

    def _lazy_object(self, t: GraphQLObjectType, subs: tuple[SelectionNode, ...]) -> ValueFn:
        """A stand-in that generates the object's function on first use, then steps aside."""
        refs = self.refs
        i = len(refs)
        gen = self.gen

        def first_call(raw: Any, path: Path, run: Run) -> Any:
            fn = gen.object_fn(t, subs)
            refs[i] = fn
            return fn(raw, path, run)

        return first_call


def _enum(t: GraphQLEnumType) -> ValueFn:
    values = t.values

    def shape(raw: Any, path: Path, run: Run) -> Any:
        if raw is None or (isinstance(raw, str) and raw in values):
            return raw
        run.error(f"Enum {t.name} cannot represent value: {raw!r}", path)
        return None

    return shape
