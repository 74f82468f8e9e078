"""Training the win model as a background job, applying its estimates to open deals,
explaining a deal's estimate, and retraining periodically (one replica per period).

`start_training` returns a job at once (the gateway gives a request 10 s; the first
training of a large pipeline takes longer): one job per pipeline at a time, claimed by a
unique insert of a lease keyed by the pipeline; a second request while it runs gets the
running job. The job reads the pipeline's deals once and the company facts, fits in a
worker thread (the event loop keeps serving) while a heartbeat writes its progress,
stores the model (version + 1, with its `win_model.trained` event in the same write) and
a copy of it per version, then writes each open deal's changed `modelProbability` through
the ordinary deal update. A job whose heartbeat stopped (its replica died) is taken over
by the next request.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from crm_kit.errors import BadUserInput, Conflict, NotFound
from crm_kit.ids import new_id
from crm_kit.periodic import every

from ..config import WIN_MODEL_JOB_LEASES, WIN_MODEL_LEASES
from ..domain.deal import OPEN, Deal
from ..domain.pipeline import Pipeline
from ..domain.records import FAILED, RUNNING, SUCCEEDED, Lease, TrainingJob
from ..domain.trained_model import TrainedModel
from ..domain.win_features import DealHistory
from ..domain.win_model import STAGE_DEFAULTS, Prediction, WinModel
from ..domain.win_training import context_for, train
from ..store.port import DealsStore
from .company_facts import known_companies
from .deals import find_deal, update_deal
from .estimates import predict
from .inputs import DealChanges
from .pipelines import check_pipeline_id, get_pipeline
from .scope import Scope, Scopes, service_caller

log = logging.getLogger(__name__)

# Who the deal updates of a training are attributed to (`updatedBy`, events).
SYSTEM_SUBJECT = "win-model"
APPLY_CONCURRENCY = 4
CONFLICT_RETRIES = 3
HEARTBEAT_SECONDS = 1.0
# A running job whose heartbeat is older than this is considered dead.
STALE_JOB = timedelta(minutes=5)
TRAINERS_ONLY = "only managers and admins train the win model"


@dataclass
class Progress:
    """What a running training reports (written by the worker thread, read by the
    heartbeat)."""

    fraction: float = 0.0
    step: str = "reading deals"

    def __call__(self, fraction: float, step: str) -> None:
        self.fraction, self.step = round(fraction, 3), step


@dataclass
class Trained:
    model: WinModel
    deals_updated: int  # open deals whose estimate the training changed


async def _pipeline(scope: Scope, pipeline_id: str | None) -> Pipeline:
    return await get_pipeline(scope, check_pipeline_id(pipeline_id), field="pipelineId")


async def get_model(scope: Scope, pipeline_id: str | None) -> WinModel | None:
    """The pipeline's model, None if never trained; NOT_FOUND for an unknown pipeline."""
    pipeline = await _pipeline(scope, pipeline_id)
    return await scope.store.get_model(pipeline.id)


async def model_versions(scope: Scope, pipeline_id: str | None, limit: int = 20) -> list[WinModel]:
    if not 1 <= limit <= 100:
        raise BadUserInput("first must be 1 to 100", field="first")
    pipeline = await _pipeline(scope, pipeline_id)
    found = await scope.store.model_versions(pipeline.id)
    return sorted(found, key=lambda m: -m.version)[:limit]


async def training_job(scope: Scope, job_id: str) -> TrainingJob | None:
    if not job_id.strip():
        raise BadUserInput("id must not be blank", field="id")
    return await scope.store.get_job(job_id.strip())


async def latest_job(scope: Scope, pipeline_id: str) -> TrainingJob | None:
    found = await scope.store.pipeline_jobs(pipeline_id)
    return max(found, key=lambda job: job.requested_at) if found else None


# --- training ----------------------------------------------------------------------------


async def start_training(scope: Scope, pipeline_id: str | None) -> TrainingJob:
    """Managers and admins. Returns the job at once; the training runs in the background
    (`scope.spawn`). A running job of the pipeline is returned instead of a new one."""
    scope.require_manager(TRAINERS_ONLY)
    pipeline = await _pipeline(scope, pipeline_id)
    if scope.spawn is None:
        raise NotFound("background training is not available here")
    now = scope.now()
    job = TrainingJob(new_id(), scope.workspace_id, pipeline.id, scope.subject, now, now)
    for _ in range(2):
        lease = Lease(pipeline.id, scope.workspace_id, now, job_id=job.id)
        if await scope.store.take_lease(WIN_MODEL_JOB_LEASES, lease):
            await scope.store.put_job(job)
            scope.spawn(_run(scope, job), f"win-model-train {pipeline.id}")
            return job
        held = await scope.store.get_lease(WIN_MODEL_JOB_LEASES, pipeline.id)
        running = await scope.store.get_job(held.job_id) if held and held.job_id else None
        if running is not None and running.active:
            if now - running.heartbeat_at < STALE_JOB:
                return running
            running.status, running.error, running.finished_at = (
                FAILED,
                "stopped: no heartbeat",
                now,
            )
            await scope.store.put_job(running)
        await scope.store.drop_lease(WIN_MODEL_JOB_LEASES, pipeline.id)
    raise Conflict("another training of this pipeline is starting; retry", field="pipelineId")


