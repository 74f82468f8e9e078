"""The store port implemented once, over the kit's records: on MongoDB through the kit's
write path (`mongo.py`), in memory for unit tests (`memory.py`). Locks, `_id`-only filters,
the outbox and the relay's wake-up are the records' and the writer's business; what is
here is what the deals service stores and how it asks for it.

Three things a records API does not say are the backend's (`Backend`): a projected scan
of a workspace's live deals (the reports' facts, the read index's load), the board's
totals (a `$group` on MongoDB), and a bulk import's batched events.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Hashable, Sequence
from dataclasses import replace
from datetime import date
from typing import Any, Protocol

from crm_kit.audit_read import AuditTrail
from crm_kit.filters import ALL, And, Eq, Filter
from crm_kit.pagination import Order, Page
from crm_kit.records import Duplicate, Held, RecordSource

from ..domain.deal import Deal
from ..domain.facts import ReportedDeal
from ..domain.handover import Handover
from ..domain.pipeline import Pipeline
from ..domain.queries import EVERY_DEAL, LARGEST_FIRST, DealQuery, DealSelection, StageTotal
from ..domain.records import (
    CompanyFacts,
    EnteredRate,
    ForecastSnapshot,
    Lease,
    Quota,
    Submission,
    TrainingJob,
    snapshot_id,
)
from ..domain.trained_model import ModelVersion, TrainedModel
from ..domain.win_model import WinModel, model_id
from .documents import DEAL, HANDOVER, PIPELINE, keyed
from .filters import deals_matching, order_of
from .index_entry import PROJECTION, entry_of
from .keyed_documents import FACTS, JOB, QUOTA, RATE, SNAPSHOT, SUBMISSION, lease_id, lease_kind
from .model_cache import ModelCache
from .model_documents import MODEL_VERSION, TRAINED_MODEL
from .pipeline_cache import PipelineCache
from .port import Board, Change, TrainedPipeline

Doc = dict[str, Any]
BY_CREATION = Order("created_at")


class Backend(Protocol):
    """What the store needs beyond records, per database."""

    def scan_deals(self, workspace_id: str | None, fields: Sequence[str]) -> AsyncIterator[Doc]:
        """The workspace's live deal documents with only these fields (and `_id`); every
        workspace's with `workspace_id` None."""

    async def stage_totals(self, workspace_id: str, where: Filter) -> list[StageTotal] | None:
        """The board's totals over the workspace's deals `where` selects, computed by the
        database; None: add them up from records."""

    async def existing_external_ids(self, workspace_id: str, ids: Sequence[str]) -> set[str]: ...

    async def external_id_owners(self, workspace_id: str, ids: Sequence[str]) -> dict[str, str]:
        """External id -> the id of the deal holding it, for those held."""

    def prepare_import(self, workspace_id: str, batch_id: str, deals: Sequence[Deal]) -> None:
        """Make ahead, without writing, what `import_deals` of these deals makes before
        its first statement (used by the `import_deals` of the same batch and deals)."""

    async def import_deals(
        self, workspace_id: str, batch_id: str, deals: Sequence[Deal]
    ) -> list[Deal]:
        """Insert the deals not there yet (by id or external id) with their events: the
        refused."""

    async def repair_imports(self, workspace_id: str | None) -> int:
        """Arm held import batches of `workspace_id` (None: every workspace)."""
        ...


class _Gone(Exception):
    """The deal a change reads is deleted: the change does not happen."""


# Settled days' snapshots (or their absence) a process keeps at most before starting over.
SETTLED_SNAPSHOTS_KEPT = 100_000


