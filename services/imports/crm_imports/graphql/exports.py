"""Export fields (any role: see usecases/export_scope.py): create, read, list, cancel,
and live progress fed by this service's own `crm.imports.export.changed.v1` events."""

from __future__ import annotations

from collections.abc import AsyncGenerator

import strawberry
from strawberry.scalars import JSON

from crm_contracts import imports as contract
from crm_kit.live import live_events
from crm_kit.pagination import encode_cursor
from crm_kit.relay_types import Connection, connection

from ..domain.export_job import ExportJob as Job
from ..usecases import exports
from ..usecases.export_scope import ExportScope
from .context import ContextInfo
from .export_types import ExportFormat, ExportJob
from .types import ImportRecordType


def _scope(info: ContextInfo) -> ExportScope:
    scope = info.context.exports
    assert scope is not None, "the service was composed without exports"
    return scope


@strawberry.type
class ExportQuery:
    @strawberry.field(description="One of your exports, with its progress and download link.")
    async def export_job(self, info: ContextInfo, id: strawberry.ID) -> ExportJob:
        return ExportJob.of(await exports.get(_scope(info), str(id)))

    @strawberry.field(description="Your exports, newest first.")
    async def export_jobs(
        self, info: ContextInfo, first: int | None = None, after: str | None = None
    ) -> Connection[ExportJob]:
        page = await exports.listed(_scope(info), first, after)
        return connection(page, ExportJob.of, lambda j: encode_cursor(j.created_at, j.id))


@strawberry.type
class ExportMutation:
    @strawberry.mutation(
        description="Export a list to a file in the background: the records of `recordType` "
        "that `filter` selects (the list query's filter, e.g. deals' DealFilter as JSON), as "
        "you see them (record sharing; fields your role may not read are empty). A filter "
        "the list refuses is BAD_USER_INPUT naming `filter.<key>`. Follow it with exportJob "
        "or exportJobChanged; download from its downloadUrl."
    )
    async def create_export(
        self,
        info: ContextInfo,
        record_type: ImportRecordType,
        format: ExportFormat = ExportFormat.CSV,
        filter: JSON | None = None,
    ) -> ExportJob:
        job = await exports.create(_scope(info), record_type.value, filter, format.value)
        return ExportJob.of(job)

    @strawberry.mutation(description="Stop an export (a running one after its current page).")
    async def cancel_export(self, info: ContextInfo, id: strawberry.ID) -> ExportJob:
        return ExportJob.of(await exports.cancel(_scope(info), str(id)))


@strawberry.type
class ExportSubscription:
    @strawberry.subscription(
        description="Your export each time it changes from now on: each page written, its "
        "end (completed, failed, cancelled)."
    )
    async def export_job_changed(
        self, info: ContextInfo, id: strawberry.ID
    ) -> AsyncGenerator[ExportJob, None]:
        scope = _scope(info)
        await exports.get(scope, str(id))  # NOT_FOUND before the stream opens
        async for event in live_events([contract.EXPORT_CHANGED]):
            changed = event.payload(contract.ExportJobChanged)
            if changed.export_id != str(id):
                continue

            async def read(export_id: str = changed.export_id) -> Job | None:
                return await scope.store.export(export_id)

            job = await event.shared(("export", changed.export_id), read)
            if job is not None:
                yield ExportJob.of(job)
