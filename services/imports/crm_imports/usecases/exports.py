"""Export jobs: create one (the filter checked by the owner at once), read, list, cancel,
and the stored file's parts for a download."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

from crm_contracts.import_batches import OWNER_OF
from crm_kit.errors import BadUserInput, Forbidden, NotFound, ServiceUnavailable
from crm_kit.ids import new_id
from crm_kit.pagination import Page, page_size
from crm_tabular.write import FORMATS

from ..domain.export_job import COMPLETED, ExportJob
from ..store.port import SinkRefused, SinkUnavailable
from .export_scope import ExportScope

# The largest filter a job keeps (a list filter is a handful of keys).
MAX_FILTER_BYTES = 4096
# An owner's refusal names the place: `filter.status: Value 'X' does not exist ...`.
_PLACED = re.compile(r"^(filter(?:\.[A-Za-z0-9_]+)*): (.*)$", re.DOTALL)


async def create(scope: ExportScope, record_type: str, filter: object, format: str) -> ExportJob:
    """A queued export of the list `record_type` narrowed by `filter` (the GraphQL list's
    filter). The owner reads a first row at once: a filter it refuses is BAD_USER_INPUT
    naming `filter.<key>` here, not a failed job later."""
    if record_type not in OWNER_OF:
        raise BadUserInput(f"one of {', '.join(OWNER_OF)}", field="recordType")
    if format not in FORMATS:
        raise BadUserInput(f"one of {', '.join(FORMATS)}", field="format")
    given = filter or {}
    if not isinstance(given, dict):
        raise BadUserInput("must be an object, as the list's filter", field="filter")
    if len(repr(given)) > MAX_FILTER_BYTES:
        raise BadUserInput(f"at most {MAX_FILTER_BYTES} characters", field="filter")
    try:
        first = await scope.pages.page(scope.caller, record_type, given, None, 1)
    except SinkRefused as refused:
        raise _refusal(refused) from None
    except SinkUnavailable:
        raise ServiceUnavailable(
            f"the {OWNER_OF[record_type]} service did not answer; try again", retryable=True
        ) from None
    now = scope.now()
    job = ExportJob(
        id=new_id(),
        workspace_id=scope.workspace_id,
        record_type=record_type,
        format=format,
        filter=given,
        created_by=scope.caller.subject,
        roles=sorted(scope.caller.roles),
        created_at=now,
        updated_at=now,
        total=first.total,
    )
    job.queued()
    await scope.store.add_export(job)
    scope.wake()
    return job


def _refusal(refused: SinkRefused) -> Exception:
    placed = _PLACED.match(refused.message)
    field, message = (placed.group(1), placed.group(2)) if placed else ("filter", refused.message)
    if refused.code == "FORBIDDEN":
        return Forbidden(message, field=field if placed else None)
    return BadUserInput(message, field=field)


async def get(scope: ExportScope, export_id: str) -> ExportJob:
    """The caller's own export (anyone else's is NOT_FOUND: a file is its creator's)."""
    job = await scope.store.export(export_id)
    if job is None or job.created_by != scope.caller.subject:
        raise NotFound("no such export", field="id")
    return job


async def listed(scope: ExportScope, first: int | None, after: str | None) -> Page[ExportJob]:
    return await scope.store.exports_of(scope.caller.subject, page_size(first), after)


async def cancel(scope: ExportScope, export_id: str) -> ExportJob:
    job = await get(scope, export_id)

    async def request(found: ExportJob) -> bool:
        if not found.active:
            return False
        found.request_cancel(scope.now())
        return True

    changed = await scope.store.change_export(job.id, request)
    return changed or job


async def downloadable(scope: ExportScope, export_id: str) -> ExportJob:
    """The caller's completed, unexpired export."""
    job = await get(scope, export_id)
    if job.status != COMPLETED or job.file_id is None:
        raise NotFound("the export has no file (yet)", field="id")
    if job.expired(scope.now()):
        raise NotFound("the export's file has expired: export again", field="id")
    return job


async def file_parts(scope: ExportScope, job: ExportJob) -> AsyncIterator[bytes]:
    """The file's bytes, one stored chunk at a time."""
    assert job.file_id is not None
    for number in range(job.chunks):
        chunk = await scope.store.file_chunk(job.file_id, number)
        if chunk is None:
            raise NotFound("the export's file is gone: export again", field="id")
        yield chunk.data
