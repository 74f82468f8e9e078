"""Per-request GraphQL context: the use cases' scope (the caller in their workspace)."""

from __future__ import annotations

from dataclasses import dataclass

from strawberry.types import Info

from ..usecases.scope import Scope


@dataclass
class GraphQLContext:
    scope: Scope


ContextInfo = Info[GraphQLContext, None]
