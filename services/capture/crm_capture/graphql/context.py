"""Per-request GraphQL context: the use cases' scope (the caller in their workspace) and
the public address the tracking snippet is served from."""

from __future__ import annotations

from dataclasses import dataclass

from ..usecases.scope import Scope


@dataclass
class GraphQLContext:
    scope: Scope


def context_for(scope: Scope) -> GraphQLContext:
    return GraphQLContext(scope=scope)
