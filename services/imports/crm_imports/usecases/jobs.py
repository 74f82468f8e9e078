"""Import jobs: create one from an upload (with its preview), set its mapping, run it
(dry or real), cancel it, undo it, read it."""

from __future__ import annotations

import asyncio
import dataclasses
import re
from typing import Any

from crm_contracts.import_batches import OWNER_OF
from crm_kit.errors import BadUserInput, NotFound, PreconditionFailed, ServiceUnavailable
from crm_kit.ids import new_id
from crm_kit.pagination import Page, page_size
from crm_tabular import TARGETS, Mapping, MappingError, TabularError, preview_file

from ..domain.job import (
    CANCELLED,
    COMPLETED,
    DRAFT,
    FAILED,
    READY,
    UNDONE,
    ImportJob,
)
from ..store.port import SinkRefused, SinkUnavailable
from . import uploads
from .scope import Scope

ON_EXISTING = ("skip", "update")
CURRENCY = re.compile(r"^[A-Z]{3}$")
# Statuses from which a run may start (again): a finished dry run, or a real run that
# stopped before its end (the owners answer the rows it sent with the same records).
STARTABLE = (READY, COMPLETED, FAILED, CANCELLED)


def record_type_of(value: str, field: str = "recordType") -> str:
    if value not in TARGETS:
        raise BadUserInput(f"one of {', '.join(TARGETS)}", field=field)
    return value


async def create(scope: Scope, upload_id: str, record_type: str) -> ImportJob:
    """A job for an uploaded file, with the file's preview and a suggested mapping. A file
    that is no table (empty, header only, binary) is refused here, naming why."""
    scope.require_importer()
    record_type_of(record_type)
    upload = await uploads.owned(scope, upload_id)
    if upload.job_id is not None:
        raise PreconditionFailed("this upload feeds another import already", field="file")
    async with uploads.spooled(scope, upload) as path:
        try:
            preview = await asyncio.to_thread(preview_file, path, target=record_type)
        except TabularError as error:
            raise BadUserInput(error.message, field="file", reason=error.code) from None
    now = scope.now()
    job = ImportJob(
        id=new_id(),
        workspace_id=scope.workspace_id,
        record_type=record_type,
        created_by=scope.caller.subject,
        file_name=upload.file_name,
        file_size=upload.size,
        upload_id=upload.id,
        created_at=now,
        updated_at=now,
        preview=preview.as_dict(),
    )
    job.created()
    await scope.store.add_job(job)
    upload.job_id = job.id
    await scope.store.put_upload(upload)
    return job


async def get(scope: Scope, job_id: str, field: str = "id") -> ImportJob:
    scope.require_importer()
    job = await scope.store.job(job_id)
    if job is None:
        raise NotFound(f"no import {job_id}", field=field)
    return job


async def listed(scope: Scope, first: int | None, after: str | None) -> Page[ImportJob]:
    scope.require_importer()
    return await scope.store.jobs(page_size(first), after)


def checked_mapping(raw: Any, record_type: str, header: list[str] | None) -> Mapping:
    """The mapping, or BadUserInput naming the first problem's place (`mapping.<path>`)
    with every problem in `extensions.problems`."""
    try:
        mapping = Mapping.from_json(raw)
        if header is not None:
            mapping.check_header(header)
    except MappingError as error:
        problems = [{"path": p.path, "message": p.message} for p in error.problems]
        raise BadUserInput(
            error.message,
            field=f"mapping.{error.field}" if error.field else "mapping",
            problems=problems,
        ) from None
    if mapping.target != record_type:
        raise BadUserInput(
            f"this import is of {record_type}, the mapping of {mapping.target}",
            field="mapping.target",
        )
    return mapping


async def set_mapping(
    scope: Scope,
    job_id: str,
    mapping: Any,
    on_existing: str = "skip",
    default_currency: str | None = None,
) -> ImportJob:
    scope.require_importer()
    if on_existing not in ON_EXISTING:
        raise BadUserInput(f"one of {', '.join(ON_EXISTING)}", field="onExisting")
    currency = default_currency.strip().upper() if default_currency else None
    if currency is not None and not CURRENCY.match(currency):
        raise BadUserInput("an ISO 4217 code such as EUR", field="defaultCurrency")
    job = await get(scope, job_id, "jobId")
    checked = checked_mapping(mapping, job.record_type, list(job.preview.get("header") or []))
    if currency is not None and checked.currency is None:
        checked = dataclasses.replace(checked, currency=currency)
    stored = checked.to_json()

    async def apply(found: ImportJob) -> bool:
        if found.active:
            raise PreconditionFailed("the import is running: cancel it first", field="jobId")
        if found.status == UNDONE:
            raise PreconditionFailed("the import was undone", field="jobId")
        found.set_mapping(stored, on_existing, currency, scope.now())
        return True

    changed = await scope.store.change_job(job_id, apply)
    assert changed is not None
    return changed


async def start(scope: Scope, job_id: str, dry_run: bool) -> ImportJob:
    scope.require_importer()
    await get(scope, job_id, "jobId")

    async def queue(found: ImportJob) -> bool:
        if found.status == DRAFT or found.mapping is None:
            raise PreconditionFailed("set the mapping first (setImportMapping)", field="jobId")
        if found.status == COMPLETED and not found.dry_run:
            raise PreconditionFailed("the import ran already", field="jobId")
        if found.status not in STARTABLE:
            raise PreconditionFailed(f"the import is {found.status}", field="jobId")
        found.queue(dry_run, scope.caller.subject, sorted(scope.caller.roles), scope.now())
        return True

    changed = await scope.store.change_job(job_id, queue)
    assert changed is not None
    scope.wake()
    return changed


async def cancel(scope: Scope, job_id: str) -> ImportJob:
    scope.require_importer()
    await get(scope, job_id, "jobId")

    async def stop(found: ImportJob) -> bool:
        if not found.active:
            raise PreconditionFailed(f"the import is {found.status}, not running", field="jobId")
        found.request_cancel(scope.now())
        return True

    changed = await scope.store.change_job(job_id, stop)
    assert changed is not None
    return changed


async def undo(scope: Scope, job_id: str) -> ImportJob:
    """Remove what the job's real runs created (the owner keeps records changed since, and
    never touches records the import only updated)."""
    scope.require_importer()
    job = await get(scope, job_id, "jobId")
    if job.active:
        raise PreconditionFailed("the import is running: cancel it first", field="jobId")
    if job.status == UNDONE:
        raise PreconditionFailed("the import was undone already", field="jobId")
    if job.dry_run or job.status not in (COMPLETED, FAILED, CANCELLED):
        raise PreconditionFailed("nothing was imported (only a dry run)", field="jobId")
    try:
        removed = await scope.sinks.undo(scope.caller, OWNER_OF[job.record_type], job.id)
    except SinkRefused as refused:
        raise PreconditionFailed(refused.message, field="jobId") from None
    except SinkUnavailable:
        raise ServiceUnavailable(
            "the records' service did not answer; try again", retryable=True
        ) from None

    async def mark(found: ImportJob) -> bool:
        found.undone(removed, scope.now())
        return True

    changed = await scope.store.change_job(job_id, mark)
    assert changed is not None
    return changed
