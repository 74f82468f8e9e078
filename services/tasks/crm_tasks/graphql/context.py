"""Per-request GraphQL context: the use cases' scope (the caller in their workspace) and
the DataLoaders that batch look-ups (one store read per batch)."""

from __future__ import annotations

from dataclasses import dataclass, field

from strawberry.types import Info

from ..usecases.scope import Scope
from .loaders import Loaders


@dataclass
class GraphQLContext:
    scope: Scope
    loaders: Loaders = field(init=False)

    def __post_init__(self) -> None:
        self.loaders = Loaders(self.scope)


def context_for(scope: Scope) -> GraphQLContext:
    return GraphQLContext(scope)


ContextInfo = Info[GraphQLContext, None]
