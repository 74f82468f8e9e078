"""Files uploaded for imports: stored in chunks as they arrive (never whole in memory),
checked against the size and SHA-256 the gateway signed, and copied to a temporary file
when a job reads them (the readers need a seekable file; the disk holds it, not memory)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

from crm_contracts.imports import UploadManifest
from crm_kit.errors import BadUserInput, NotFound
from crm_kit.ids import new_id

from ..config import CHUNK_BYTES
from ..domain.upload import Chunk, Upload, chunk_id
from .scope import Scope


async def receive(scope: Scope, manifest: UploadManifest, body: AsyncIterator[bytes]) -> Upload:
    """Store the body as the manifest describes it; BadUserInput (and nothing kept) when
    it is longer or shorter or its digest differs."""
    scope.require_importer()
    upload = Upload(
        id=new_id(),
        workspace_id=scope.workspace_id,
        uploaded_by=scope.caller.subject,
        file_name=manifest.file_name,
        content_type=manifest.content_type,
        size=manifest.size,
        sha256=manifest.sha256,
        chunks=0,
        created_at=scope.now(),
    )
    await scope.store.add_upload(upload)
    digest = hashlib.sha256()
    size = 0
    pending = bytearray()
    try:
        async for part in body:
            size += len(part)
            if size > manifest.size:
                raise BadUserInput("the file is longer than announced", field="file")
            digest.update(part)
            pending += part
            while len(pending) >= CHUNK_BYTES:
                await _put_chunk(scope, upload, bytes(pending[:CHUNK_BYTES]))
                del pending[:CHUNK_BYTES]
        if pending:
            await _put_chunk(scope, upload, bytes(pending))
        if size != manifest.size or digest.hexdigest() != manifest.sha256:
            raise BadUserInput("the file arrived incomplete or altered", field="file")
    except BaseException:
        await scope.store.delete_upload(upload)
        raise
    upload.complete = True
    await scope.store.put_upload(upload)
    return upload


async def _put_chunk(scope: Scope, upload: Upload, data: bytes) -> None:
    await scope.store.put_chunk(
        Chunk(
            chunk_id(upload.id, upload.chunks), upload.workspace_id, upload.id, upload.chunks, data
        )
    )
    upload.chunks += 1
    # Counted on the upload as they are written, so a failure deletes every chunk written.
    await scope.store.put_upload(upload)


async def owned(scope: Scope, upload_id: str) -> Upload:
    """A complete upload of the caller's own (an id is no capability by itself)."""
    upload = await scope.store.upload(upload_id)
    if upload is None or not upload.complete or upload.uploaded_by != scope.caller.subject:
        raise NotFound("no such upload: send the file again", field="file")
    return upload


@contextlib.asynccontextmanager
async def spooled(scope: Scope, upload: Upload) -> AsyncIterator[Path]:
    """The upload in a temporary file for as long as the block runs, written one chunk at
    a time."""
    handle, name = tempfile.mkstemp(prefix="crm-import-", suffix=_suffix(upload.file_name))
    path = Path(name)
    try:
        with os.fdopen(handle, "wb") as out:
            for number in range(upload.chunks):
                chunk = await scope.store.chunk(upload.id, number)
                if chunk is None:
                    raise NotFound("the uploaded file is incomplete: send it again", field="file")
                out.write(chunk.data)
        yield path
    finally:
        await asyncio.to_thread(path.unlink, missing_ok=True)


def _suffix(file_name: str) -> str:
    suffix = Path(file_name).suffix.lower()
    return suffix if suffix in (".csv", ".tsv", ".txt", ".xlsx") else ""


def chunks_of(data: bytes, size: int = 64 * 1024) -> Iterator[bytes]:
    """`data` in parts, as a body arrives (tests, the CLI)."""
    for start in range(0, len(data), size):
        yield data[start : start + size]
