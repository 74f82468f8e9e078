"""CloudEvents of the import service (`crm_contracts.imports`). The writer calls `encode`
for the domain events a write carries; the relay publishes them."""

from __future__ import annotations

from crm_contracts import imports as contract
from crm_contracts.envelope import CloudEvent, new_event

from ..config import SOURCE
from ..domain import events
from ..domain.export_job import ExportChanged
from ..domain.job import CREATED, FINISHED, PROGRESSED, WAS_UNDONE

SUBJECTS = {
    CREATED: contract.JOB_CREATED,
    PROGRESSED: contract.JOB_PROGRESSED,
    FINISHED: contract.JOB_FINISHED,
    WAS_UNDONE: contract.JOB_UNDONE,
}


def encode(event: object) -> CloudEvent:
    """The writer's `encode`: a domain event of this service as its CloudEvent."""
    match event:
        case events.JobChanged(job, kind):
            changed = contract.ImportJobChanged(
                job_id=job.id,
                record_type=job.record_type,
                status=job.status,  # type: ignore[arg-type]
                dry_run=job.dry_run,
                created_by=job.created_by,
                counts=contract.JobCounts(**job.counts.as_dict()),
                fraction=job.fraction,
                at=job.updated_at,
            )
            return new_event(
                event_type=SUBJECTS[kind],
                source=SOURCE,
                workspace=job.workspace_id,
                subject=job.id,
                data=changed.wire(),
            )
        case ExportChanged(job):
            return new_event(
                event_type=contract.EXPORT_CHANGED,
                source=SOURCE,
                workspace=job.workspace_id,
                subject=job.id,
                data=contract.ExportJobChanged(
                    export_id=job.id,
                    record_type=job.record_type,
                    format=job.format,  # type: ignore[arg-type]
                    status=job.status,  # type: ignore[arg-type]
                    created_by=job.created_by,
                    rows_written=job.rows_written,
                    total=job.total,
                    at=job.updated_at,
                ).wire(),
            )
    raise TypeError(f"not an imports domain event: {type(event).__name__}")
