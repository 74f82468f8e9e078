"""Entity representations: the objects found at a fetch's paths, projected onto its recipe.

A recipe (the `requires` selection of an `EntityInput`) says which response keys hold the
key and `@requires` fields and what each is called in the representation. Most recipes are
flat (`{ __typename id }`), so each is compiled once per plan into a projector, with a fast
path for flat recipes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from crm_gateway.selection import SelTree

_MISSING: Any = object()

# Object -> its representation (without `__typename`), or None when a key field is missing.
Projector = Callable[[dict[str, Any]], dict[str, Any] | None]


def compile_projector(recipe: SelTree) -> Projector:
    flat = not recipe.fragments and all(f.sub is None for f in recipe.fields.values())
    if not flat:
        return lambda obj: project(obj, recipe)
    pairs = tuple((f.key, f.name) for f in recipe.fields.values() if f.name != "__typename")

    def project_flat(obj: dict[str, Any]) -> dict[str, Any] | None:
        rep: dict[str, Any] = {}
        for key, name in pairs:
            v = obj.get(key)
            if v is None:
                return None  # a key field is null or missing: nothing to look up
            rep[name] = v
        return rep

    return project_flat


def project(obj: dict[str, Any], recipe: SelTree) -> dict[str, Any] | None:
    """The general projection: nested fields, lists and per-type fragments."""
    out: dict[str, Any] = {}
    for key, fs in recipe.fields.items():
        if fs.name == "__typename":
            continue
        v = obj.get(key, _MISSING)
        if v is _MISSING or v is None:
            return None
        if fs.sub is not None:
            v = _project_value(v, fs.sub)
            if v is None:
                return None
        out[fs.name] = v
    tn = obj.get("__typename")
    for tc, fr in recipe.fragments.items():
        if tc == tn:
            sub = project(obj, fr)
            if sub is None:
                return None
            out.update(sub)
    return out


def _project_value(v: Any, recipe: SelTree) -> Any:
    if isinstance(v, list):
        items = [_project_value(x, recipe) for x in v]
        return None if any(x is None for x in items) else items
    if isinstance(v, dict):
        sub = project(v, recipe)
        if sub is not None and "__typename" in recipe.fields and "__typename" in v:
            sub["__typename"] = v["__typename"]
        return sub
    return v


def objects_at(data: dict[str, Any], keys: tuple[str, ...]) -> list[dict[str, Any]]:
    """The objects at a response path (lists flattened at any depth), in response order."""
    level: list[Any] = [data]
    for key in keys:
        nxt: list[Any] = []
        for obj in level:
            child = obj.get(key)
            if isinstance(child, dict):
                nxt.append(child)
            elif isinstance(child, list):
                _flatten(child, nxt)
        level = nxt
    return level


def _flatten(items: list[Any], out: list[Any]) -> None:
    for item in items:
        if isinstance(item, dict):
            out.append(item)
        elif isinstance(item, list):
            _flatten(item, out)


def concrete_paths(
    value: Any, keys: tuple[str, ...], i: int = 0, concrete: tuple[Any, ...] = ()
) -> Iterator[tuple[dict[str, Any], list[Any]]]:
    """Objects at a path with their concrete response paths (for errors only: slower)."""
    if isinstance(value, list):
        for j, item in enumerate(value):
            yield from concrete_paths(item, keys, i, (*concrete, j))
        return
    if not isinstance(value, dict):
        return
    if i == len(keys):
        yield value, list(concrete)
        return
    yield from concrete_paths(value.get(keys[i]), keys, i + 1, (*concrete, keys[i]))
