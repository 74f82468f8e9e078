"""The federation v2.9 subgraph schema."""

from __future__ import annotations

from strawberry.tools import merge_types

from crm_kit.graphql_schema import SubgraphSchema, subgraph_schema

from .exports import ExportMutation, ExportQuery, ExportSubscription
from .mutation import Mutation
from .query import Query
from .subscriptions import Subscription
from .types import UPLOAD_SCALAR, Upload


def build_schema() -> SubgraphSchema:
    return subgraph_schema(
        query=merge_types("Query", (Query, ExportQuery)),
        mutation=merge_types("Mutation", (Mutation, ExportMutation)),
        subscription=merge_types("Subscription", (Subscription, ExportSubscription)),
        types=[],
        scalar_map={Upload: UPLOAD_SCALAR},
    )


schema = build_schema()
