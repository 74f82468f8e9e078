"""An import job: one uploaded file, the person's mapping, and its runs (dry or real) with
their progress, checkpoint and outcome. Its behaviour raises `JobChanged`, which the
outbound adapter publishes as `crm.imports.job.*` (live progress)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from crm_kit.entity import Entity

DRAFT = "draft"  # uploaded and previewed; no valid mapping yet
READY = "ready"  # a valid mapping: may run
QUEUED = "queued"  # a run was asked for; a runner will take it
RUNNING = "running"
COMPLETED = "completed"
FAILED = "failed"
CANCELLED = "cancelled"
UNDONE = "undone"
ACTIVE = (QUEUED, RUNNING)
STATUSES = (DRAFT, READY, QUEUED, RUNNING, COMPLETED, FAILED, CANCELLED, UNDONE)

CREATED = "created"
PROGRESSED = "progressed"
FINISHED = "finished"
WAS_UNDONE = "undone"

# Row issues kept per run (all are counted): enough to fix a file, bounded however bad it is.
MAX_STORED_ISSUES = 10_000


@dataclass(frozen=True)
class JobChanged:
    job: ImportJob
    kind: str  # created, progressed, finished, undone


@dataclass
class Counts:
    rows_read: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0
    failed: int = 0
    warnings: int = 0

    def add(self, other: Counts) -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def as_dict(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}

    @classmethod
    def of(cls, data: dict[str, Any] | None) -> Counts:
        data = data or {}
        return cls(**{name: int(data.get(name, 0)) for name in cls.__dataclass_fields__})


@dataclass
class ImportJob(Entity):
    id: str
    workspace_id: str
    record_type: str
    created_by: str
    file_name: str
    file_size: int
    upload_id: str
    created_at: datetime
    updated_at: datetime
    preview: dict[str, Any] = field(default_factory=dict)
    mapping: dict[str, Any] | None = None
    on_existing: str = "skip"
    default_currency: str | None = None
    status: str = DRAFT
    dry_run: bool = False
    run: int = 0  # which run the counts and checkpoint are of
    # Who started the run: the owners' endpoints are called as this user.
    started_by: str | None = None
    started_roles: list[str] = field(default_factory=list)
    counts: Counts = field(default_factory=Counts)
    fraction: float = 0.0
    # The checkpoint: every row numbered below `next_row` was acknowledged by the owner,
    # in `batches` batches. A resumed run skips those rows (the owner is idempotent per
    # row, so a batch sent again after a crash between its reply and this is harmless).
    next_row: int = 0
    batches: int = 0
    issue_batches: list[int] = field(default_factory=list)  # batches with stored issues
    stored_issues: int = 0
    error: str | None = None
    duplicates: dict[str, Any] | None = None
    dry_run_counts: Counts | None = None
    cancel_requested: bool = False
    # Runners of this run that ended on an unexpected error (`crashed`).
    crashes: int = 0
    removed: int = 0  # records the undo removed
    started_at: datetime | None = None
    finished_at: datetime | None = None
    version: int = 0

    @property
    def active(self) -> bool:
        return self.status in ACTIVE

    def created(self) -> None:
        self.raise_event(JobChanged(self, CREATED))

    def set_mapping(
        self, mapping: dict[str, Any], on_existing: str, currency: str | None, now: datetime
    ) -> None:
        self.mapping = mapping
        self.on_existing = on_existing
        self.default_currency = currency
        self.status = READY
        self.updated_at = now

    def queue(self, dry_run: bool, caller: str, roles: list[str], now: datetime) -> None:
        """A new run from the first row (the owner answers rows of an earlier run of this
        job with the same records, so nothing is created twice)."""
        self.status = QUEUED
        self.dry_run = dry_run
        self.run += 1
        self.started_by = caller
        self.started_roles = sorted(roles)
        self.counts = Counts()
        self.fraction = 0.0
        self.next_row = 0
        self.batches = 0
        self.issue_batches = []
        self.stored_issues = 0
        self.error = None
        self.duplicates = None
        self.cancel_requested = False
        self.crashes = 0
        self.started_at = now
        self.finished_at = None
        self.updated_at = now
        self.raise_event(JobChanged(self, PROGRESSED))

    def begin(self, now: datetime) -> None:
        if self.status == QUEUED:
            self.status = RUNNING
            self.updated_at = now

    def checkpoint(
        self,
        counts: Counts,
        next_row: int,
        fraction: float | None,
        issues_stored: int,
        now: datetime,
    ) -> None:
        """A batch was acknowledged: its counts join the run's and the run resumes after
        it. (`issues_stored`: how many of its issues were kept, its batch number is the
        count of batches before it.)"""
        if issues_stored:
            self.issue_batches = [*self.issue_batches, self.batches]
            self.stored_issues += issues_stored
        self.batches += 1
        self.counts.add(counts)
        self.next_row = next_row
        if fraction is not None:
            self.fraction = max(self.fraction, min(1.0, fraction))
        self.updated_at = now
        self.raise_event(JobChanged(self, PROGRESSED))

    def finish(
        self,
        status: str,
        now: datetime,
        *,
        error: str | None = None,
        duplicates: dict[str, Any] | None = None,
    ) -> None:
        self.status = status
        self.error = error
        if duplicates is not None:
            self.duplicates = duplicates
        if status == COMPLETED:
            self.fraction = 1.0
            if self.dry_run:
                self.dry_run_counts = Counts.of(self.counts.as_dict())
        self.finished_at = now
        self.updated_at = now
        self.raise_event(JobChanged(self, FINISHED))

    def crashed(self, error: str, max_attempts: int, now: datetime) -> None:
        """A runner of this run ended on an unexpected error: the run is tried again (from
        its checkpoint) by the next runner, unless that was the last attempt allowed."""
        self.crashes += 1
        self.updated_at = now
        if self.crashes >= max_attempts:
            self.finish(
                FAILED,
                now,
                error=f"the import stopped on an unexpected error {self.crashes} times"
                f" (last: {error}); the rows before row {self.next_row} were imported,"
                " start it again to resume",
            )

    def request_cancel(self, now: datetime) -> None:
        """Queued: cancelled at once. Running: its runner stops before the next batch."""
        self.updated_at = now
        if self.status == QUEUED:
            self.finish(CANCELLED, now)
        else:
            self.cancel_requested = True

    def undone(self, removed: int, now: datetime) -> None:
        self.status = UNDONE
        self.error = None
        self.updated_at = now
        self.finished_at = now
        self.removed = removed
        self.raise_event(JobChanged(self, WAS_UNDONE))
