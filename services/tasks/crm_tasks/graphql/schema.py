"""The federated schema (Federation v2.9)."""

from __future__ import annotations

import strawberry

from .mutation import Mutation
from .query import Query
from .types import Contact, Deal, Task, Team


def build_schema() -> strawberry.federation.Schema:
    return strawberry.federation.Schema(
        query=Query,
        mutation=Mutation,
        types=[Task, Team, Deal, Contact],
        federation_version="2.9",
    )


schema = build_schema()
