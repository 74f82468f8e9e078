"""The federation v2.9 subgraph schema."""

from __future__ import annotations

import strawberry

from .entities import Company, Contact
from .mutation import Mutation
from .query import Query
from .types import Deal, Pipeline


def build_schema() -> strawberry.federation.Schema:
    return strawberry.federation.Schema(
        query=Query,
        mutation=Mutation,
        types=[Deal, Pipeline, Contact, Company],
        federation_version="2.9",
    )


schema = build_schema()
