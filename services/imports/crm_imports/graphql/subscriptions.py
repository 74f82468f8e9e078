"""Live field: a job's progress as it runs, fed by this service's own `crm.imports.job.*`
events (`crm_kit.live`, never a poll). Admins and managers, as every imports field."""

from __future__ import annotations

from collections.abc import AsyncGenerator

import strawberry

from crm_contracts import imports as contract
from crm_kit.live import live_events

from ..domain.job import ImportJob as Job
from ..usecases import jobs
from .context import ContextInfo
from .types import ImportJob

JOB_EVENTS = [
    contract.JOB_CREATED,
    contract.JOB_PROGRESSED,
    contract.JOB_FINISHED,
    contract.JOB_UNDONE,
]


@strawberry.type
class Subscription:
    @strawberry.subscription(
        description="The import each time it changes from now on: each batch acknowledged, "
        "its end (completed, failed, cancelled), an undo."
    )
    async def import_job_changed(
        self, info: ContextInfo, id: strawberry.ID
    ) -> AsyncGenerator[ImportJob, None]:
        scope = info.context.scope
        await jobs.get(scope, str(id))  # FORBIDDEN / NOT_FOUND before the stream opens
        async for event in live_events(JOB_EVENTS):
            changed = event.payload(contract.ImportJobChanged)
            if changed.job_id != str(id):
                continue

            async def read(job_id: str = changed.job_id) -> Job | None:
                return await scope.store.job(job_id)

            job = await event.shared(("job", changed.job_id), read)
            if job is not None:
                yield ImportJob.of(job)