class RecordStore:
    """The root store (every workspace): `for_workspace` scopes it."""

    # Pipelines held per process, checked against their change log (`pipeline_cache.py`;
    # set by the assembly where the embedded database's change logs are on).
    pipeline_cache: PipelineCache | None = None

    def __init__(self, source: RecordSource, backend: Backend, models: ModelCache) -> None:
        self.source = source
        self.backend = backend
        self.models = models
        # Snapshots of settled days by id (None: there is none), read once per process:
        # forecast accuracy probes up to a week of days per month and horizon per request.
        self.settled_snapshots: dict[str, ForecastSnapshot | None] = {}

    def for_workspace(self, workspace_id: str) -> WorkspaceRecordStore:
        return WorkspaceRecordStore(self, workspace_id)

    async def repair_imports(self) -> int:
        return await self.backend.repair_imports(None)

    async def trained_pipelines(self) -> list[TrainedPipeline]:
        # A handful of documents (one per trained pipeline).
        stored = await self.source.records(TRAINED_MODEL, None).find()
        return [(t.workspace_id, t.model.pipeline_id, t.model.trained_at) for t in stored]

    async def all_pipelines(self) -> list[tuple[str, str]]:
        return [(p.workspace_id, p.id) for p in await self.source.records(PIPELINE, None).find()]


