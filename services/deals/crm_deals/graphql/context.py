"""Per-request GraphQL context: the use cases' scope (the caller in their workspace) and
the DataLoaders that batch entity look-ups (one store read per batch)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from strawberry.dataloader import DataLoader

from ..domain.deal import Deal
from ..domain.pipeline import Pipeline
from ..usecases.scope import Scope
from .loaders import deal_loader, pipeline_loader


@dataclass
class DealsContext:
    scope: Scope
    deals: DataLoader[str, Deal | None]
    pipelines: DataLoader[str, Pipeline | None]

    @property
    def now(self) -> datetime:
        return self.scope.now()


def context_for(scope: Scope) -> DealsContext:
    return DealsContext(scope=scope, deals=deal_loader(scope), pipelines=pipeline_loader(scope))
