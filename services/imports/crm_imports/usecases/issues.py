"""A job's row issues, a page at a time, in row order within each batch: read by `_id`
from the batches the job lists (never a scan)."""

from __future__ import annotations

import base64

from crm_kit.errors import BadUserInput
from crm_kit.pagination import Page, page_size

from ..domain.issues import Issue, issue_batch_id
from ..domain.job import ImportJob
from .scope import Scope


def encode_position(batch: int, offset: int) -> str:
    return base64.urlsafe_b64encode(f"{batch}:{offset}".encode()).decode().rstrip("=")


def _decode(cursor: str) -> tuple[int, int]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        batch, offset = base64.urlsafe_b64decode(padded.encode()).decode().split(":")
        return int(batch), int(offset)
    except (ValueError, UnicodeDecodeError):
        raise BadUserInput("malformed cursor", field="after") from None


async def of_job(
    scope: Scope, job: ImportJob, first: int | None, after: str | None
) -> tuple[Page[Issue], list[str]]:
    """A page of issues and each one's cursor."""
    wanted = page_size(first)
    start_batch, start_offset = _decode(after) if after else (-1, -1)
    found: list[Issue] = []
    cursors: list[str] = []
    more = False
    for batch in job.issue_batches:
        if batch < start_batch:
            continue
        stored = await scope.store.issues(issue_batch_id(job.id, job.run, batch))
        if stored is None:
            continue
        for offset, issue in enumerate(stored.issues):
            if (batch, offset) <= (start_batch, start_offset):
                continue
            if len(found) == wanted:
                more = True
                break
            found.append(issue)
            cursors.append(encode_position(batch, offset))
        if more:
            break
    return Page(found, job.stored_issues, more), cursors
