"""A subscription's plan: the root field's fetch at its subgraph, which becomes the stream,
and the rest of the plan, run for every event over what the stream delivered.

The planner plans a subscription like any operation: a root fetch (of kind `subscription`)
to the one subgraph owning the root field, then entity fetches (Flatten) level by level for
the fields other subgraphs resolve. Here that plan is cut after its root fetch; each event
is the root fetch's answer, and the remainder fills it in with batched `_entities` calls.
"""

from __future__ import annotations

from dataclasses import dataclass

from crm_gateway.plan import FetchNode, PlanNode, QueryPlan, SequenceNode
from crm_gateway.planning.errors import PlanningError


@dataclass(frozen=True)
class LivePlan:
    source: FetchNode  # the subscription at its subgraph
    rest: PlanNode | None  # what other subgraphs add to each event


def split(plan: QueryPlan) -> LivePlan:
    node = plan.node
    if _is_source(node):
        assert isinstance(node, FetchNode)
        return LivePlan(node, None)
    if isinstance(node, SequenceNode) and node.nodes and _is_source(node.nodes[0]):
        first, rest = node.nodes[0], node.nodes[1:]
        assert isinstance(first, FetchNode)
        return LivePlan(first, rest[0] if len(rest) == 1 else SequenceNode(list(rest)))
    raise PlanningError("a subscription must start with its root field's subgraph")


def _is_source(node: PlanNode | None) -> bool:
    return isinstance(node, FetchNode) and node.operation_kind == "subscription"
