"""What the abstract-type and ancestor planners need from the field walk that calls them:
a Protocol, so that they depend on this small surface and not on the walk's module (which
imports them), keeping the planning modules free of import circles."""

from __future__ import annotations

from typing import Protocol

from graphql import FieldNode

from crm_gateway.planning.collect import FieldCollector
from crm_gateway.planning.groups import FetchGroups, Position
from crm_gateway.planning.jumps import EntityJumps
from crm_gateway.planning.sources import Provided, Sources
from crm_gateway.supergraph import Supergraph


class FieldWalk(Protocol):
    sg: Supergraph
    collector: FieldCollector
    sources: Sources
    groups: FetchGroups
    jumps: EntityJumps

    def plan_field(
        self,
        at: Position,
        type_name: str,
        key: str,
        nodes: list[FieldNode],
        provided: Provided,
    ) -> None: ...

    def subgraph_type(self, graph: str, type_name: str, fname: str) -> str | None: ...