class WorkspaceRecordStore:
    def __init__(self, root: RecordStore, workspace_id: str) -> None:
        if not workspace_id:
            raise ValueError("a store is always scoped to a workspace")
        self.root = root
        self.workspace_id = workspace_id
        source = root.source
        self.audit_trail = AuditTrail(source, workspace_id)
        self.pipelines = source.records(PIPELINE, workspace_id)
        self.deals = source.records(DEAL, workspace_id)
        self.handovers = source.records(HANDOVER, workspace_id)
        self.trained = source.records(TRAINED_MODEL, workspace_id)
        self.versions = source.records(MODEL_VERSION, workspace_id)
        self.jobs = source.records(JOB, workspace_id)
        self.facts = source.records(FACTS, workspace_id)
        self.submission_records = source.records(SUBMISSION, workspace_id)
        self.quota_records = source.records(QUOTA, workspace_id)
        self.rate_records = source.records(RATE, workspace_id)
        self.snapshots = source.records(SNAPSHOT, workspace_id)

    def _id(self, *parts: object) -> str:
        return keyed(self.workspace_id, *parts)

    # --- pipelines -----------------------------------------------------------------------
    async def get_pipeline(self, pipeline_id: str) -> Pipeline | None:
        cache = self.root.pipeline_cache
        if cache is None:
            return await self._read_pipeline(pipeline_id)
        return await cache.get(self.workspace_id, pipeline_id, self._read_pipeline)

    async def _read_pipeline(self, pipeline_id: str) -> Pipeline | None:
        found = await self.pipelines.get([pipeline_id])
        return found[0] if found else None

    async def list_pipelines(self) -> list[Pipeline]:
        return await self.pipelines.find(order=BY_CREATION)

    async def add_pipeline(self, pipeline: Pipeline) -> bool:
        try:
            await self.pipelines.insert(pipeline)
        except Duplicate:
            return False
        return True

    async def save_pipeline(self, pipeline: Pipeline, previous_version: int) -> bool:
        saved = await self.pipelines.save(pipeline, expect={"version": previous_version})
        cache = self.root.pipeline_cache
        if saved and cache is not None:
            # Other replicas' caches may serve the previous version for a moment without
            # probing: the save returns once that moment is over (`pipeline_cache.py`).
            await cache.settle()
        return saved

    # --- deals ---------------------------------------------------------------------------
    async def get_deals(self, ids: Sequence[str]) -> list[Deal]:
        return [deal for deal in await self.deals.get(ids) if not deal.deleted]

    async def add_deal(self, deal: Deal) -> None:
        await self.deals.insert(deal)

    async def change_deal(self, deal_id: str, change: Change) -> Deal | None:
        async def live(deal: Deal) -> bool:
            if deal.deleted:
                raise _Gone
            return await change(deal)

        try:
            return await self.deals.change(deal_id, live, held=await self._held_deal(deal_id))
        except _Gone:
            return None

    async def _held_deal(self, deal_id: str) -> Held | None:
        """Where a change of a deal may take the stored deal from instead of an `_id` read
        (a read model's copy); None here: read it."""
        return None

    async def list_deals(self, query: DealQuery) -> Page[Deal]:
        return await self.deals.page(
            deals_matching(query.selection),
            order=order_of(query.order),
            after=query.after,
            first=query.first,
        )

    async def count_deals(self, selection: DealSelection) -> int:
        return await self.deals.count(deals_matching(selection))

    async def find_deals(self, selection: DealSelection) -> list[Deal]:
        return await self.deals.find(deals_matching(selection))

    async def board(
        self,
        pipeline_id: str,
        stage_keys: Sequence[str],
        per_stage: int,
        narrowed: DealSelection | None = None,
    ) -> Board:
        selected = self._of_pipeline(pipeline_id, narrowed)

        async def column(stage_key: str) -> list[Deal]:
            where = And(selected, Eq("stage_key", stage_key))
            return await self.deals.find(where, order=order_of(LARGEST_FIRST), limit=per_stage)

        totals, pages = await asyncio.gather(
            self._stage_totals(selected),
            asyncio.gather(*(column(key) for key in stage_keys)),
        )
        return totals, dict(zip(stage_keys, pages, strict=True))

    async def _stage_totals(self, where: Filter) -> list[StageTotal]:
        found = await self.root.backend.stage_totals(self.workspace_id, where)
        if found is not None:
            return found
        groups: dict[tuple[str, str], StageTotal] = {}
        for deal in await self.deals.find(where):
            key = (deal.stage_key, deal.currency)
            total = groups.setdefault(key, StageTotal(*key))
            total.count += 1
            total.amount_minor += deal.amount_minor
            total.weighted_minor += deal.weighted_minor
        return list(groups.values())

    def _of_pipeline(self, pipeline_id: str, narrowed: DealSelection | None = None) -> Filter:
        return deals_matching(replace(narrowed or EVERY_DEAL, pipeline_id=pipeline_id))

    async def pipeline_report(
        self,
        pipeline_id: str,
        narrowed: DealSelection | None,
        key: Hashable,
        compute: Callable[[Sequence[ReportedDeal]], Any],
        merge: Callable[[Sequence[Any]], Any] | None = None,
    ) -> Any:
        return compute(await self.pipeline_facts(pipeline_id, narrowed))

    async def pipeline_facts(
        self, pipeline_id: str, narrowed: DealSelection | None = None
    ) -> Sequence[ReportedDeal]:
        # Scanned deals are live and hold every field a selection names (`PROJECTION`).
        where = self._of_pipeline(pipeline_id, narrowed)
        return [
            entry_of(doc)
            async for doc in self.root.backend.scan_deals(self.workspace_id, list(PROJECTION))
            if where.matches(doc.get)
        ]

    async def pipeline_deals(self, pipeline_id: str) -> list[Deal]:
        return await self.deals.find(self._of_pipeline(pipeline_id))

    # --- imports -------------------------------------------------------------------------
    async def existing_external_ids(self, external_ids: Sequence[str]) -> set[str]:
        return await self.root.backend.existing_external_ids(self.workspace_id, external_ids)

    async def deals_by_external_ids(self, external_ids: Sequence[str]) -> list[Deal]:
        if not external_ids:
            return []
        owners = await self.root.backend.external_id_owners(self.workspace_id, external_ids)
        return [deal for deal in await self.deals.get(list(owners.values())) if not deal.deleted]

    def prepare_import(self, batch_id: str, deals: Sequence[Deal]) -> None:
        self.root.backend.prepare_import(self.workspace_id, batch_id, deals)

    async def import_deals(self, batch_id: str, deals: Sequence[Deal]) -> list[Deal]:
        return await self.root.backend.import_deals(self.workspace_id, batch_id, deals)

    async def imported_deal_ids(self, job_id: str) -> list[str]:
        return [str(i) for i in await self.deals.ids(Eq("import_job", job_id))]

    async def repair_imports(self) -> int:
        return await self.root.backend.repair_imports(self.workspace_id)

    # --- handovers -----------------------------------------------------------------------
    async def add_handover(self, handover: Handover) -> bool:
        try:
            await self.handovers.insert(handover)
        except Duplicate:
            return False
        return True

    # --- win models ----------------------------------------------------------------------
    async def get_model(self, pipeline_id: str) -> WinModel | None:
        key = model_id(self.workspace_id, pipeline_id)
        hit, model = self.root.models.get(key)
        if not hit:
            found = await self.trained.get([key])
            model = found[0].model if found else None
            self.root.models.put(key, model)
        return model

    async def save_model(self, trained: TrainedModel) -> None:
        key = trained.id
        async with self.trained.lock(key):
            if await self.trained.get([key]):
                await self.trained.save(trained, verified=True)
            else:
                await self.trained.insert(trained)
        self.root.models.invalidate(key)
        await self.versions.put(ModelVersion(self.workspace_id, trained.model))

    async def model_versions(self, pipeline_id: str) -> list[WinModel]:
        found = await self.versions.find(Eq("pipeline_id", pipeline_id))
        return [stored.model for stored in found]

    async def get_job(self, job_id: str) -> TrainingJob | None:
        found = await self.jobs.get([self._id(job_id)])
        return found[0] if found else None

    async def put_job(self, job: TrainingJob) -> None:
        await self.jobs.put(job)

    async def pipeline_jobs(self, pipeline_id: str) -> list[TrainingJob]:
        return await self.jobs.find(Eq("pipeline_id", pipeline_id))

    async def take_lease(self, collection: str, lease: Lease) -> bool:
        try:
            await self.root.source.records(lease_kind(collection), self.workspace_id).insert(lease)
        except Duplicate:
            return False
        return True

    async def get_lease(self, collection: str, key: str) -> Lease | None:
        leases = self.root.source.records(lease_kind(collection), self.workspace_id)
        found = await leases.get([lease_id(self.workspace_id, key)])
        return found[0] if found else None

    async def drop_lease(self, collection: str, key: str) -> None:
        leases = self.root.source.records(lease_kind(collection), self.workspace_id)
        await leases.delete(lease_id(self.workspace_id, key))

    # --- company facts, forecasting ------------------------------------------------------
    async def get_company_facts(self, company_id: str) -> CompanyFacts | None:
        found = await self.facts.get([self._id(company_id)])
        return found[0] if found else None

    async def all_company_facts(self) -> list[CompanyFacts]:
        return await self.facts.find()

    async def put_company_facts(self, facts: CompanyFacts) -> None:
        await self.facts.put(facts)

    async def add_company_facts(self, facts: Sequence[CompanyFacts]) -> list[CompanyFacts]:
        return await self.facts.insert_many(facts)

    async def add_submission(self, submission: Submission) -> bool:
        try:
            await self.submission_records.insert(submission)
        except Duplicate:
            return False
        return True

    async def submissions(
        self,
        pipeline_id: str,
        *,
        period: str | None = None,
        scope: str | None = None,
        scope_id: str | None = None,
    ) -> list[Submission]:
        conditions: list[Filter | None] = [Eq("pipeline_id", pipeline_id)]
        for name, value in (("period", period), ("scope", scope), ("scope_id", scope_id)):
            conditions.append(Eq(name, value) if value is not None else None)
        return await self.submission_records.find(And(*conditions))

    async def put_quota(self, quota: Quota) -> None:
        await self.quota_records.put(quota)

    async def quotas(self, period: str) -> list[Quota]:
        return await self.quota_records.find(Eq("period", period))

    async def put_rate(self, rate: EnteredRate) -> None:
        await self.rate_records.put(rate)

    async def rates(self) -> list[EnteredRate]:
        return await self.rate_records.find(ALL)

    async def get_snapshots(
        self, pipeline_id: str, days: Sequence[date], settled_before: date | None = None
    ) -> dict[date, ForecastSnapshot]:
        kept = self.root.settled_snapshots
        ids = {day: snapshot_id(self.workspace_id, pipeline_id, day) for day in days}
        found = {day: kept[i] for day, i in ids.items() if i in kept}
        unread = [i for day, i in ids.items() if day not in found]
        read = {s.day: s for s in await self.snapshots.get(unread)} if unread else {}
        if settled_before is not None:
            if len(kept) > SETTLED_SNAPSHOTS_KEPT:
                kept.clear()
            for day, i in ids.items():
                if day < settled_before and day not in found:
                    kept[i] = read.get(day)
        found.update(read)
        return {day: snap for day, snap in found.items() if snap is not None}

    async def put_snapshot(self, snapshot: ForecastSnapshot) -> None:
        await self.snapshots.put(snapshot)
