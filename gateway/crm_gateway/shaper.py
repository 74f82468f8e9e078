"""Projects the merged subgraph data onto the client's selection.

Subgraph responses carry extra fields (keys, `@requires` inputs, `__typename`) and know
nothing of the client's fragments. This walks the client operation over the API schema,
keeping exactly what was asked, resolving fragments by runtime type, and applying GraphQL's
null propagation for non-null fields.
"""

from __future__ import annotations

from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLEnumType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLScalarType,
    GraphQLSchema,
    InlineFragmentNode,
    SelectionNode,
)
from graphql.type import is_abstract_type

from crm_gateway.planner import INTROSPECTION_ROOT_FIELDS, conflict_alias

_MISSING = object()
_BUBBLE = object()  # a non-null field came out null: the parent must become null

# (response key, field name, field type, sub-selections, fast path): the fast path code is
# 1 for a nullable scalar, 2 for a non-null scalar (no lists, no enum), 0 otherwise.
CollectedField = tuple[str, str, Any, tuple[SelectionNode, ...], int]


class Shaper:
    """Per-document shaping; caches field collection per (selection, type, conditions)."""

    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: dict[str, FragmentDefinitionNode],
        condition_names: list[str],
    ) -> None:
        self.schema = schema
        self.fragments = fragments
        self.condition_names = condition_names
        self._cache: dict[tuple[int, str, tuple[bool, ...]], list[CollectedField]] = {}

    def shape(
        self,
        root_type: GraphQLObjectType,
        selections: tuple[SelectionNode, ...],
        data: dict[str, Any],
        variables: dict[str, Any],
        errors: list[dict[str, Any]],
    ) -> dict[str, Any] | None:
        run = _Run(self, variables, errors)
        out = run.object(root_type, selections, data, [])
        return None if out is _BUBBLE else out  # type: ignore[return-value]

    def collect(
        self, obj_type: GraphQLObjectType, selections: tuple[SelectionNode, ...], run: _Run
    ) -> list[CollectedField]:
        ck = (id(selections), obj_type.name, run.cond_key)
        hit = self._cache.get(ck)
        if hit is not None:
            return hit
        grouped: dict[str, list[FieldNode]] = {}
        self._collect(obj_type, selections, run, grouped, set())
        out: list[CollectedField] = []
        for key, nodes in grouped.items():
            name = nodes[0].name.value
            subs = tuple(s for n in nodes if n.selection_set for s in n.selection_set.selections)
            fdef = obj_type.fields.get(name)
            ftype = fdef.type if fdef else None
            fast = 0
            if isinstance(ftype, GraphQLScalarType):
                fast = 1
            elif isinstance(ftype, GraphQLNonNull) and isinstance(ftype.of_type, GraphQLScalarType):
                fast = 2
            out.append((key, name, ftype, subs, fast))
        self._cache[ck] = out
        return out

    def _collect(
        self,
        obj_type: GraphQLObjectType,
        selections: tuple[SelectionNode, ...] | list[SelectionNode],
        run: _Run,
        out: dict[str, list[FieldNode]],
        seen: set[str],
    ) -> None:
        for s in selections:
            if not run.included(s):
                continue
            if isinstance(s, FieldNode):
                out.setdefault(s.alias.value if s.alias else s.name.value, []).append(s)
            elif isinstance(s, InlineFragmentNode):
                if s.type_condition is None or self._applies(s.type_condition.name.value, obj_type):
                    self._collect(obj_type, s.selection_set.selections, run, out, seen)
            elif isinstance(s, FragmentSpreadNode):
                name = s.name.value
                frag = self.fragments.get(name)
                if frag is None or name in seen:
                    continue
                if self._applies(frag.type_condition.name.value, obj_type):
                    seen.add(name)
                    self._collect(obj_type, frag.selection_set.selections, run, out, seen)

    def _applies(self, type_condition: str, obj_type: GraphQLObjectType) -> bool:
        if type_condition == obj_type.name:
            return True
        t = self.schema.get_type(type_condition)
        return t is not None and is_abstract_type(t) and self.schema.is_sub_type(t, obj_type)


