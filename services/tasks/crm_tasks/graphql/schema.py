"""The federated schema (Federation v2.9)."""

from __future__ import annotations

from crm_kit.graphql_schema import SubgraphSchema, subgraph_schema

from .mutation import Mutation
from .query import Query
from .subscriptions import Subscription
from .types import Contact, Deal, Task, Team


def build_schema() -> SubgraphSchema:
    return subgraph_schema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        types=[Task, Team, Deal, Contact],
    )


schema = build_schema()
