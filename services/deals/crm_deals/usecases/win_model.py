"""Training the win model, applying its estimates to open deals, and retraining it
periodically (one replica per period).

Training reads the pipeline's deals once (projected), learns from the closed ones
(`domain/win_model.py`), stores the model with its `win_model.trained` event in one
write, then gives every open deal whose estimate changed its new `modelProbability`
through the ordinary deal update (`DealService.update`: optimistic concurrency, the
deal's lock, a `deal.updated` event in the same write). Deals created or moved later
get their estimate from the stored model at that moment (`ModelEstimator`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from crm_kit.context import RequestContext
from crm_kit.errors import BadUserInput, Conflict, Forbidden, NotFound
from crm_kit.periodic import every

from ..domain.deal import Deal
from ..domain.win_model import DealRecord, WinModel, stage_days, train
from ..events import publish
from ..store.protocol import WIN_MODELS, StoreFactory
from ..store.win_models import WinModelStore, WinModelStores
from .context import Actor
from .deals import DealService

log = logging.getLogger(__name__)

# Who the deal updates of a training are attributed to (`updatedBy`, events).
SYSTEM_SUBJECT = "win-model"
APPLY_CONCURRENCY = 4
CONFLICT_RETRIES = 3


class ModelEstimator:
    """`DealService`'s estimator: the stored model of the deal's pipeline (cached by the
    store), the deal's stage and its total time in that stage."""

    def __init__(self, models: WinModelStore) -> None:
        self.models = models

    async def estimate(self, deal: Deal, now: datetime) -> int | None:
        doc = await self.models.get_model(deal.pipeline_id)
        if doc is None:
            return None
        model = WinModel.from_doc(doc)
        age = stage_days(deal.stage_history, now).get(deal.stage_key, 0.0)
        return model.estimate(deal.stage_key, deal.stage_probability, age)


def check_pipeline_id(pipeline_id: str | None) -> str | None:
    if pipeline_id is not None and not pipeline_id.strip():
        raise BadUserInput(
            "pipelineId must not be blank (omit it for the default)", field="pipelineId"
        )
    return pipeline_id.strip() if pipeline_id else None


class WinModelService:
    def __init__(self, deals: DealService, models: WinModelStore) -> None:
        self.deals = deals
        self.models = models
        self.actor = deals.actor
        self.last_applied = 0  # open deals whose estimate the last `train` changed

    async def get(self, pipeline_id: str | None) -> WinModel | None:
        """The pipeline's model, None if never trained; NOT_FOUND for an unknown pipeline."""
        pipeline = await self.deals.pipelines.get(
            check_pipeline_id(pipeline_id), field="pipelineId"
        )
        doc = await self.models.get_model(pipeline.id)
        return WinModel.from_doc(doc) if doc else None

    async def train(self, pipeline_id: str | None) -> WinModel:
        """Managers and admins (as for pipelines); the periodic retrain acts as admin."""
        if not self.actor.request.has_role("admin", "manager"):
            raise Forbidden("only managers and admins train the win model")
        pipeline = await self.deals.pipelines.get(
            check_pipeline_id(pipeline_id), field="pipelineId"
        )
        now = self.actor.clock()
        records = [
            DealRecord.from_doc(d, now) for d in await self.models.training_deals(pipeline.id)
        ]
        model = train(pipeline, records, now, trained_by=self.actor.subject)
        await self.models.save_model(model.to_doc(), [publish.win_model_trained(model)])
        self.actor.notify(WIN_MODELS, model.id)
        self.last_applied = await self.apply(model, [r for r in records if not r.closed])
        return model

    async def apply(self, model: WinModel, open_deals: list[DealRecord]) -> int:
        """Writes `modelProbability` on the open deals whose estimate changed, each through
        the deal update path as the system user. Returns how many were written."""
        system = Actor(
            RequestContext(self.actor.request.workspace_id, SYSTEM_SUBJECT, frozenset({"admin"})),
            clock=self.actor.clock,
            notify=self.actor.notify,
        )
        updater = DealService(self.deals.store, system)
        changed = [(r.id, model.estimate_deal(r)) for r in open_deals]
        changed = [
            (deal_id, p)
            for (deal_id, p), r in zip(changed, open_deals, strict=True)
            if p != r.probability_model
        ]
        gate = asyncio.Semaphore(APPLY_CONCURRENCY)
        written = 0

        async def one(deal_id: str, estimate: int) -> None:
            nonlocal written
            async with gate:
                for _ in range(CONFLICT_RETRIES):
                    try:
                        before = await updater.find(deal_id)
                        if before is None or before.status != "open":
                            return  # deleted or closed since the scan
                        after = await updater.update(deal_id, {"modelProbability": estimate})
                    except Conflict:
                        continue
                    except NotFound:
                        return
                    written += after.rev != before.rev
                    return
                log.warning("win model: deal %s kept changing; estimate not written", deal_id)

        await asyncio.gather(*(one(deal_id, p) for deal_id, p in changed))
        return written


class RetrainScheduler:
    """Retrains every trained model once per period. Each replica checks; the unique
    insert of a lease per (workspace, pipeline, period) lets exactly one of them do it.
    A model trained on demand within the period is not retrained."""

    def __init__(
        self,
        stores: StoreFactory,
        models: WinModelStores,
        *,
        period_hours: float,
        clock: Callable[[], datetime],
        notify: Callable[[str, str], None] = lambda collection, doc_id: None,
    ) -> None:
        self.stores = stores
        self.models = models
        self.period = timedelta(hours=period_hours)
        self.clock = clock
        self.notify = notify

    @property
    def check_seconds(self) -> float:
        return max(1.0, min(self.period.total_seconds() / 4, 600.0))

    def period_index(self, now: datetime) -> int:
        return int(now.timestamp() // self.period.total_seconds())

    async def run_once(self) -> list[tuple[str, str]]:
        """Retrains what is due and this replica won; returns (workspace, pipeline) pairs."""
        now = self.clock()
        period = self.period_index(now)
        done = []
        for doc in await self.models.list_models():
            workspace, pipeline_id = doc["workspace_id"], doc["pipeline_id"]
            last = doc.get("trained_at")
            if last is not None and now - last < self.period:
                continue
            if not await self.models.take_lease(workspace, pipeline_id, period):
                continue
            actor = Actor(
                RequestContext(workspace, SYSTEM_SUBJECT, frozenset({"admin"})),
                clock=self.clock,
                notify=self.notify,
            )
            deals = DealService(self.stores.for_workspace(workspace), actor)
            try:
                await WinModelService(deals, self.models.for_workspace(workspace)).train(
                    pipeline_id
                )
            except NotFound:
                log.info(
                    "win model: pipeline %s of %s is gone; not retrained", pipeline_id, workspace
                )
                continue
            done.append((workspace, pipeline_id))
        return done

    async def run(self) -> None:
        await every(self.check_seconds, self.run_once, "win model retrain pass")
