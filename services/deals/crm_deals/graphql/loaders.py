"""DataLoaders: a batch of entity representations or deal ids costs one query."""

from __future__ import annotations

from strawberry.dataloader import DataLoader

from ..domain.deal import Deal
from ..domain.pipeline import Pipeline
from ..usecases.deals import DealService


class Loaders:
    def __init__(self, deals: DealService) -> None:
        self._deals = deals
        self.deal: DataLoader[str, Deal | None] = DataLoader(load_fn=self._load_deals)
        self.pipeline: DataLoader[str, Pipeline | None] = DataLoader(load_fn=self._load_pipelines)

    async def _load_deals(self, ids: list[str]) -> list[Deal | None]:
        return await self._deals.many(ids)

    async def _load_pipelines(self, ids: list[str]) -> list[Pipeline | None]:
        # By `_id` (kept for the request by PipelineService: a mutation's own read serves).
        return [await self._deals.pipelines.find(i) for i in ids]
