"""Query resolvers: thin, everything real happens in the use cases (admins and managers)."""

from __future__ import annotations

import strawberry

from crm_kit.pagination import encode_cursor
from crm_kit.relay_types import Connection, connection

from ..usecases import jobs, templates
from .context import ContextInfo
from .types import ImportJob, ImportRecordType, ImportTemplate


@strawberry.type
class Query:
    @strawberry.field(description="One import, with its preview, progress and issues.")
    async def import_job(self, info: ContextInfo, id: strawberry.ID) -> ImportJob:
        return ImportJob.of(await jobs.get(info.context.scope, str(id)))

    @strawberry.field(description="The workspace's imports, newest first.")
    async def import_jobs(
        self, info: ContextInfo, first: int | None = None, after: str | None = None
    ) -> Connection[ImportJob]:
        page = await jobs.listed(info.context.scope, first, after)
        return connection(page, ImportJob.of, lambda j: encode_cursor(j.created_at, j.id))

    @strawberry.field(description="Saved mapping templates, by name.")
    async def import_templates(
        self, info: ContextInfo, record_type: ImportRecordType | None = None
    ) -> list[ImportTemplate]:
        kind = record_type.value if record_type is not None else None
        return [ImportTemplate.of(t) for t in await templates.listed(info.context.scope, kind)]
