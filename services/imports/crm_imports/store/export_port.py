"""The exports' side of the store's port: one workspace's export jobs and their files'
chunks, the jobs the runners look for, and the owners' export pages."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from typing import Any, Protocol

from crm_contracts.export_pages import ExportPageReply
from crm_kit.context import RequestContext
from crm_kit.pagination import Page

from ..domain.export_job import ExportJob, FileChunk


class ExportWorkspace(Protocol):
    workspace_id: str

    async def export(self, export_id: str) -> ExportJob | None: ...

    async def exports_of(self, user: str, first: int, after: str | None) -> Page[ExportJob]: ...

    async def add_export(self, job: ExportJob) -> None: ...

    async def change_export(
        self, export_id: str, fn: Callable[[ExportJob], Awaitable[bool]]
    ) -> ExportJob | None: ...

    async def put_file_chunk(self, chunk: FileChunk) -> None: ...

    async def file_chunk(self, file_id: str, number: int) -> FileChunk | None: ...

    async def delete_file(self, file_id: str, chunks: int) -> None: ...

    async def take_lease(self, lease_id: str, now: datetime) -> bool:
        """True for exactly one caller per `lease_id` (crm_kit.leases)."""
        ...


class ExportsStore(Protocol):
    def for_workspace(self, workspace_id: str) -> ExportWorkspace: ...

    def active_exports(self) -> AsyncIterator[ExportJob]:
        """Queued and running exports of every workspace (what the runners look for)."""
        ...


class OwnerPages(Protocol):
    """The owners' export page endpoints (`crm_contracts.export_pages`). Failures are
    `SinkRefused` (the request's fault: the filter, the caller's rights) or
    `SinkUnavailable` (ask again later), as for the import batches."""

    async def page(
        self,
        caller: RequestContext,
        record_type: str,
        filter: dict[str, Any],
        after: str | None,
        limit: int,
    ) -> ExportPageReply: ...
