"""Runs a query plan: sends fetches, batches entity representations, merges by path.

All fetch results merge into one response tree (plain dicts). Entity fetches read the objects
found at their paths in that tree, so a later fetch sees whatever earlier fetches added.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import orjson

from crm_gateway.plan import (
    ConditionNode,
    FetchNode,
    FlattenNode,
    ParallelNode,
    PlanNode,
    QueryPlan,
    SequenceNode,
)
from crm_gateway.representations import concrete_paths, objects_at
from crm_gateway.subgraph_client import SubgraphClient, SubgraphFailure, is_mutation
from crm_gateway.supergraph import OBJECT, Supergraph
from crm_kit.idempotency import HEADER as IDEMPOTENCY_HEADER
from crm_kit.idempotency import STEP_HEADER

_MISSING: Any = object()


@dataclass
class ExecutionState:
    variables: dict[str, Any]
    headers: dict[str, str]
    data: dict[str, Any] = field(default_factory=dict)
    errors: list[dict[str, Any]] = field(default_factory=list)
    fetch_count: int = 0
    # Root mutation fetches sent so far, by subgraph (see `_keyed_step`).
    mutation_fetches: dict[str, int] = field(default_factory=dict)


@dataclass
class _Batch:
    """The representations of one entity fetch and where each answer goes."""

    representations: list[dict[str, Any]] = field(default_factory=list)
    # (object to merge the answer into, index of its representation)
    targets: list[tuple[dict[str, Any], int]] = field(default_factory=list)


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

    async def run(self, node: PlanNode, state: ExecutionState) -> None:
        """Runs `node` over a state that already holds data (a subscription's event: the
        rest of its plan fills in what other subgraphs resolve)."""
        await self._run(node, state)

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
                fetch.service,
                fetch.operation,
                self._variables(fetch, state),
                _keyed_step(fetch, state),
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
        batch = _collect(fetch, state.data)
        if not batch.representations:
            return
        variables = self._variables(fetch, state)
        variables["representations"] = batch.representations
        state.fetch_count += 1
        try:
            result = await self.client.send(
                fetch.service, fetch.operation, variables, state.headers
            )
        except SubgraphFailure as exc:
            err = exc.to_error()
            first = _paths_of(fetch, state.data, batch)[0]
            if first is not None:
                err["path"] = first
            state.errors.append(err)
            return
        data = result.get("data")
        entities = data.get("_entities") if isinstance(data, dict) else None
        if isinstance(entities, list):
            n = len(entities)
            for obj, i in batch.targets:
                ent = entities[i] if i < n else None
                if isinstance(ent, dict):
                    self._merge(obj, ent)
        errors = result.get("errors")
        if errors:
            state.errors.extend(_entity_errors(errors, fetch, state.data, batch))

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


def _collect(fetch: FetchNode, data: dict[str, Any]) -> _Batch:
    """Representations for the objects at the fetch's paths, each distinct one once."""
    batch = _Batch()
    index: dict[Any, int] = {}
    for keys, by_typename in fetch.representation_inputs():
        for obj in objects_at(data, keys):
            found = by_typename.get(obj.get("__typename"))
            if found is None:
                continue
            typename, projector = found
            rep = projector(obj)
            if rep is None:
                continue
            rep["__typename"] = typename
            ck = _dedupe_key(rep)
            i = index.get(ck)
            if i is None:
                i = index[ck] = len(batch.representations)
                batch.representations.append(rep)
            batch.targets.append((obj, i))
    return batch


def _dedupe_key(rep: dict[str, Any]) -> Any:
    """Equal representations give equal keys, whatever their field order."""
    try:
        return frozenset(rep.items())
    except TypeError:  # nested values (compound keys): compare their canonical JSON
        return orjson.dumps(rep, option=orjson.OPT_SORT_KEYS)


def _paths_of(fetch: FetchNode, data: dict[str, Any], batch: _Batch) -> list[list[Any] | None]:
    """The concrete response path of each target (None if the object has gone meanwhile)."""
    where: dict[int, list[Any]] = {}
    for keys, _ in fetch.representation_inputs():
        for obj, concrete in concrete_paths(data, keys):
            where.setdefault(id(obj), concrete)
    return [where.get(id(obj)) for obj, _ in batch.targets]


def _entity_errors(
    errors: Any, fetch: FetchNode, data: dict[str, Any], batch: _Batch
) -> list[dict[str, Any]]:
    """Subgraph errors with `_entities` paths mapped to the client's response paths."""
    paths = _paths_of(fetch, data, batch)
    by_index: dict[int, list[list[Any] | None]] = {}
    for (_, i), concrete in zip(batch.targets, paths, strict=True):
        by_index.setdefault(i, []).append(concrete)
    out: list[dict[str, Any]] = []
    for err in errors if isinstance(errors, list) else [errors]:
        path = err.get("path") if isinstance(err, dict) else None
        if (
            isinstance(path, list)
            and len(path) >= 2
            and path[0] == "_entities"
            and isinstance(path[1], int)
        ):
            for concrete in by_index.get(path[1], [None]):
                mapped = None if concrete is None else concrete + list(path[2:])
                out.append(_subgraph_error(err, fetch.service_name, mapped))
        else:
            out.append(_subgraph_error(err, fetch.service_name, paths[0] if paths else None))
    return out


def subgraph_error(err: Any, service: str, path: list[Any] | None) -> dict[str, Any]:
    """A subgraph's error as the client sees it (its service named, the path mapped)."""
    return _subgraph_error(err, service, path)


def _keyed_step(fetch: FetchNode, state: ExecutionState) -> dict[str, str]:
    """The headers of a root fetch. Root mutation fields run in order, so one client
    operation may send a subgraph several mutation fetches (A, then B elsewhere, then C):
    each is a request with a result of its own, so with an idempotency key the second and
    later carry their number (`crm-idempotency-step`), which the subgraph keys them by."""
    if IDEMPOTENCY_HEADER not in state.headers or not is_mutation(fetch.operation):
        return state.headers
    step = state.mutation_fetches.get(fetch.service, 0) + 1
    state.mutation_fetches[fetch.service] = step
    if step == 1:
        return state.headers
    return {**state.headers, STEP_HEADER: str(step)}


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
