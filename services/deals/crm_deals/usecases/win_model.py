"""Training the win model as a background job, applying its estimates to open deals,
explaining a deal's estimate, and retraining periodically (one replica per period).

`start_training` returns a job at once (the gateway gives a request 10 s; the first
training of a large pipeline takes longer): one job per pipeline at a time, claimed by a
unique insert of a lease (`win_model_job_leases/<workspace>:<pipeline>`); a second request
while it runs gets the running job. The job reads the pipeline's deals once (projected)
and the company facts, fits in a worker thread (the event loop keeps serving) while a
heartbeat writes its progress, stores the model (version + 1, with its
`win_model.trained` event in the same write) and a copy of it per version, then writes
each open deal's changed `modelProbability` through the ordinary deal update. A job whose
heartbeat stopped (its replica died) is taken over by the next request.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from crm_kit.context import RequestContext
from crm_kit.errors import BadUserInput, Conflict, Forbidden, NotFound
from crm_kit.ids import new_id
from crm_kit.periodic import every

from ..domain.deal import Deal
from ..domain.pipeline import Pipeline
from ..domain.win_features import CompanyFact, DealHistory
from ..domain.win_model import STAGE_DEFAULTS, Prediction, WinModel
from ..domain.win_training import context_for, train
from ..events import publish
from ..store.documents import (
    COMPANY_FACTS,
    WIN_MODEL_JOB_LEASES,
    WIN_MODEL_JOBS,
    WIN_MODEL_VERSIONS,
    DocumentStores,
)
from ..store.protocol import WIN_MODELS, StoreFactory
from ..store.win_models import WinModelStore, WinModelStores
from .context import Actor
from .deals import DealService

log = logging.getLogger(__name__)

# Who the deal updates of a training are attributed to (`updatedBy`, events).
SYSTEM_SUBJECT = "win-model"
APPLY_CONCURRENCY = 4
CONFLICT_RETRIES = 3
HEARTBEAT_SECONDS = 1.0
# A running job whose heartbeat is older than this is considered dead.
STALE_JOB = timedelta(minutes=5)
QUEUED, RUNNING, SUCCEEDED, FAILED = "QUEUED", "RUNNING", "SUCCEEDED", "FAILED"

Spawn = Callable[[Coroutine[Any, Any, None], str], None]


def check_pipeline_id(pipeline_id: str | None) -> str | None:
    if pipeline_id is not None and not pipeline_id.strip():
        raise BadUserInput(
            "pipelineId must not be blank (omit it for the default)", field="pipelineId"
        )
    return pipeline_id.strip() if pipeline_id else None


async def company_facts(documents: DocumentStores | None, workspace: str) -> dict[str, CompanyFact]:
    if documents is None:
        return {}
    docs = await documents.collection(COMPANY_FACTS, workspace).scan()
    return {
        d["company_id"]: CompanyFact(d.get("industry"), d.get("size"))
        for d in docs
        if not d.get("deleted")
    }


@dataclass
class Progress:
    """What a running training reports (written by the worker thread, read by the
    heartbeat)."""

    fraction: float = 0.0
    step: str = "reading deals"

    def __call__(self, fraction: float, step: str) -> None:
        self.fraction, self.step = round(fraction, 3), step


class ModelEstimator:
    """`DealService`'s estimator: the stored model of the deal's pipeline (cached by the
    store) applied to the deal as it is now."""

    def __init__(self, models: WinModelStore, documents: DocumentStores | None = None) -> None:
        self.models = models
        self.documents = documents

    async def model(self, pipeline_id: str) -> WinModel | None:
        doc = await self.models.get_model(pipeline_id)
        return WinModel.from_doc(doc) if doc else None

    async def predict(self, deal: Deal, now: datetime, pipeline: Pipeline) -> Prediction | None:
        model = await self.model(deal.pipeline_id)
        if model is None:
            return None
        facts: dict[str, CompanyFact] = {}
        if self.documents is not None and deal.company_id:
            found = await self.documents.collection(COMPANY_FACTS, deal.workspace_id).get(
                deal.company_id
            )
            if found and not found.get("deleted"):
                facts[deal.company_id] = CompanyFact(found.get("industry"), found.get("size"))
        history = DealHistory.from_doc(deal.to_doc(pipeline.stage(deal.stage_key)))
        return model.predict(history, now, context_for(pipeline, facts))

    async def estimate(self, deal: Deal, now: datetime, pipeline: Pipeline) -> int | None:
        model = await self.model(deal.pipeline_id)
        if model is None or not model.usable:
            return None
        prediction = await self.predict(deal, now, pipeline)
        if prediction is None or prediction.source != "MODEL":
            return None
        return prediction.probability


class WinModelService:
    def __init__(
        self,
        deals: DealService,
        models: WinModelStore,
        documents: DocumentStores | None = None,
        spawn: Spawn | None = None,
    ) -> None:
        self.deals = deals
        self.models = models
        self.documents = documents
        self.spawn = spawn
        self.actor = deals.actor
        self.workspace = deals.store.workspace_id
        self.last_applied = 0  # open deals whose estimate the last training changed

    def _jobs(self, name: str = WIN_MODEL_JOBS) -> Any:
        if self.documents is None:
            raise NotFound("training jobs are not available here")
        return self.documents.collection(name, self.workspace)

    async def _pipeline(self, pipeline_id: str | None) -> Pipeline:
        return await self.deals.pipelines.get(check_pipeline_id(pipeline_id), field="pipelineId")

    async def get(self, pipeline_id: str | None) -> WinModel | None:
        """The pipeline's model, None if never trained; NOT_FOUND for an unknown pipeline."""
        pipeline = await self._pipeline(pipeline_id)
        doc = await self.models.get_model(pipeline.id)
        return WinModel.from_doc(doc) if doc else None

    async def versions(self, pipeline_id: str | None, limit: int = 20) -> list[WinModel]:
        if not 1 <= limit <= 100:
            raise BadUserInput("first must be 1 to 100", field="first")
        pipeline = await self._pipeline(pipeline_id)
        docs = await self._jobs(WIN_MODEL_VERSIONS).scan({"pipeline_id": pipeline.id})
        models = sorted((WinModel.from_doc(d) for d in docs), key=lambda m: -m.version)
        return models[:limit]

    async def job(self, job_id: str) -> dict[str, Any] | None:
        if not job_id.strip():
            raise BadUserInput("id must not be blank", field="id")
        return await self._jobs().get(job_id.strip())

    async def latest_job(self, pipeline_id: str) -> dict[str, Any] | None:
        docs = await self._jobs().scan({"pipeline_id": pipeline_id})
        return max(docs, key=lambda d: d["requested_at"]) if docs else None

    # --- training ------------------------------------------------------------------------

    def _require_trainer(self) -> None:
        if not self.actor.request.has_role("admin", "manager"):
            raise Forbidden("only managers and admins train the win model")

    async def start_training(self, pipeline_id: str | None) -> dict[str, Any]:
        """Managers and admins. Returns the job at once; the training runs in the
        background (`spawn`). A running job of the pipeline is returned instead of a new one."""
        self._require_trainer()
        pipeline = await self._pipeline(pipeline_id)
        if self.spawn is None:
            raise NotFound("background training is not available here")
        now = self.actor.clock()
        job = {
            "id": new_id(),
            "pipeline_id": pipeline.id,
            "status": QUEUED,
            "progress": 0.0,
            "step": "queued",
            "requested_by": self.actor.subject,
            "requested_at": now,
            "started_at": None,
            "finished_at": None,
            "heartbeat_at": now,
            "model_version": None,
            "deals_updated": None,
            "error": None,
        }
        leases = self._jobs(WIN_MODEL_JOB_LEASES)
        for _ in range(2):
            if await leases.insert(pipeline.id, {"job_id": job["id"], "taken_at": now}):
                await self._jobs().put(job["id"], job)
                self.spawn(self._run(job, pipeline.id), f"win-model-train {pipeline.id}")
                return job
            lease = await leases.get(pipeline.id)
            running = await self._jobs().get(lease["job_id"]) if lease else None
            if running is not None and running["status"] in (QUEUED, RUNNING):
                if now - running["heartbeat_at"] < STALE_JOB:
                    return running
                await self._jobs().update(
                    running["id"],
                    {"status": FAILED, "error": "stopped: no heartbeat", "finished_at": now},
                )
            await leases.delete(pipeline.id)
        raise Conflict("another training of this pipeline is starting; retry", field="pipelineId")

    async def _run(self, job: dict[str, Any], pipeline_id: str) -> None:
        jobs = self._jobs()
        progress = Progress()
        try:
            await jobs.update(
                job["id"],
                {"status": RUNNING, "started_at": self.actor.clock(), "step": progress.step},
            )
            model = await self.train_now(pipeline_id, progress, job_id=job["id"])
            await jobs.update(
                job["id"],
                {
                    "status": SUCCEEDED,
                    "progress": 1.0,
                    "step": "done",
                    "finished_at": self.actor.clock(),
                    "heartbeat_at": self.actor.clock(),
                    "model_version": model.version,
                    "deals_updated": self.last_applied,
                },
            )
        except Exception as error:  # a job must end in a state the API can show
            log.exception("win model training failed", extra={"fields": {"job": job["id"]}})
            message = error.message if hasattr(error, "message") else "internal error"
            await jobs.update(
                job["id"],
                {"status": FAILED, "error": message, "finished_at": self.actor.clock()},
            )
        finally:
            await self._jobs(WIN_MODEL_JOB_LEASES).delete(pipeline_id)

    async def train_now(
        self,
        pipeline_id: str | None,
        progress: Progress | None = None,
        job_id: str | None = None,
    ) -> WinModel:
        """Trains in this call (the job, the periodic retrain, the NATS endpoint)."""
        self._require_trainer()
        pipeline = await self._pipeline(pipeline_id)
        report = progress or Progress()
        now = self.actor.clock()
        docs = await self.models.training_deals(pipeline.id)
        deals = [DealHistory.from_doc(d) for d in docs]
        facts = await company_facts(self.documents, self.workspace)
        previous = await self.models.get_model(pipeline.id)
        version = int(previous.get("version") or 0) + 1 if previous else 1
        fit = asyncio.create_task(
            asyncio.to_thread(
                train,
                pipeline,
                deals,
                now,
                companies=facts,
                version=version,
                trained_by=self.actor.subject,
                progress=report,
            )
        )
        while not fit.done():
            await asyncio.wait({fit}, timeout=HEARTBEAT_SECONDS)
            if job_id is not None and not fit.done():
                await self._heartbeat(job_id, report)
        model = fit.result()
        await self.models.save_model(model.to_doc(), [publish.win_model_trained(model)])
        self.actor.notify(WIN_MODELS, model.id)
        if self.documents is not None:
            await self._jobs(WIN_MODEL_VERSIONS).put(
                f"{pipeline.id}:{version:06d}",
                {k: v for k, v in model.to_doc().items() if k != "_id"},
            )
        report(0.97, "applying estimates")
        self.last_applied = await self.apply(model, pipeline, [d for d in deals if not d.closed])
        return model

    async def _heartbeat(self, job_id: str, progress: Progress) -> None:
        await self._jobs().update(
            job_id,
            {
                "heartbeat_at": self.actor.clock(),
                "progress": progress.fraction,
                "step": progress.step,
            },
        )

    async def apply(
        self, model: WinModel, pipeline: Pipeline, open_deals: list[DealHistory]
    ) -> int:
        """Writes `modelProbability` on the open deals whose estimate changed (cleared when
        the model fell back to the stage defaults), each through the deal update path as
        the system user. Returns how many were written."""
        system = Actor(
            RequestContext(self.workspace, SYSTEM_SUBJECT, frozenset({"admin"})),
            clock=self.actor.clock,
            notify=self.actor.notify,
        )
        updater = DealService(self.deals.store, system)
        facts = await company_facts(self.documents, self.workspace)
        ctx = context_for(pipeline, facts)
        encoder = model.encoder() if model.status != STAGE_DEFAULTS else None
        now = self.actor.clock()
        changed: list[tuple[str, int | None]] = []
        for deal in open_deals:
            estimate: int | None = None
            if model.usable:
                prediction = model.predict(deal, now, ctx, encoder)
                estimate = prediction.probability if prediction.source == "MODEL" else None
            if estimate != deal.probability_model:
                changed.append((deal.id, estimate))
        gate = asyncio.Semaphore(APPLY_CONCURRENCY)
        written = 0

        async def one(deal_id: str, estimate: int | None) -> None:
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

    async def explain(self, deal: Deal, estimator: ModelEstimator) -> Prediction | None:
        """The deal's estimate now with its contributions (None: no model yet)."""
        pipeline = await self.deals.pipelines.get(deal.pipeline_id)
        return await estimator.predict(deal, self.actor.clock(), pipeline)


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
        documents: DocumentStores | None = None,
    ) -> None:
        self.stores = stores
        self.models = models
        self.period = timedelta(hours=period_hours)
        self.clock = clock
        self.notify = notify
        self.documents = documents

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
            service = WinModelService(deals, self.models.for_workspace(workspace), self.documents)
            try:
                await service.train_now(pipeline_id)
            except NotFound:
                log.info(
                    "win model: pipeline %s of %s is gone; not retrained", pipeline_id, workspace
                )
                continue
            done.append((workspace, pipeline_id))
        return done

    async def run(self) -> None:
        await every(self.check_seconds, self.run_once, "win model retrain pass")
