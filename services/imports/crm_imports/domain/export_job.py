"""An export job: one list (a record type and its GraphQL filter) written to a CSV or XLSX
file for the person who asked, with its progress and outcome. Its behaviour raises
`ExportChanged`, which the outbound adapter publishes as `crm.imports.export.changed.v1`
(live progress).

An attempt writes the whole file to disk, then stores it in chunks under a file id of
its own (`<job id>-<attempt>`), then marks the job completed naming that file in one
conditional write: a runner that dies anywhere leaves no file marked done, and the next
attempt starts again from the first page (a file is written in minutes, and an XLSX
cannot be appended to)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from crm_kit.entity import Entity

QUEUED = "queued"
RUNNING = "running"
COMPLETED = "completed"
FAILED = "failed"
CANCELLED = "cancelled"
ACTIVE = (QUEUED, RUNNING)
STATUSES = (QUEUED, RUNNING, COMPLETED, FAILED, CANCELLED)
CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


@dataclass
class FileChunk:
    """Part of an export's file (the upload chunks' scheme: `<file id>:<number>`), with
    when it was written, which the janitor goes by."""

    id: str
    workspace_id: str
    file_id: str
    number: int
    data: bytes
    written_at: datetime


@dataclass(frozen=True)
class ExportChanged:
    job: ExportJob


@dataclass
class ExportJob(Entity):
    id: str
    workspace_id: str
    record_type: str
    format: str  # csv, xlsx
    filter: dict[str, Any]
    # Who asked: the owners read every page as this person (their sharing and field
    # permissions), and only they may download the file.
    created_by: str
    roles: list[str]
    created_at: datetime
    updated_at: datetime
    status: str = QUEUED
    # Which attempt is running: a runner that took the job over starts the next one.
    attempt: int = 0
    rows_written: int = 0
    total: int | None = None
    # The stored file (complete): set only together with COMPLETED.
    file_id: str | None = None
    file_name: str | None = None
    size: int = 0
    chunks: int = 0
    error: str | None = None
    # Attempts that ended on an unexpected error (`crashed`).
    crashes: int = 0
    cancel_requested: bool = False
    finished_at: datetime | None = None
    # The file is served until then; the janitor removes it after.
    expires_at: datetime | None = None
    version: int = 0

    @property
    def active(self) -> bool:
        return self.status in ACTIVE

    @property
    def content_type(self) -> str:
        return CONTENT_TYPES[self.format]

    @property
    def fraction(self) -> float | None:
        if self.status == COMPLETED:
            return 1.0
        if not self.total:
            return None
        return min(1.0, self.rows_written / self.total)

    def expired(self, now: datetime) -> bool:
        return self.expires_at is not None and now >= self.expires_at

    def queued(self) -> None:
        self.raise_event(ExportChanged(self))

    def begin(self, now: datetime) -> None:
        """A runner starts an attempt (the first, or again after one that died)."""
        self.status = RUNNING
        self.attempt += 1
        self.rows_written = 0
        self.updated_at = now
        self.raise_event(ExportChanged(self))

    def progressed(self, rows_written: int, total: int | None, now: datetime) -> None:
        self.rows_written = rows_written
        if total is not None:
            self.total = total
        self.updated_at = now
        self.raise_event(ExportChanged(self))

    def completed(
        self,
        file_id: str,
        file_name: str,
        size: int,
        chunks: int,
        rows: int,
        now: datetime,
        expires_at: datetime,
    ) -> None:
        self.status = COMPLETED
        self.file_id, self.file_name, self.size, self.chunks = file_id, file_name, size, chunks
        self.rows_written = rows
        self.total = rows
        self.finished_at = self.updated_at = now
        self.expires_at = expires_at
        self.raise_event(ExportChanged(self))

    def finish(self, status: str, now: datetime, error: str | None = None) -> None:
        self.status = status
        self.error = error
        self.finished_at = self.updated_at = now
        self.raise_event(ExportChanged(self))

    def crashed(self, error: str, max_attempts: int, now: datetime) -> None:
        """An attempt ended on an unexpected error: the next runner starts another, unless
        that was the last one allowed (a value that fails the writer every time must end
        the export, not restart it at every lapse of the lease forever)."""
        self.crashes += 1
        self.updated_at = now
        if self.crashes >= max_attempts:
            self.finish(
                FAILED,
                now,
                error=f"the export stopped on an unexpected error {self.crashes} times"
                f" (last: {error}); export again, or in the other format",
            )

    def request_cancel(self, now: datetime) -> None:
        """Queued: cancelled at once. Running: its runner stops before the next page."""
        if self.status == QUEUED:
            self.finish(CANCELLED, now)
        else:
            self.cancel_requested = True
            self.updated_at = now
