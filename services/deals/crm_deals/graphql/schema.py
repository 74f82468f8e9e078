"""The federation v2.9 subgraph schema."""

from __future__ import annotations

from crm_kit.graphql_schema import SubgraphSchema, subgraph_schema

from .entities import Company, Contact, Deal, Team
from .mutation import Mutation
from .query import Query
from .subscriptions import Subscription
from .types import Pipeline


def build_schema() -> SubgraphSchema:
    return subgraph_schema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        types=[Deal, Pipeline, Contact, Company, Team],
    )


schema = build_schema()
