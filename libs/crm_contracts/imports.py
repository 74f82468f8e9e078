"""Events published by the import service (`services/imports`) and the upload door the
gateway forwards files to.

An import job reads an uploaded file (crm_tabular), maps its rows by the person's mapping
and sends them in batches to the owner of the record type (`import_batches`). Every change
of a job's state is an event, so the real-time API can show progress live and other
services can react to a finished import. The service serves no request/reply endpoint:
people import through GraphQL; it calls the owners' endpoints (`import_batches`).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from .base import Payload, UtcDateTime
from .endpoints import RpcEndpoint
from .envelope import event_subject

SERVICE = "imports"

JOB_CREATED = event_subject(SERVICE, "job", "created")
# A batch was acknowledged by the owner (the job's checkpoint moved), or a run started.
JOB_PROGRESSED = event_subject(SERVICE, "job", "progressed")
# A run ended: completed, failed or cancelled (`status` says which).
JOB_FINISHED = event_subject(SERVICE, "job", "finished")
# What the job created was removed (`undoImport`).
JOB_UNDONE = event_subject(SERVICE, "job", "undone")

# An export job changed: queued, a page written (progress), or its end (`status` says which).
EXPORT_CHANGED = event_subject(SERVICE, "export", "changed")

JobStatus = Literal[
    "draft", "ready", "queued", "running", "completed", "failed", "cancelled", "undone"
]

# The gateway forwards each file of a GraphQL multipart request to this path of the imports
# subgraph (`POST`, the file's bytes as the body). The request carries the gateway's
# assertion (`crm-assertion`, issuer `gateway`, audience UPLOAD_AUDIENCE) bound to the
# manifest (UPLOAD_MANIFEST_HEADER: base64url of the manifest's JSON), and the manifest
# names the body's size and SHA-256: the service checks both as it stores the body and
# refuses a body that does not match, so the assertion covers the file without the gateway
# having to send it twice.
UPLOAD_PATH = "/uploads"
UPLOAD_AUDIENCE = "upload:imports"
UPLOAD_MANIFEST_HEADER = "crm-upload-manifest"
# The largest file an import takes (the gateway refuses a larger multipart body with 413).
MAX_UPLOAD_BYTES = 100 * 1024 * 1024


class UploadManifest(Payload):
    file_name: str = Field(max_length=255)
    content_type: str | None = Field(default=None, max_length=255)
    size: int = Field(ge=0, le=MAX_UPLOAD_BYTES)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


class UploadStored(Payload):
    """The subgraph's answer to an upload: what the gateway puts in the operation's
    variables in place of the file."""

    upload_id: str


class JobCounts(Payload):
    rows_read: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0
    failed: int = 0
    warnings: int = 0


class ImportJobChanged(Payload):
    """A job's state after the change: enough to show progress without a query."""

    job_id: str
    record_type: str
    status: JobStatus
    dry_run: bool
    created_by: str
    counts: JobCounts
    fraction: float = Field(ge=0.0, le=1.0)
    at: UtcDateTime


ExportStatus = Literal["queued", "running", "completed", "failed", "cancelled"]

# The gateway serves an export's file at DOWNLOAD_PATH (`GET`, the caller's bearer token)
# and fetches it from this path of the imports subgraph with its assertion (issuer
# `gateway`, audience DOWNLOAD_AUDIENCE) bound to the export's id as the body.
DOWNLOAD_PATH = "/exports/{id}/file"
DOWNLOAD_AUDIENCE = "download:imports"


class ExportJobChanged(Payload):
    """An export's state after the change: enough to show progress without a query."""

    export_id: str
    record_type: str
    format: Literal["csv", "xlsx"]
    status: ExportStatus
    created_by: str
    rows_written: int = Field(ge=0)
    total: int | None = None
    at: UtcDateTime


EVENTS: dict[str, type[Payload]] = {
    JOB_CREATED: ImportJobChanged,
    JOB_PROGRESSED: ImportJobChanged,
    JOB_FINISHED: ImportJobChanged,
    JOB_UNDONE: ImportJobChanged,
    EXPORT_CHANGED: ExportJobChanged,
}

ENDPOINTS: tuple[RpcEndpoint, ...] = ()
