"""The service's small keyed records (each stored as one document whose `_id` starts with
the workspace: read by `_id`, the one look-up FerretDB's SQLite backend serves from an
index): training jobs and the leases that claim work, forecast submissions and quotas,
daily forecast snapshots, the companies' facts kept from the contacts events, and the
exchange rates entered. Plain data: the use cases decide what goes in them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from .rates import Rate

QUEUED, RUNNING, SUCCEEDED, FAILED = "QUEUED", "RUNNING", "SUCCEEDED", "FAILED"
OWNER, TEAM = "OWNER", "TEAM"


@dataclass
class TrainingJob:
    """A background training of a pipeline's win model."""

    id: str
    workspace_id: str
    pipeline_id: str
    requested_by: str | None
    requested_at: datetime
    heartbeat_at: datetime
    status: str = QUEUED
    progress: float = 0.0
    step: str = "queued"
    started_at: datetime | None = None
    finished_at: datetime | None = None
    model_version: int | None = None
    deals_updated: int | None = None
    error: str | None = None

    @property
    def active(self) -> bool:
        return self.status in (QUEUED, RUNNING)


@dataclass
class Lease:
    """A claim on work that exactly one replica may do (a unique insert of its `key`):
    a pipeline's running training (`job_id`), a period's retrain, a day's snapshot."""

    key: str
    workspace_id: str
    taken_at: datetime
    job_id: str | None = None
    pipeline_id: str | None = None
    period: int | None = None


@dataclass
class Submission:
    """One version of a forecast call (never overwritten)."""

    workspace_id: str
    pipeline_id: str
    period: str
    scope: str  # OWNER | TEAM
    scope_id: str
    version: int
    currency: str
    commit_minor: int
    best_case_minor: int
    model_minor: int | None
    note: str | None
    submitted_by: str
    submitted_at: datetime


@dataclass
class Quota:
    workspace_id: str
    period: str
    scope: str  # OWNER | TEAM
    scope_id: str
    amount_minor: int
    currency: str
    set_by: str
    set_at: datetime


@dataclass
class SnapshotMonth:
    """One month of a forecast as a snapshot kept it (minor units)."""

    month: str
    closed_minor: int
    commit_minor: int
    best_case_minor: int
    weighted_minor: int
    pipeline_minor: int
    open_count: int
    won_count: int
    owner_id: str | None = None  # set in the per-owner rows


@dataclass
class ForecastSnapshot:
    """A day's forecast of a pipeline's current and next month, overall and per owner."""

    workspace_id: str
    pipeline_id: str
    day: date
    taken_at: datetime
    taken_by: str | None
    currency: str
    months: list[SnapshotMonth] = field(default_factory=list)
    owners: list[SnapshotMonth] = field(default_factory=list)

    @property
    def id(self) -> str:
        return snapshot_id(self.workspace_id, self.pipeline_id, self.day)

    def month(self, month: str) -> SnapshotMonth | None:
        return next((m for m in self.months if m.month == month), None)


def snapshot_id(workspace_id: str, pipeline_id: str, day: date) -> str:
    return f"{workspace_id}:{pipeline_id}:{day.isoformat()}"


@dataclass
class CompanyFacts:
    """The deals service's copy of a company's attributes the win model reads, as of the
    contacts event (`version`) it came from."""

    workspace_id: str
    company_id: str
    industry: str | None
    size: int | None
    version: datetime
    deleted: bool = False


@dataclass
class EnteredRate:
    """An exchange rate as entered, and by whom."""

    workspace_id: str
    rate: Rate
    entered_by: str
    entered_at: datetime
