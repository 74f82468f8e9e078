"""The store port: what the use cases ask of storage, in domain objects. One instance
serves one workspace: it adds the workspace to every read and write, so no caller can
forget it.

Read-modify-write goes through `change_deal`: the store reads the deal and calls the use
case's function, which changes it (raising domain errors as needed) and returns whether
to write. The store keeps this process's changes of one deal from interleaving and makes
the write conditional on the revision read; a change that keeps losing to other replicas
raises `ChangedMeanwhile`. The function may run again on a fresh read, so it must depend
only on what it is given and on reads it makes.

Where the database needs them (the `ferretdb` profile), the store runs the embedded
database's workarounds (a read index serving lists, counts, the board and the reports);
nothing here says whether it does.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Protocol

from crm_kit.audit_read import AuditTrail
from crm_kit.context import RequestContext
from crm_kit.pagination import Page
from crm_kit.records import Stale as ChangedMeanwhile

from ..domain.deal import Deal
from ..domain.facts import ReportedDeal
from ..domain.handover import Handover
from ..domain.pipeline import Pipeline
from ..domain.queries import DealQuery, DealSelection, StageTotal
from ..domain.records import (
    CompanyFacts,
    EnteredRate,
    ForecastSnapshot,
    Lease,
    Quota,
    Submission,
    TrainingJob,
)
from ..domain.trained_model import TrainedModel
from ..domain.win_model import WinModel

Change = Callable[[Deal], Awaitable[bool]]

__all__ = [
    "Board",
    "Change",
    "ChangedMeanwhile",
    "DealsStore",
    "TrainedPipeline",
    "WorkspaceStore",
]

# A board: every (stage, currency) total of the pipeline, and each stage's first page.
Board = tuple[list[StageTotal], dict[str, list[Deal]]]
# A pipeline with a model, and when the model was trained: (workspace, pipeline, when).
TrainedPipeline = tuple[str, str, datetime]


@dataclass(frozen=True)
class NamedReferences:
    """What contacts knows of names an import batch gives, each as asked -> its id."""

    company_names: dict[str, str] = field(default_factory=dict)
    company_domains: dict[str, str] = field(default_factory=dict)
    emails: dict[str, str] = field(default_factory=dict)


class ContactsUnavailable(Exception):
    """The contacts service did not answer (the batch may be sent again)."""


class ContactsDirectory(Protocol):
    """What the deals service asks the contacts service (NATS request/reply)."""

    async def references(
        self,
        caller: RequestContext,
        names: Sequence[str],
        domains: Sequence[str],
        emails: Sequence[str],
    ) -> NamedReferences:
        """Raises ContactsUnavailable."""


class WorkspaceStore(Protocol):
    @property
    def workspace_id(self) -> str: ...

    # The workspace's audit log (crm_kit.audit): the changes to its records.
    audit_trail: AuditTrail

    # --- pipelines -----------------------------------------------------------------------
    async def get_pipeline(self, pipeline_id: str) -> Pipeline | None: ...
    async def list_pipelines(self) -> list[Pipeline]:
        """Oldest first."""

    async def add_pipeline(self, pipeline: Pipeline) -> bool:
        """False when a pipeline with this id exists (a repeat or a concurrent first use)."""

    async def save_pipeline(self, pipeline: Pipeline, previous_version: int) -> bool:
        """Write the pipeline's new version if the stored one is still `previous_version`."""

    # --- deals ---------------------------------------------------------------------------
    async def get_deals(self, ids: Sequence[str]) -> list[Deal]:
        """The live deals with these ids, in the order asked (absent ones left out)."""

    async def add_deal(self, deal: Deal) -> None: ...
    async def change_deal(self, deal_id: str, change: Change) -> Deal | None:
        """None when there is no such live deal."""

    async def list_deals(self, query: DealQuery) -> Page[Deal]: ...
    async def count_deals(self, selection: DealSelection) -> int: ...
    async def find_deals(self, selection: DealSelection) -> list[Deal]:
        """Every deal selected, by id."""

    async def board(
        self,
        pipeline_id: str,
        stage_keys: Sequence[str],
        per_stage: int,
        narrowed: DealSelection | None = None,
    ) -> Board:
        """The pipeline's totals per (stage, currency) and each listed stage's first
        `per_stage` deals (largest amount first), over the pipeline's deals that
        `narrowed` selects too (the board's owner and title text) when given."""

    async def pipeline_facts(
        self, pipeline_id: str, narrowed: DealSelection | None = None
    ) -> Sequence[ReportedDeal]:
        """What the reports read of each live deal of the pipeline (that `narrowed`
        selects too, when given)."""

    async def pipeline_report(
        self,
        pipeline_id: str,
        narrowed: DealSelection | None,
        key: Hashable,
        compute: Callable[[Sequence[ReportedDeal]], Any],
        merge: Callable[[Sequence[Any]], Any] | None = None,
    ) -> Any:
        """`compute` over `pipeline_facts(pipeline_id, narrowed)`; a store may return the
        result it computed earlier under the same `key` for the same deals (until one of
        them changes), so `key` names everything else the result depends on. `merge`, when
        given, makes the result of disjoint sets of deals from theirs (a store may keep
        the report in parts and compute only the parts whose deals changed)."""

    async def pipeline_deals(self, pipeline_id: str) -> list[Deal]:
        """Every live deal of the pipeline (the win model's training reads them)."""

    # --- imports -------------------------------------------------------------------------
    async def existing_external_ids(self, external_ids: Sequence[str]) -> set[str]: ...
    async def deals_by_external_ids(self, external_ids: Sequence[str]) -> list[Deal]:
        """Live deals with these external ids."""

    def prepare_import(self, batch_id: str, deals: Sequence[Deal]) -> None:
        """Make ahead, without writing, what `import_deals` of these deals (the same
        objects, the same batch id) makes before its first statement; dropped if the
        insert is of other deals."""

    async def import_deals(self, batch_id: str, deals: Sequence[Deal]) -> list[Deal]:
        """Insert imported deals (with their events): those refused (id or external id
        taken). The events of a batch are published together, from one outbox document
        named `batch_id` (the same when the batch is sent again); a crash midway is
        repaired by `repair_imports`."""

    async def imported_deal_ids(self, job_id: str) -> list[str]:
        """Ids of the deals import job `job_id` created."""

    async def repair_imports(self) -> int:
        """Finish batches a crashed import left half-written; how many."""

    # --- handovers -----------------------------------------------------------------------
    async def add_handover(self, handover: Handover) -> bool:
        """False when this handover is recorded already (a repeat)."""

    # --- win models ----------------------------------------------------------------------
    async def get_model(self, pipeline_id: str) -> WinModel | None:
        """The pipeline's current model (cached per process for a short while)."""

    async def save_model(self, trained: TrainedModel) -> None:
        """Store the pipeline's new model (with its event) and keep a copy by version."""

    async def model_versions(self, pipeline_id: str) -> list[WinModel]: ...
    async def get_job(self, job_id: str) -> TrainingJob | None: ...
    async def put_job(self, job: TrainingJob) -> None: ...
    async def pipeline_jobs(self, pipeline_id: str) -> list[TrainingJob]: ...
    async def take_lease(self, collection: str, lease: Lease) -> bool:
        """True for exactly one caller per lease key (across replicas)."""

    async def get_lease(self, collection: str, key: str) -> Lease | None: ...
    async def drop_lease(self, collection: str, key: str) -> None: ...

    # --- company facts, forecasting ------------------------------------------------------
    async def get_company_facts(self, company_id: str) -> CompanyFacts | None: ...
    async def all_company_facts(self) -> list[CompanyFacts]: ...
    async def put_company_facts(self, facts: CompanyFacts) -> None: ...
    async def add_company_facts(self, facts: Sequence[CompanyFacts]) -> list[CompanyFacts]:
        """One write for all; returns those refused (stored meanwhile)."""

    async def add_submission(self, submission: Submission) -> bool:
        """False when this version exists (a concurrent submission took it)."""

    async def submissions(
        self,
        pipeline_id: str,
        *,
        period: str | None = None,
        scope: str | None = None,
        scope_id: str | None = None,
    ) -> list[Submission]: ...
    async def put_quota(self, quota: Quota) -> None: ...
    async def quotas(self, period: str) -> list[Quota]: ...
    async def put_rate(self, rate: EnteredRate) -> None: ...
    async def rates(self) -> list[EnteredRate]: ...
    async def get_snapshots(
        self, pipeline_id: str, days: Sequence[date], settled_before: date | None = None
    ) -> dict[date, ForecastSnapshot]:
        """The snapshots of these days that exist. Days before `settled_before` are past
        any writer (a snapshot is taken for the day it is taken on): what is read of them,
        present or absent, may be kept and answered again without a read."""

    async def put_snapshot(self, snapshot: ForecastSnapshot) -> None:
        """Insert or replace (an on-demand snapshot replaces the day's earlier one)."""


class DealsStore(Protocol):
    def for_workspace(self, workspace_id: str) -> WorkspaceStore: ...

    async def trained_pipelines(self) -> list[TrainedPipeline]:
        """Every workspace's pipelines with a model (the periodic retrain)."""

    async def all_pipelines(self) -> list[tuple[str, str]]:
        """(workspace, pipeline id) of every pipeline (the daily snapshots)."""

    async def repair_imports(self) -> int:
        """Arm every workspace's import batches a crash left held (at start-up)."""


# --- what a deal references in the contacts service (store/references.py) ----------------


@dataclass(frozen=True)
class Missing:
    """Of the ids asked, those that name no live record in the workspace."""

    contact_ids: tuple[str, ...] = ()
    company_ids: tuple[str, ...] = ()


class References(Protocol):
    async def missing(
        self, caller: RequestContext, contact_ids: Sequence[str], company_ids: Sequence[str]
    ) -> Missing: ...
