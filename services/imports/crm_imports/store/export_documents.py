"""The codec of export jobs and their files' chunks, and their RecordTypes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from crm_kit.records import RecordType

from ..config import EXPORT_CHUNKS, EXPORT_JOBS
from ..domain.export_job import ExportJob, FileChunk


def export_to_doc(j: ExportJob) -> dict[str, Any]:
    return {
        "_id": j.id,
        "workspace_id": j.workspace_id,
        "record_type": j.record_type,
        "format": j.format,
        # JSON text: a filter's values may hold any text (FerretDB field-name limits).
        "filter": orjson.dumps(j.filter).decode(),
        "created_by": j.created_by,
        "roles": list(j.roles),
        "created_at": j.created_at,
        "updated_at": j.updated_at,
        "status": j.status,
        "attempt": j.attempt,
        "rows_written": j.rows_written,
        "total": j.total,
        "file_id": j.file_id,
        "file_name": j.file_name,
        "size": j.size,
        "chunks": j.chunks,
        "error": j.error,
        "crashes": j.crashes,
        "cancel_requested": j.cancel_requested,
        "finished_at": j.finished_at,
        "expires_at": j.expires_at,
        "version": j.version,
    }


def export_from_doc(d: Mapping[str, Any]) -> ExportJob:
    return ExportJob(
        id=d["_id"],
        workspace_id=d["workspace_id"],
        record_type=d["record_type"],
        format=d["format"],
        filter=orjson.loads(d.get("filter") or "{}"),
        created_by=d["created_by"],
        roles=list(d.get("roles") or []),
        created_at=d["created_at"],
        updated_at=d["updated_at"],
        status=d["status"],
        attempt=int(d.get("attempt", 0)),
        rows_written=int(d.get("rows_written", 0)),
        total=d.get("total"),
        file_id=d.get("file_id"),
        file_name=d.get("file_name"),
        size=int(d.get("size", 0)),
        chunks=int(d.get("chunks", 0)),
        error=d.get("error"),
        crashes=int(d.get("crashes", 0)),
        cancel_requested=bool(d.get("cancel_requested")),
        finished_at=d.get("finished_at"),
        expires_at=d.get("expires_at"),
        version=int(d.get("version", 0)),
    )


def chunk_to_doc(c: FileChunk) -> dict[str, Any]:
    return {
        "_id": c.id,
        "workspace_id": c.workspace_id,
        "file_id": c.file_id,
        "number": c.number,
        "data": c.data,
        "written_at": c.written_at,
    }


def chunk_from_doc(d: Mapping[str, Any]) -> FileChunk:
    return FileChunk(
        d["_id"], d["workspace_id"], d["file_id"], int(d["number"]), bytes(d["data"]),
        d["written_at"],
    )  # fmt: skip


EXPORT_JOB = RecordType(EXPORT_JOBS, export_to_doc, export_from_doc, versioned=True)
EXPORT_CHUNK = RecordType(EXPORT_CHUNKS, chunk_to_doc, chunk_from_doc)
