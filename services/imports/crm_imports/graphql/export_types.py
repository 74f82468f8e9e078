"""GraphQL types of exports. Each wraps a domain export job and exposes it."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import cast

import strawberry
from strawberry.scalars import JSON

from crm_contracts.imports import DOWNLOAD_PATH

from ..domain.export_job import COMPLETED
from ..domain.export_job import ExportJob as Job
from .context import ContextInfo
from .types import ImportRecordType


@strawberry.enum
class ExportFormat(Enum):
    CSV = "csv"
    XLSX = "xlsx"


@strawberry.enum
class ExportStatus(Enum):
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


@strawberry.type(description="A list written to a CSV or XLSX file for the person who asked.")
class ExportJob:
    id: strawberry.ID
    record_type: ImportRecordType
    format: ExportFormat
    filter: JSON = strawberry.field(description="The list's filter, as the list query takes it.")
    status: ExportStatus
    rows_written: int
    total: int | None = strawberry.field(
        description="Rows the filter selects, when the owner knows it (progress: rowsWritten "
        "of total)."
    )
    fraction: float | None
    error: str | None
    cancel_requested: bool
    file_name: str | None
    size: int = strawberry.field(description="The file's size in bytes, once completed.")
    created_at: datetime
    finished_at: datetime | None
    expires_at: datetime | None = strawberry.field(
        description="Until when the file can be downloaded."
    )

    @strawberry.field(
        description="Where the gateway serves the file (GET with the same bearer token), "
        "once completed and until it expires; null otherwise."
    )
    def download_url(self, info: ContextInfo) -> str | None:
        if self.status is not ExportStatus.COMPLETED or self.expires_at is None:
            return None
        scope = info.context.exports
        if scope is not None and scope.now() >= self.expires_at:
            return None
        return DOWNLOAD_PATH.format(id=self.id)

    @classmethod
    def of(cls, job: Job) -> ExportJob:
        return cls(
            id=strawberry.ID(job.id),
            record_type=ImportRecordType(job.record_type),
            format=ExportFormat(job.format),
            filter=cast(JSON, job.filter),
            status=ExportStatus(job.status),
            rows_written=job.rows_written,
            total=job.total,
            fraction=job.fraction,
            error=job.error,
            cancel_requested=job.cancel_requested,
            file_name=job.file_name if job.status == COMPLETED else None,
            size=job.size,
            created_at=job.created_at,
            finished_at=job.finished_at,
            expires_at=job.expires_at,
        )
