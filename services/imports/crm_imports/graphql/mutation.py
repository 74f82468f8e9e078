"""Mutations: admins and managers import files (see usecases/scope.py, "Who may import")."""

from __future__ import annotations

import strawberry
from strawberry.scalars import JSON

from ..usecases import jobs, templates
from .context import ContextInfo
from .types import ImportJob, ImportOnExisting, ImportRecordType, ImportTemplate, Upload


@strawberry.type
class Mutation:
    @strawberry.mutation(
        description="A new import of an uploaded file: answers how the file was read, what "
        "each column holds and a suggested mapping. A file that is no table (empty, only a "
        "header, binary, .xls) is refused with BAD_USER_INPUT on `file`."
    )
    async def create_import(
        self, info: ContextInfo, file: Upload, record_type: ImportRecordType
    ) -> ImportJob:
        return ImportJob.of(await jobs.create(info.context.scope, str(file), record_type.value))

    @strawberry.mutation(
        description="The mapping (crm_tabular's JSON: columns, constants, templates, value "
        "maps, date formats, time zones); each problem is BAD_USER_INPUT naming its place "
        "(`mapping.fields.stage.column`), all in `extensions.problems`."
    )
    async def set_import_mapping(
        self,
        info: ContextInfo,
        job_id: strawberry.ID,
        mapping: JSON,
        on_existing: ImportOnExisting = ImportOnExisting.SKIP,
        default_currency: str | None = None,
    ) -> ImportJob:
        job = await jobs.set_mapping(
            info.context.scope, str(job_id), mapping, on_existing.value, default_currency
        )
        return ImportJob.of(job)

    @strawberry.mutation(
        description="Run the import in the background (dryRun: validate and count, write "
        "nothing). Follow it with importJob or the importJobChanged subscription."
    )
    async def start_import(
        self, info: ContextInfo, job_id: strawberry.ID, dry_run: bool = False
    ) -> ImportJob:
        return ImportJob.of(await jobs.start(info.context.scope, str(job_id), dry_run))

    @strawberry.mutation(description="Stop a running import after its current batch.")
    async def cancel_import(self, info: ContextInfo, job_id: strawberry.ID) -> ImportJob:
        return ImportJob.of(await jobs.cancel(info.context.scope, str(job_id)))

    @strawberry.mutation(
        description="Remove the records the import created (not those changed since, nor "
        "those it only updated)."
    )
    async def undo_import(self, info: ContextInfo, job_id: strawberry.ID) -> ImportJob:
        return ImportJob.of(await jobs.undo(info.context.scope, str(job_id)))

    @strawberry.mutation(description="Save a mapping under a name (the same name replaces it).")
    async def save_import_template(
        self, info: ContextInfo, name: str, record_type: ImportRecordType, mapping: JSON
    ) -> ImportTemplate:
        saved = await templates.save(info.context.scope, name, record_type.value, mapping)
        return ImportTemplate.of(saved)

    @strawberry.mutation
    async def delete_import_template(self, info: ContextInfo, id: strawberry.ID) -> strawberry.ID:
        return strawberry.ID(await templates.delete(info.context.scope, str(id)))