async def _run(scope: Scope, job: TrainingJob) -> None:
    progress = Progress()
    try:
        job.status, job.started_at, job.step = RUNNING, scope.now(), progress.step
        await scope.store.put_job(job)
        done = await train_now(scope, job.pipeline_id, progress, job=job)
        job.status, job.progress, job.step = SUCCEEDED, 1.0, "done"
        job.finished_at = job.heartbeat_at = scope.now()
        job.model_version, job.deals_updated = done.model.version, done.deals_updated
        await scope.store.put_job(job)
    except Exception as error:  # a job must end in a state the API can show
        log.exception("win model training failed", extra={"fields": {"job": job.id}})
        job.status, job.finished_at = FAILED, scope.now()
        job.error = getattr(error, "message", None) or "internal error"
        await scope.store.put_job(job)
    finally:
        await scope.store.drop_lease(WIN_MODEL_JOB_LEASES, job.pipeline_id)


async def train_now(
    scope: Scope,
    pipeline_id: str | None,
    progress: Progress | None = None,
    job: TrainingJob | None = None,
) -> Trained:
    """Trains in this call (the job, the periodic retrain, the NATS endpoint)."""
    scope.require_manager(TRAINERS_ONLY)
    pipeline = await _pipeline(scope, pipeline_id)
    report = progress or Progress()
    now = scope.now()
    deals = [DealHistory.of(deal) for deal in await scope.store.pipeline_deals(pipeline.id)]
    facts = await known_companies(scope)
    previous = await scope.store.get_model(pipeline.id)
    version = previous.version + 1 if previous else 1
    fit = asyncio.create_task(
        asyncio.to_thread(
            train,
            pipeline,
            deals,
            now,
            companies=facts,
            version=version,
            trained_by=scope.subject,
            progress=report,
        )
    )
    while not fit.done():
        await asyncio.wait({fit}, timeout=HEARTBEAT_SECONDS)
        if job is not None and not fit.done():
            job.heartbeat_at, job.progress, job.step = scope.now(), report.fraction, report.step
            await scope.store.put_job(job)
    model = fit.result()
    await scope.store.save_model(TrainedModel.trained(model))
    report(0.97, "applying estimates")
    applied = await apply(scope, model, pipeline, [d for d in deals if not d.closed])
    return Trained(model, applied)


async def apply(
    scope: Scope, model: WinModel, pipeline: Pipeline, open_deals: list[DealHistory]
) -> int:
    """Writes `modelProbability` on the open deals whose estimate changed (cleared when
    the model fell back to the stage defaults), each through the deal update as the
    system user. Returns how many were written."""
    system = scope.as_(SYSTEM_SUBJECT)
    ctx = context_for(pipeline, await known_companies(scope))
    encoder = model.encoder() if model.status != STAGE_DEFAULTS else None
    now = scope.now()
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
                    before = await find_deal(system, deal_id)
                    if before is None or before.status != OPEN:
                        return  # deleted or closed since the scan
                    after = await update_deal(
                        system, deal_id, DealChanges(model_probability=estimate)
                    )
                except Conflict:
                    continue
                except NotFound:
                    return
                written += after.rev != before.rev
                return
            log.warning("win model: deal %s kept changing; estimate not written", deal_id)

    await asyncio.gather(*(one(deal_id, p) for deal_id, p in changed))
    return written


async def explain(scope: Scope, deal: Deal) -> tuple[WinModel, Prediction] | None:
    """An open deal's estimate now with its contributions (None: closed, or no model)."""
    if deal.status != OPEN:
        return None
    model = await scope.store.get_model(deal.pipeline_id)
    if model is None:
        return None
    pipeline = await get_pipeline(scope, deal.pipeline_id)
    found = await predict(scope, deal, pipeline)
    return (model, found) if found is not None else None


class RetrainScheduler:
    """Retrains every trained model once per period. Each replica checks; the unique
    insert of a lease per (workspace, pipeline, period) lets exactly one of them do it.
    A model trained on demand within the period is not retrained."""

    def __init__(self, store: DealsStore, scopes: Scopes, *, period_hours: float) -> None:
        self.store = store
        self.scopes = scopes
        self.period = timedelta(hours=period_hours)

    @property
    def check_seconds(self) -> float:
        return max(1.0, min(self.period.total_seconds() / 4, 600.0))

    def period_index(self, now: datetime) -> int:
        return int(now.timestamp() // self.period.total_seconds())

    async def run_once(self) -> list[tuple[str, str]]:
        """Retrains what is due and this replica won; returns (workspace, pipeline) pairs."""
        done = []
        for workspace, pipeline_id, trained_at in await self.store.trained_pipelines():
            scope = self.scopes(service_caller(workspace, SYSTEM_SUBJECT))
            now = scope.now()
            if trained_at is not None and now - trained_at < self.period:
                continue
            period = self.period_index(now)
            key = f"{pipeline_id}:{period}"
            lease = Lease(key, workspace, now, pipeline_id=pipeline_id, period=period)
            if not await scope.store.take_lease(WIN_MODEL_LEASES, lease):
                continue
            try:
                await train_now(scope, pipeline_id)
            except NotFound:
                log.info(
                    "win model: pipeline %s of %s is gone; not retrained", pipeline_id, workspace
                )
                continue
            done.append((workspace, pipeline_id))
        return done

    async def run(self) -> None:
        await every(self.check_seconds, self.run_once, "win model retrain pass")
