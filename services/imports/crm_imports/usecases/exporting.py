"""One attempt of an export: page after page from the owner (as the person who asked),
each written to a file on disk (`crm_tabular.write`: CSV or XLSX, streamed), the progress
moved after each page; at the end the file is stored in chunks and the job marked
completed with it in one conditional write (`domain.export_job`: never a partial file
marked done).

Between pages the runner re-reads the job: a cancel request ends the attempt there; a
job another runner took over (its attempt moved on) ends this one; and `holds()` (the
runner's lease) must still be true. A runner that dies leaves the job running with no
file: once its lease lapses the next runner starts a new attempt from the first page."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import IO, Any

import orjson

from crm_contracts.export_pages import ExportPageReply
from crm_kit.context import RequestContext
from crm_tabular.targets import custom_key
from crm_tabular.write import CsvWriter, XlsxWriter

from ..config import CHUNK_BYTES
from ..domain.export_job import CANCELLED, FAILED, RUNNING, ExportJob, FileChunk
from ..domain.upload import chunk_id
from ..store.port import SinkRefused, SinkUnavailable
from .export_scope import ExportScope
from .running import SINK_BACKOFF_SECONDS, SINK_TRIES

log = logging.getLogger(__name__)

Holds = Callable[[], Awaitable[bool]]
# Excel's sheet holds 1,048,576 rows, the header one of them.
XLSX_MAX_ROWS = 1_048_575
Writer = CsvWriter | XlsxWriter


def asker_of(job: ExportJob) -> RequestContext:
    """Who the owners read the pages for: the person who asked for the export."""
    return RequestContext(job.workspace_id, job.created_by, frozenset(job.roles))


async def run(scope: ExportScope, export_id: str, holds: Holds) -> ExportJob | None:
    """Run a new attempt of the export to its end, a cancel, or a lost lease."""
    job = await _begin(scope, export_id)
    if job is None:
        return None
    async with _temporary(job.format) as path:
        with path.open("wb") as out:
            written = await _write_pages(scope, job, out, holds)
        if not isinstance(written, ExportJob):
            return written if written is None else await _finish(scope, job, *written)
        job = written
        file_id = f"{job.id}-{job.attempt}"
        chunks = await _store(scope, job, file_id, path)
        size = path.stat().st_size
    return await _complete(scope, job, file_id, size, chunks)


async def crashed(
    scope: ExportScope, job: ExportJob, error: BaseException, max_attempts: int
) -> ExportJob | None:
    """An attempt of the export ended on an unexpected error: counted on the job, which
    fails after `max_attempts` of them (naming the error's kind; its details are in the
    service's log)."""

    async def count(found: ExportJob) -> bool:
        if found.status != RUNNING:
            return False
        found.crashed(type(error).__name__, max_attempts, scope.now())
        return True

    return await scope.store.change_export(job.id, count)


async def _write_pages(
    scope: ExportScope, job: ExportJob, out: IO[bytes], holds: Holds
) -> ExportJob | tuple[str, str | None] | None:
    """The job after its last page was written to `out`; (status, error) to end it with;
    None when this runner lost the job.

    Pages go to a spool file first and the file is written from it at the end: the
    header must name every custom field some row holds (`custom.<key>`), which only the
    last page settles; the spool keeps memory bounded whatever the export's size."""
    columns: list[str] | None = None
    custom: set[str] = set()
    rows = 0
    after: str | None = None
    with tempfile.TemporaryFile(prefix="crm-export-rows-") as spool:
        while True:
            if not await holds():
                return None
            current = await _current(scope, job)
            if current is None:
                return None
            if current.cancel_requested:
                return CANCELLED, None
            reply = await _page(scope, current, after)
            if isinstance(reply, str):
                return FAILED, reply
            columns = columns or list(reply.columns)
            rows += len(reply.rows)
            if current.format == "xlsx" and rows > XLSX_MAX_ROWS:
                return FAILED, f"more than {XLSX_MAX_ROWS:,} rows do not fit an XLSX: export as CSV"
            await asyncio.to_thread(_spool, spool, reply.rows, columns, custom)
            after = reply.after
            if after is None:
                await asyncio.to_thread(_render, current, spool, out, [*columns, *sorted(custom)])
            saved = await _progress(scope, current, rows, reply.total)
            if saved is None:
                return None
            if after is None:
                return saved
            job = saved
            if scope.settings.page_pause_seconds:
                await asyncio.sleep(scope.settings.page_pause_seconds)


def _spool(
    spool: IO[bytes], rows: list[dict[str, Any]], columns: list[str], custom: set[str]
) -> None:
    known = set(columns)
    for row in rows:
        spool.write(orjson.dumps(row) + b"\n")
        custom.update(name for name in row if name not in known and custom_key(name))


def _render(job: ExportJob, spool: IO[bytes], out: IO[bytes], columns: list[str]) -> None:
    spool.seek(0)
    writer = _writer(job, out, columns)
    try:
        for line in spool:
            writer.write(orjson.loads(line))
    finally:
        # An XLSX sheet must be finished even when writing stops midway (openpyxl's
        # writer holds a generator over a temporary file).
        writer.close()


def _writer(job: ExportJob, out: IO[bytes], columns: list[str]) -> Writer:
    if job.format == "csv":
        return CsvWriter(out, columns)
    return XlsxWriter(out, columns, sheet=job.record_type)


@contextlib.asynccontextmanager
async def _temporary(format: str) -> AsyncIterator[Path]:
    handle, name = tempfile.mkstemp(prefix="crm-export-", suffix=f".{format}")
    os.close(handle)
    path = Path(name)
    try:
        yield path
    finally:
        await asyncio.to_thread(path.unlink, missing_ok=True)


async def _page(scope: ExportScope, job: ExportJob, after: str | None) -> ExportPageReply | str:
    """The owner's next page, or why the export must stop."""
    limit = max(1, scope.settings.page_rows)
    for attempt in range(SINK_TRIES):
        try:
            return await scope.pages.page(asker_of(job), job.record_type, job.filter, after, limit)
        except SinkRefused as refused:
            return f"the {job.record_type} service refused the export: {refused.message}"
        except SinkUnavailable as error:
            log.warning("export %s: page not answered (%s)", job.id, error)
            if attempt + 1 < SINK_TRIES:
                await asyncio.sleep(SINK_BACKOFF_SECONDS[attempt])
    return f"the {job.record_type} service did not answer; export again"


async def _store(scope: ExportScope, job: ExportJob, file_id: str, path: Path) -> int:
    """The file in chunks of CHUNK_BYTES; answers how many."""
    number = 0
    with path.open("rb") as source:
        while data := await asyncio.to_thread(source.read, CHUNK_BYTES):
            chunk = FileChunk(
                chunk_id(file_id, number), job.workspace_id, file_id, number, data, scope.now()
            )
            await scope.store.put_file_chunk(chunk)
            number += 1
    return number


async def _begin(scope: ExportScope, export_id: str) -> ExportJob | None:
    async def begin(found: ExportJob) -> bool:
        if not found.active:
            return False
        found.begin(scope.now())
        return True

    job = await scope.store.change_export(export_id, begin)
    return job if job is not None and job.status == RUNNING else None


async def _current(scope: ExportScope, job: ExportJob) -> ExportJob | None:
    """The job as stored, if this attempt is still the one running."""
    found = await scope.store.export(job.id)
    if found is None or found.attempt != job.attempt or found.status != RUNNING:
        return None
    return found


async def _progress(
    scope: ExportScope, job: ExportJob, rows: int, total: int | None
) -> ExportJob | None:
    attempt = job.attempt

    async def moved(found: ExportJob) -> bool:
        if found.attempt != attempt or found.status != RUNNING:
            return False
        found.progressed(rows, total, scope.now())
        return True

    saved = await scope.store.change_export(job.id, moved)
    return saved if saved is not None and saved.attempt == attempt else None


async def _complete(
    scope: ExportScope, job: ExportJob, file_id: str, size: int, chunks: int
) -> ExportJob | None:
    attempt, rows = job.attempt, job.rows_written
    now = scope.now()
    name = f"{job.record_type}-{now:%Y%m%d-%H%M%S}.{job.format}"
    expires = now + timedelta(hours=scope.settings.keep_hours)

    async def done(found: ExportJob) -> bool:
        if found.attempt != attempt or found.status != RUNNING:
            return False
        if found.cancel_requested:
            found.finish(CANCELLED, now)
        else:
            found.completed(file_id, name, size, chunks, rows, now, expires)
        return True

    saved = await scope.store.change_export(job.id, done)
    if saved is None or saved.file_id != file_id:
        # Not this attempt's to complete (taken over or cancelled): its file goes.
        await scope.store.delete_file(file_id, chunks)
    return saved


async def _finish(
    scope: ExportScope, job: ExportJob, status: str, error: str | None
) -> ExportJob | None:
    attempt = job.attempt

    async def end(found: ExportJob) -> bool:
        if found.attempt != attempt or not found.active:
            return False
        found.finish(status, scope.now(), error)
        return True

    return await scope.store.change_export(job.id, end)
