"""Query plan nodes: what the planner produces and the executor runs.

Plans are immutable once built and cached, so they hold only data (operation text, paths,
representation recipes), never per-request state.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from crm_gateway.representations import Projector, compile_projector
from crm_gateway.selection import SelTree


@dataclass(frozen=True)
class EntityInput:
    """How to turn one response object into an `_entities` representation.

    `accepts` lists the `__typename` values (as found in the response) this input applies to;
    `typename` is what the representation says, which differs for `@interfaceObject`
    (the subgraph knows the interface, not the concrete type).
    """

    typename: str
    accepts: frozenset[str]
    requires: SelTree


# Per response path (list markers dropped): accepted `__typename` -> (the typename the
# representation says, its projector).
RepresentationInputs = list[tuple[tuple[str, ...], dict[Any, tuple[str, Projector]]]]


@dataclass
class FetchNode:
    service: str  # join__Graph enum value
    service_name: str
    operation: str
    operation_kind: str  # "query" or "mutation"
    variable_names: tuple[str, ...]
    # For entity fetches: response paths (list markers "@" included for reading) and their
    # inputs; None for root fetches.
    inputs: list[tuple[tuple[str, ...], list[EntityInput]]] | None = None
    id: int = 0
    _compiled: RepresentationInputs | None = field(default=None, repr=False, compare=False)

    def representation_inputs(self) -> RepresentationInputs:
        """The inputs compiled for the executor, once per plan (plans are cached)."""
        if self._compiled is None:
            compiled: RepresentationInputs = []
            for path, inputs in self.inputs or ():
                by_typename: dict[Any, tuple[str, Projector]] = {}
                for inp in inputs:
                    projector = compile_projector(inp.requires)
                    for tn in inp.accepts:
                        by_typename.setdefault(tn, (inp.typename, projector))
                compiled.append((tuple(k for k in path if k != "@"), by_typename))
            self._compiled = compiled
        return self._compiled

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "kind": "Fetch",
            "serviceName": self.service_name,
            "operationKind": self.operation_kind,
            "variableUsages": list(self.variable_names),
            "operation": self.operation,
        }
        if self.inputs is not None:
            out["requires"] = [
                {"path": ".".join(path), "typename": i.typename, "selection": i.requires.print()}
                for path, inputs in self.inputs
                for i in inputs
            ]
        return out


@dataclass
class FlattenNode:
    """Runs an entity fetch for the objects found at one or more response paths."""

    paths: list[tuple[str, ...]]
    node: FetchNode

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": "Flatten",
            "paths": [".".join(p) for p in self.paths],
            "node": self.node.to_json(),
        }


@dataclass
class SequenceNode:
    nodes: list[PlanNode] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"kind": "Sequence", "nodes": [n.to_json() for n in self.nodes]}


@dataclass
class ParallelNode:
    nodes: list[PlanNode] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"kind": "Parallel", "nodes": [n.to_json() for n in self.nodes]}


@dataclass
class ConditionNode:
    """Branches on a Boolean variable used by `@skip`/`@include` (negated for `@skip`)."""

    condition: str
    if_clause: PlanNode | None
    else_clause: PlanNode | None

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": "Condition",
            "condition": self.condition,
            "ifClause": self.if_clause.to_json() if self.if_clause else None,
            "elseClause": self.else_clause.to_json() if self.else_clause else None,
        }


PlanNode = FetchNode | FlattenNode | SequenceNode | ParallelNode | ConditionNode


@dataclass
class QueryPlan:
    node: PlanNode | None

    def to_json(self) -> dict[str, Any]:
        return {"kind": "QueryPlan", "node": self.node.to_json() if self.node else None}


def iter_fetches(node: PlanNode | None) -> list[FetchNode]:
    """All fetches in a plan (both branches of conditions), for tests and metrics."""
    out: list[FetchNode] = []
    if node is None:
        return out
    if isinstance(node, FetchNode):
        out.append(node)
    elif isinstance(node, FlattenNode):
        out.append(node.node)
    elif isinstance(node, (SequenceNode, ParallelNode)):
        for n in node.nodes:
            out.extend(iter_fetches(n))
    elif isinstance(node, ConditionNode):
        out.extend(iter_fetches(node.if_clause))
        out.extend(iter_fetches(node.else_clause))
    return out
