"""The federation v2.9 subgraph schema."""

from __future__ import annotations

from crm_kit.graphql_schema import SubgraphSchema, subgraph_schema

from .mutation import Mutation
from .query import Query
from .subscriptions import Subscription


def build_schema() -> SubgraphSchema:
    return subgraph_schema(query=Query, mutation=Mutation, subscription=Subscription, types=[])


schema = build_schema()
