"""The exports' port implemented over the kit's records (MongoDB or the in-memory fake)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime

from crm_kit.filters import Eq, In
from crm_kit.pagination import Order, Page, decode_cursor
from crm_kit.records import RecordSource

from ..domain.export_job import ACTIVE, ExportJob, FileChunk
from ..domain.upload import chunk_id
from .export_documents import EXPORT_CHUNK, EXPORT_JOB
from .store import Workspace

NEWEST_FIRST = Order("created_at", descending=True)


class ExportsOfWorkspace:
    def __init__(self, source: RecordSource, workspace_id: str) -> None:
        self.workspace_id = workspace_id
        self._jobs = source.records(EXPORT_JOB, workspace_id)
        self._chunks = source.records(EXPORT_CHUNK, workspace_id)
        # The runners' leases are the imports' (one collection, `<job id>:<period>`).
        self._imports = Workspace(source, workspace_id)

    async def export(self, export_id: str) -> ExportJob | None:
        found = await self._jobs.get([export_id])
        return found[0] if found else None

    async def exports_of(self, user: str, first: int, after: str | None) -> Page[ExportJob]:
        cursor = decode_cursor(after) if after else None
        where = Eq("created_by", user)
        return await self._jobs.page(where, order=NEWEST_FIRST, after=cursor, first=first)

    async def add_export(self, job: ExportJob) -> None:
        await self._jobs.insert(job)

    async def change_export(
        self, export_id: str, fn: Callable[[ExportJob], Awaitable[bool]]
    ) -> ExportJob | None:
        return await self._jobs.change(export_id, fn)

    async def put_file_chunk(self, chunk: FileChunk) -> None:
        await self._chunks.put(chunk)

    async def file_chunk(self, file_id: str, number: int) -> FileChunk | None:
        found = await self._chunks.get([chunk_id(file_id, number)])
        return found[0] if found else None

    async def delete_file(self, file_id: str, chunks: int) -> None:
        # By `_id` one at a time: index-served on FerretDB, whatever the collection's size.
        for number in range(chunks):
            await self._chunks.delete(chunk_id(file_id, number))

    async def take_lease(self, lease_id: str, now: datetime) -> bool:
        return await self._imports.take_lease(lease_id, now)


class Exports:
    def __init__(self, source: RecordSource) -> None:
        self._source = source
        self._all = source.records(EXPORT_JOB, None)

    def for_workspace(self, workspace_id: str) -> ExportsOfWorkspace:
        return ExportsOfWorkspace(self._source, workspace_id)

    async def active_exports(self) -> AsyncIterator[ExportJob]:
        async for job in self._all.scan(In("status", list(ACTIVE))):
            yield job
