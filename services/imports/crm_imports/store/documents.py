"""The Mongo adapter's codec: domain records to documents and back, and the RecordTypes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from crm_kit.leases import lease_doc
from crm_kit.records import RecordType

from ..config import ISSUES, JOBS, LEASES, TEMPLATES, UPLOAD_CHUNKS, UPLOADS
from ..domain.issues import Issue, IssueBatch
from ..domain.job import Counts, ImportJob
from ..domain.template import MappingTemplate
from ..domain.upload import Chunk, Upload


# Previews, mappings, reports and issues are stored as JSON text: they hold user-defined
# keys (column names with `.` or a leading `$`) that FerretDB cannot store as field names.
def _json(value: Any) -> str | None:
    return None if value is None else orjson.dumps(value).decode()


def _unjson(text: Any) -> Any:
    return None if text is None else orjson.loads(text)


def job_to_doc(j: ImportJob) -> dict[str, Any]:
    return {
        "_id": j.id,
        "workspace_id": j.workspace_id,
        "record_type": j.record_type,
        "created_by": j.created_by,
        "file_name": j.file_name,
        "file_size": j.file_size,
        "upload_id": j.upload_id,
        "created_at": j.created_at,
        "updated_at": j.updated_at,
        "preview": _json(j.preview),
        "mapping": _json(j.mapping),
        "on_existing": j.on_existing,
        "default_currency": j.default_currency,
        "status": j.status,
        "dry_run": j.dry_run,
        "run": j.run,
        "started_by": j.started_by,
        "started_roles": list(j.started_roles),
        "counts": j.counts.as_dict(),
        "fraction": j.fraction,
        "next_row": j.next_row,
        "batches": j.batches,
        "issue_batches": list(j.issue_batches),
        "stored_issues": j.stored_issues,
        "error": j.error,
        "duplicates": _json(j.duplicates),
        "dry_run_counts": j.dry_run_counts.as_dict() if j.dry_run_counts else None,
        "cancel_requested": j.cancel_requested,
        "crashes": j.crashes,
        "removed": j.removed,
        "started_at": j.started_at,
        "finished_at": j.finished_at,
        "version": j.version,
    }


def job_from_doc(d: Mapping[str, Any]) -> ImportJob:
    dry = d.get("dry_run_counts")
    return ImportJob(
        id=d["_id"],
        workspace_id=d["workspace_id"],
        record_type=d["record_type"],
        created_by=d["created_by"],
        file_name=d["file_name"],
        file_size=int(d["file_size"]),
        upload_id=d["upload_id"],
        created_at=d["created_at"],
        updated_at=d["updated_at"],
        preview=_unjson(d.get("preview")) or {},
        mapping=_unjson(d.get("mapping")),
        on_existing=d.get("on_existing") or "skip",
        default_currency=d.get("default_currency"),
        status=d["status"],
        dry_run=bool(d.get("dry_run")),
        run=int(d.get("run", 0)),
        started_by=d.get("started_by"),
        started_roles=list(d.get("started_roles") or []),
        counts=Counts.of(d.get("counts")),
        fraction=float(d.get("fraction", 0.0)),
        next_row=int(d.get("next_row", 0)),
        batches=int(d.get("batches", 0)),
        issue_batches=[int(b) for b in d.get("issue_batches") or []],
        stored_issues=int(d.get("stored_issues", 0)),
        error=d.get("error"),
        duplicates=_unjson(d.get("duplicates")),
        dry_run_counts=Counts.of(dry) if dry is not None else None,
        cancel_requested=bool(d.get("cancel_requested")),
        crashes=int(d.get("crashes", 0)),
        removed=int(d.get("removed", 0)),
        started_at=d.get("started_at"),
        finished_at=d.get("finished_at"),
        version=int(d.get("version", 0)),
    )


def upload_to_doc(u: Upload) -> dict[str, Any]:
    return {
        "_id": u.id,
        "workspace_id": u.workspace_id,
        "uploaded_by": u.uploaded_by,
        "file_name": u.file_name,
        "content_type": u.content_type,
        "size": u.size,
        "sha256": u.sha256,
        "chunks": u.chunks,
        "created_at": u.created_at,
        "complete": u.complete,
        "job_id": u.job_id,
    }


def upload_from_doc(d: Mapping[str, Any]) -> Upload:
    return Upload(
        id=d["_id"],
        workspace_id=d["workspace_id"],
        uploaded_by=d["uploaded_by"],
        file_name=d["file_name"],
        content_type=d.get("content_type"),
        size=int(d["size"]),
        sha256=d["sha256"],
        chunks=int(d["chunks"]),
        created_at=d["created_at"],
        complete=bool(d.get("complete")),
        job_id=d.get("job_id"),
    )


def chunk_to_doc(c: Chunk) -> dict[str, Any]:
    return {
        "_id": c.id,
        "workspace_id": c.workspace_id,
        "upload_id": c.upload_id,
        "number": c.number,
        "data": c.data,
    }


def chunk_from_doc(d: Mapping[str, Any]) -> Chunk:
    return Chunk(d["_id"], d["workspace_id"], d["upload_id"], int(d["number"]), bytes(d["data"]))


def issues_to_doc(b: IssueBatch) -> dict[str, Any]:
    return {
        "_id": b.id,
        "workspace_id": b.workspace_id,
        "job_id": b.job_id,
        "issues": _json([i.as_dict() for i in b.issues]),
    }


def issues_from_doc(d: Mapping[str, Any]) -> IssueBatch:
    issues = [Issue.of(i) for i in _unjson(d.get("issues")) or []]
    return IssueBatch(d["_id"], d["workspace_id"], d["job_id"], issues)


def template_to_doc(t: MappingTemplate) -> dict[str, Any]:
    return {
        "_id": t.id,
        "workspace_id": t.workspace_id,
        "name": t.name,
        "record_type": t.record_type,
        "mapping": _json(t.mapping),
        "created_by": t.created_by,
        "updated_at": t.updated_at,
    }


def template_from_doc(d: Mapping[str, Any]) -> MappingTemplate:
    return MappingTemplate(
        id=d["_id"],
        workspace_id=d["workspace_id"],
        name=d["name"],
        record_type=d["record_type"],
        mapping=_unjson(d.get("mapping")) or {},
        created_by=d["created_by"],
        updated_at=d["updated_at"],
    )


@dataclass
class Lease:
    id: str
    taken_at: datetime
    workspace_id: str = ""  # leases are not a workspace's (one runner per job, anywhere)


def lease_to_doc(lease: Lease) -> dict[str, Any]:
    return {**lease_doc(lease.id, lease.taken_at), "workspace_id": lease.workspace_id}


def lease_from_doc(d: Mapping[str, Any]) -> Lease:
    return Lease(d["_id"], d["taken_at"], d.get("workspace_id", ""))


JOB = RecordType(JOBS, job_to_doc, job_from_doc, versioned=True)
UPLOAD = RecordType(UPLOADS, upload_to_doc, upload_from_doc)
CHUNK = RecordType(UPLOAD_CHUNKS, chunk_to_doc, chunk_from_doc)
ISSUE_BATCH = RecordType(ISSUES, issues_to_doc, issues_from_doc)
TEMPLATE = RecordType(TEMPLATES, template_to_doc, template_from_doc)
LEASE = RecordType(LEASES, lease_to_doc, lease_from_doc)
