"""The import runner of one replica (`leased_runner.py`: the lease per period, the loop):
it runs each queued import, and each whose runner died, from the job's checkpoint
(`usecases.running`): the checkpoint stands whatever stops a run, so the job is resumed
once the lease lapses."""

from __future__ import annotations

from collections.abc import AsyncIterator

from crm_kit.clock import Clock, utcnow

from ..config import RunSettings
from ..domain.job import ImportJob
from ..usecases import running
from ..usecases.claims import Claims
from ..usecases.scope import Scopes
from .leased_runner import Lease, LeasedRunner


class JobRunner(LeasedRunner[ImportJob]):
    kind = "import"

    def __init__(
        self,
        claims: Claims,
        scopes: Scopes,
        settings: RunSettings,
        clock: Clock = utcnow,
    ) -> None:
        super().__init__(claims, settings, clock)
        self._jobs = claims
        self._scopes = scopes

    def active(self) -> AsyncIterator[ImportJob]:
        return self._jobs.active_jobs()

    def ready(self, job: ImportJob) -> bool:
        return bool(job.started_by)

    async def work(self, job: ImportJob, lease: Lease[ImportJob]) -> None:
        await running.run(self._scopes(running.starter_of(job)), job.id, lease.holds)
