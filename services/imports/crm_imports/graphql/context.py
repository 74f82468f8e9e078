"""Per-request GraphQL context: the use cases' scope (the caller in their workspace)."""

from __future__ import annotations

from dataclasses import dataclass

from strawberry.types import Info

from ..usecases.export_scope import ExportScope
from ..usecases.scope import Scope


@dataclass
class GraphQLContext:
    scope: Scope
    exports: ExportScope | None = None


ContextInfo = Info[GraphQLContext, None]
