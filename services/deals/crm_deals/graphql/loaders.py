"""DataLoaders: a batch of entity representations or deal ids costs one read."""

from __future__ import annotations

from strawberry.dataloader import DataLoader

from ..domain.deal import Deal
from ..domain.pipeline import Pipeline
from ..usecases import pipelines
from ..usecases.deals import deals_by_ids
from ..usecases.scope import Scope


def deal_loader(scope: Scope) -> DataLoader[str, Deal | None]:
    async def load(ids: list[str]) -> list[Deal | None]:
        found = await deals_by_ids(scope, ids)
        return [found.get(i) for i in ids]

    return DataLoader(load_fn=load)


def pipeline_loader(scope: Scope) -> DataLoader[str, Pipeline | None]:
    async def load(ids: list[str]) -> list[Pipeline | None]:
        # By id, kept for the request by the scope (a mutation's own read serves).
        return [await pipelines.find_pipeline(scope, i) for i in ids]

    return DataLoader(load_fn=load)
