"""The port implemented once, over the kit's records (MongoDB or the in-memory fake)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime

from crm_kit.filters import ALL, Eq, In
from crm_kit.pagination import Order, Page, decode_cursor
from crm_kit.records import Duplicate, RecordSource

from ..domain.issues import IssueBatch
from ..domain.job import ACTIVE, ImportJob
from ..domain.template import MappingTemplate
from ..domain.upload import Chunk, Upload, chunk_id
from .documents import CHUNK, ISSUE_BATCH, JOB, LEASE, TEMPLATE, UPLOAD, Lease

NEWEST_FIRST = Order("created_at", descending=True)


class Workspace:
    def __init__(self, source: RecordSource, workspace_id: str) -> None:
        self.workspace_id = workspace_id
        self._jobs = source.records(JOB, workspace_id)
        self._uploads = source.records(UPLOAD, workspace_id)
        self._chunks = source.records(CHUNK, workspace_id)
        self._issues = source.records(ISSUE_BATCH, workspace_id)
        self._templates = source.records(TEMPLATE, workspace_id)
        self._leases = source.records(LEASE, workspace_id)

    async def job(self, job_id: str) -> ImportJob | None:
        found = await self._jobs.get([job_id])
        return found[0] if found else None

    async def jobs(self, first: int, after: str | None) -> Page[ImportJob]:
        # A workspace runs a handful of imports: a scan of its jobs is fine on FerretDB.
        cursor = decode_cursor(after) if after else None
        return await self._jobs.page(ALL, order=NEWEST_FIRST, after=cursor, first=first)

    async def add_job(self, job: ImportJob) -> None:
        await self._jobs.insert(job)

    async def change_job(
        self, job_id: str, fn: Callable[[ImportJob], Awaitable[bool]]
    ) -> ImportJob | None:
        return await self._jobs.change(job_id, fn)

    async def add_upload(self, upload: Upload) -> None:
        await self._uploads.insert(upload)

    async def put_upload(self, upload: Upload) -> None:
        await self._uploads.put(upload)

    async def upload(self, upload_id: str) -> Upload | None:
        found = await self._uploads.get([upload_id])
        return found[0] if found else None

    async def put_chunk(self, chunk: Chunk) -> None:
        await self._chunks.put(chunk)

    async def chunk(self, upload_id: str, number: int) -> Chunk | None:
        found = await self._chunks.get([chunk_id(upload_id, number)])
        return found[0] if found else None

    async def delete_upload(self, upload: Upload) -> None:
        # By `_id` one at a time: index-served on FerretDB, whatever the collection's size.
        for number in range(upload.chunks):
            await self._chunks.delete(chunk_id(upload.id, number))
        await self._uploads.delete(upload.id)

    async def put_issues(self, batch: IssueBatch) -> None:
        await self._issues.put(batch)

    async def issues(self, batch_id: str) -> IssueBatch | None:
        found = await self._issues.get([batch_id])
        return found[0] if found else None

    async def templates(self, record_type: str | None) -> list[MappingTemplate]:
        where = ALL if record_type is None else Eq("record_type", record_type)
        return await self._templates.find(where, order=Order("name"))

    async def put_template(self, template: MappingTemplate) -> None:
        await self._templates.put(template)

    async def delete_template(self, template_id: str) -> bool:
        return await self._templates.delete(template_id)

    async def take_lease(self, lease_id: str, now: datetime) -> bool:
        try:
            await self._leases.insert(Lease(lease_id, now, self.workspace_id))
        except Duplicate:
            return False
        return True


class Store:
    def __init__(self, source: RecordSource) -> None:
        self._source = source
        self._all_jobs = source.records(JOB, None)

    def for_workspace(self, workspace_id: str) -> Workspace:
        return Workspace(self._source, workspace_id)

    async def active_jobs(self) -> AsyncIterator[ImportJob]:
        async for job in self._all_jobs.scan(In("status", list(ACTIVE))):
            yield job


__all__ = ["Store", "Workspace"]
