"""The store's port: one workspace's jobs, uploads, templates and row issues, in domain
objects; the leases of the runners; and the owners of the records (the sinks), which the
jobs write through. Every read and write of a workspace is scoped by the store."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from typing import Any, Protocol

from crm_contracts.export_pages import ExportPageReply
from crm_contracts.import_batches import ImportBatchReply, ImportBatchRequest
from crm_kit.context import RequestContext
from crm_kit.pagination import Page

from ..domain.export_job import ExportJob, FileChunk
from ..domain.issues import IssueBatch
from ..domain.job import ImportJob
from ..domain.template import MappingTemplate
from ..domain.upload import Chunk, Upload


class WorkspaceStore(Protocol):
    workspace_id: str

    async def job(self, job_id: str) -> ImportJob | None: ...

    async def jobs(self, first: int, after: str | None) -> Page[ImportJob]: ...

    async def add_job(self, job: ImportJob) -> None: ...

    async def change_job(
        self, job_id: str, fn: Callable[[ImportJob], Awaitable[bool]]
    ) -> ImportJob | None: ...

    async def add_upload(self, upload: Upload) -> None: ...

    async def put_upload(self, upload: Upload) -> None: ...

    async def upload(self, upload_id: str) -> Upload | None: ...

    async def put_chunk(self, chunk: Chunk) -> None: ...

    async def chunk(self, upload_id: str, number: int) -> Chunk | None: ...

    async def delete_upload(self, upload: Upload) -> None:
        """The upload and its chunks."""
        ...

    async def put_issues(self, batch: IssueBatch) -> None: ...

    async def issues(self, batch_id: str) -> IssueBatch | None: ...

    async def templates(self, record_type: str | None) -> list[MappingTemplate]: ...

    async def put_template(self, template: MappingTemplate) -> None: ...

    async def delete_template(self, template_id: str) -> bool: ...

    async def take_lease(self, lease_id: str, now: datetime) -> bool:
        """True for exactly one caller per `lease_id` (crm_kit.leases)."""
        ...


class ImportsStore(Protocol):
    def for_workspace(self, workspace_id: str) -> WorkspaceStore: ...

    def active_jobs(self) -> AsyncIterator[ImportJob]:
        """Queued and running jobs of every workspace (what the runners look for)."""
        ...


class SinkUnavailable(Exception):
    """The owner did not answer, or answered with a failure that is not the rows' fault:
    the batch may be sent again later (the owner is idempotent per row)."""


class SinkRefused(Exception):
    """The owner refused the whole batch for the caller (FORBIDDEN, BAD_REQUEST): sending
    it again would not help."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class RecordSinks(Protocol):
    """The owners' import endpoints (`crm_contracts.import_batches`)."""

    async def write(
        self, caller: RequestContext, record_type: str, batch: ImportBatchRequest
    ) -> ImportBatchReply: ...

    async def undo(self, caller: RequestContext, service: str, job_id: str) -> int: ...


# -- exports: one workspace's export jobs and their files' chunks, the jobs the runners
# look for, and the owners' export pages ------------------------------------------------


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
