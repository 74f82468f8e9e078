"""A file uploaded for an import, stored in chunks: never held whole in memory."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass
class Upload:
    id: str
    workspace_id: str
    uploaded_by: str
    file_name: str
    content_type: str | None
    size: int
    sha256: str
    chunks: int
    created_at: datetime
    # The whole body arrived and matched its manifest; until then nothing may read it.
    complete: bool = False
    # Taken by a job (an upload feeds one job).
    job_id: str | None = None


@dataclass
class Chunk:
    id: str  # `<upload id>:<number, 6 digits>`
    workspace_id: str
    upload_id: str
    number: int
    data: bytes


def chunk_id(upload_id: str, number: int) -> str:
    return f"{upload_id}:{number:06d}"