class _Run:
    __slots__ = ("_error_paths", "_pathless", "cond_key", "errors", "shaper", "variables")

    def __init__(self, shaper: Shaper, variables: dict[str, Any], errors: list[dict]) -> None:
        self.shaper = shaper
        self.variables = variables
        self.errors = errors
        self.cond_key = tuple(bool(variables.get(n)) for n in shaper.condition_names)
        self._error_paths: list[tuple[Any, ...]] | None = None
        self._pathless = False

    def included(self, node: SelectionNode) -> bool:
        for d in node.directives or ():
            name = d.name.value
            if name not in ("skip", "include"):
                continue
            for a in d.arguments or ():
                if a.name.value != "if":
                    continue
                v = a.value
                val = (
                    bool(self.variables.get(v.name.value))
                    if v.kind == "variable"
                    else bool(getattr(v, "value", False))
                )
                if (name == "skip" and val) or (name == "include" and not val):
                    return False
        return True

    def object(
        self,
        obj_type: GraphQLObjectType,
        selections: tuple[SelectionNode, ...],
        value: dict[str, Any],
        path: list[Any],
    ) -> Any:
        out: dict[str, Any] = {}
        for key, name, ftype, subs, fast in self.shaper.collect(obj_type, selections, self):
            if fast:
                raw = value.get(key, _MISSING)
                if raw is not _MISSING and (raw is not None or fast == 1):
                    out[key] = raw
                    continue
            if name == "__typename":
                out[key] = obj_type.name
                continue
            if name in INTROSPECTION_ROOT_FIELDS and not path:
                out[key] = value.get(key)
                continue
            if ftype is None:
                out[key] = None
                continue
            raw = value.get(key, _MISSING)
            if raw is _MISSING:
                raw = value.get(conflict_alias(key, obj_type.name))
            v = self.value(ftype, subs, raw, [*path, key], obj_type.name, name)
            if v is _BUBBLE:
                return _BUBBLE
            out[key] = v
        return out

    def value(
        self,
        t: GraphQLOutputType,
        subs: tuple[SelectionNode, ...],
        raw: Any,
        path: list[Any],
        parent: str,
        field: str,
    ) -> Any:
        if isinstance(t, GraphQLNonNull):
            v = self.value(t.of_type, subs, raw, path, parent, field)
            if v is None or v is _BUBBLE:
                if v is None and not self._has_error_at(path):
                    self.errors.append(
                        {
                            "message": "Cannot return null for non-nullable field "
                            f"{parent}.{field}.",
                            "path": path,
                        }
                    )
                return _BUBBLE
            return v
        if raw is None:
            return None
        if isinstance(t, GraphQLList):
            if not isinstance(raw, list):
                return None
            items = []
            for i, item in enumerate(raw):
                v = self.value(t.of_type, subs, item, [*path, i], parent, field)
                if v is _BUBBLE:
                    return None
                items.append(v)
            return items
        if isinstance(t, GraphQLObjectType):
            if not isinstance(raw, dict):
                return None
            v = self.object(t, subs, raw, path)
            return None if v is _BUBBLE else v
        if is_abstract_type(t):
            if not isinstance(raw, dict):
                return None
            schema = self.shaper.schema
            tn = raw.get("__typename")
            runtime = t if tn is None else schema.get_type(str(tn))
            if (
                runtime is not None
                and is_abstract_type(runtime)
                and (
                    runtime is t or schema.is_sub_type(t, runtime)  # type: ignore[arg-type]
                )
            ):
                # An @interfaceObject subgraph only knows the interface; when the client
                # needs no concrete type, the planner did not ask for one.
                v = self.object(runtime, subs, raw, path)  # type: ignore[arg-type]
                return None if v is _BUBBLE else v
            if not isinstance(runtime, GraphQLObjectType) or not schema.is_sub_type(
                t,  # type: ignore[arg-type]
                runtime,
            ):
                self.errors.append(
                    {
                        "message": f"Could not resolve the runtime type of {parent}.{field}.",
                        "path": path,
                    }
                )
                return None
            v = self.object(runtime, subs, raw, path)
            return None if v is _BUBBLE else v
        if isinstance(t, GraphQLEnumType) and raw not in t.values:
            self.errors.append(
                {"message": f"Enum {t.name} cannot represent value: {raw!r}", "path": path}
            )
            return None
        return raw

    def _has_error_at(self, path: list[Any]) -> bool:
        """Whether a subgraph error already explains a null at or below `path`."""
        if self._error_paths is None:
            self._error_paths = [tuple(e["path"]) for e in self.errors if e.get("path")]
            self._pathless = any(not e.get("path") for e in self.errors)
        if self._pathless:
            return True
        tp = tuple(path)
        n = len(tp)
        return any(p[:n] == tp or tp[: len(p)] == p for p in self._error_paths)
