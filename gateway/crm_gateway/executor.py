"""Runs a query plan: sends fetches, batches entity representations, merges by path.

All fetch results merge into one response tree (plain dicts). Entity fetches read the objects
found at their paths in that tree, so a later fetch sees whatever earlier fetches added.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson

from crm_gateway.plan import (
    ConditionNode,
    EntityInput,
    FetchNode,
    FlattenNode,
    ParallelNode,
    PlanNode,
    QueryPlan,
    SequenceNode,
)
from crm_gateway.selection import SelTree
from crm_gateway.subgraph_client import SubgraphClient, SubgraphFailure
from crm_gateway.supergraph import OBJECT, Supergraph

_MISSING = object()


@dataclass
class ExecutionState:
    variables: dict[str, Any]
    headers: dict[str, str]
    data: dict[str, Any] = field(default_factory=dict)
    errors: list[dict[str, Any]] = field(default_factory=list)
    fetch_count: int = 0


class Executor:
    def __init__(self, supergraph: Supergraph, client: SubgraphClient) -> None:
        self.sg = supergraph
        self.client = client
        self._object_types = frozenset(n for n, t in supergraph.types.items() if t.kind == OBJECT)

    async def execute(
        self, plan: QueryPlan, variables: dict[str, Any], headers: dict[str, str]
    ) -> ExecutionState:
        state = ExecutionState(variables, headers)
        if plan.node is not None:
            await self._run(plan.node, state)
        return state

    async def _run(self, node: PlanNode, state: ExecutionState) -> None:
        if isinstance(node, SequenceNode):
            for n in node.nodes:
                await self._run(n, state)
        elif isinstance(node, ParallelNode):
            await asyncio.gather(*(self._run(n, state) for n in node.nodes))
        elif isinstance(node, FlattenNode):
            await self._entity_fetch(node.node, state)
        elif isinstance(node, FetchNode):
            await self._root_fetch(node, state)
        elif isinstance(node, ConditionNode):
            value = bool(state.variables.get(node.condition))
            branch = node.if_clause if value else node.else_clause
            if branch is not None:
                await self._run(branch, state)

    def _variables(self, fetch: FetchNode, state: ExecutionState) -> dict[str, Any]:
        return {v: state.variables[v] for v in fetch.variable_names if v in state.variables}

    async def _root_fetch(self, fetch: FetchNode, state: ExecutionState) -> None:
        state.fetch_count += 1
        try:
            result = await self.client.send(
                fetch.service, fetch.operation, self._variables(fetch, state), state.headers
            )
        except SubgraphFailure as exc:
            state.errors.append(exc.to_error())
            return
        data = result.get("data")
        if isinstance(data, dict):
            self._merge(state.data, data)
        for err in result.get("errors") or ():
            state.errors.append(_subgraph_error(err, fetch.service_name, None))

    async def _entity_fetch(self, fetch: FetchNode, state: ExecutionState) -> None:
        assert fetch.inputs is not None
        representations: list[dict[str, Any]] = []
        index: dict[bytes, int] = {}
        targets: list[tuple[dict[str, Any], list[Any], int]] = []
        for path, inputs in fetch.inputs:
            for obj, concrete in _walk(state.data, path, 0, []):
                inp = _input_for(obj, inputs)
                if inp is None:
                    continue
                rep = _project(obj, inp.requires)
                if rep is None:
                    continue  # a key field is null or missing: nothing to look up
                rep["__typename"] = inp.typename
                ck = orjson.dumps(rep, option=orjson.OPT_SORT_KEYS)
                i = index.get(ck)
                if i is None:
                    i = index[ck] = len(representations)
                    representations.append(rep)
                targets.append((obj, concrete, i))
        if not representations:
            return
        variables = self._variables(fetch, state)
        variables["representations"] = representations
        state.fetch_count += 1
        try:
            result = await self.client.send(
                fetch.service, fetch.operation, variables, state.headers
            )
        except SubgraphFailure as exc:
            err = exc.to_error()
            if targets:
                err["path"] = targets[0][1]
            state.errors.append(err)
            return
        data = result.get("data") or {}
        entities = data.get("_entities") if isinstance(data, dict) else None
        if isinstance(entities, list):
            for obj, _, i in targets:
                ent = entities[i] if i < len(entities) else None
                if isinstance(ent, dict):
                    self._merge(obj, ent)
        errors = result.get("errors") or ()
        if errors:
            by_index: dict[int, list[list[Any]]] = {}
            for _, concrete, i in targets:
                by_index.setdefault(i, []).append(concrete)
            for err in errors:
                path = err.get("path")
                if isinstance(path, list) and len(path) >= 2 and path[0] == "_entities":
                    for concrete in by_index.get(path[1], [None]):  # type: ignore[list-item]
                        mapped = None if concrete is None else concrete + list(path[2:])
                        state.errors.append(_subgraph_error(err, fetch.service_name, mapped))
                else:
                    fallback = targets[0][1] if targets else None
                    state.errors.append(_subgraph_error(err, fetch.service_name, fallback))

    def _merge(self, target: dict[str, Any], source: dict[str, Any]) -> None:
        for k, v in source.items():
            cur = target.get(k, _MISSING)
            if cur is _MISSING or cur is None:
                target[k] = v
            elif isinstance(cur, dict) and isinstance(v, dict):
                self._merge(cur, v)
            elif isinstance(cur, list) and isinstance(v, list) and len(cur) == len(v):
                for j, item in enumerate(v):
                    if isinstance(cur[j], dict) and isinstance(item, dict):
                        self._merge(cur[j], item)
                    else:
                        cur[j] = item
            elif k == "__typename":
                # An @interfaceObject subgraph answers with the interface name; the concrete
                # type another subgraph told us wins.
                if v in self._object_types or cur not in self._object_types:
                    target[k] = v
            else:
                target[k] = v


def _walk(
    value: Any, path: tuple[str, ...], i: int, concrete: list[Any]
) -> Iterator[tuple[dict[str, Any], list[Any]]]:
    """Objects at `path` (lists flattened at any depth), with their concrete paths."""
    if value is None:
        return
    if isinstance(value, list):
        for j, item in enumerate(value):
            yield from _walk(item, path, i, [*concrete, j])
        return
    if not isinstance(value, dict):
        return
    while i < len(path) and path[i] == "@":
        i += 1
    if i == len(path):
        yield value, concrete
        return
    key = path[i]
    yield from _walk(value.get(key), path, i + 1, [*concrete, key])


def _input_for(obj: dict[str, Any], inputs: list[EntityInput]) -> EntityInput | None:
    tn = obj.get("__typename")
    for inp in inputs:
        if tn in inp.accepts:
            return inp
    return None


def _project(obj: dict[str, Any], recipe: SelTree) -> dict[str, Any] | None:
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
            sub = _project(obj, fr)
            if sub is None:
                return None
            out.update(sub)
    return out


def _project_value(v: Any, recipe: SelTree) -> Any:
    if isinstance(v, list):
        items = [_project_value(x, recipe) for x in v]
        return None if any(x is None for x in items) else items
    if isinstance(v, dict):
        sub = _project(v, recipe)
        if sub is not None and "__typename" in recipe.fields and "__typename" in v:
            sub["__typename"] = v["__typename"]
        return sub
    return v


def _subgraph_error(err: Any, service: str, path: list[Any] | None) -> dict[str, Any]:
    if not isinstance(err, dict):
        return {"message": str(err), "extensions": {"serviceName": service}}
    out: dict[str, Any] = {"message": err.get("message", "subgraph error")}
    if path is not None:
        out["path"] = path
    elif isinstance(err.get("path"), list):
        out["path"] = err["path"]
    ext = dict(err.get("extensions") or {})
    ext.setdefault("serviceName", service)
    out["extensions"] = ext
    return out
