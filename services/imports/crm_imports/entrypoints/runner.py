"""The import runner of one replica (`leased_runner.py`: the lease per period, the loop):
it runs each queued import, and each whose runner died, from the job's checkpoint
(`usecases.running`): the checkpoint stands whatever stops a run, so the job is resumed
once the lease lapses, up to `max_attempts` runs that end on an unexpected error."""

from __future__ import annotations

import logging

from crm_kit.clock import Clock, utcnow

from ..config import RunSettings
from ..domain.job import ImportJob
from ..usecases import running
from ..usecases.claims import Claims
from ..usecases.scope import Scopes
from .leased_runner import Lease, LeasedRunner

log = logging.getLogger(__name__)


class JobRunner(LeasedRunner[ImportJob]):
    kind = "import"

    def __init__(
        self,
        claims: Claims[ImportJob],
        scopes: Scopes,
        settings: RunSettings,
        clock: Clock = utcnow,
    ) -> None:
        super().__init__(claims, settings, clock)
        self._scopes = scopes

    def ready(self, job: ImportJob) -> bool:
        return bool(job.started_by)

    async def work(self, job: ImportJob, lease: Lease[ImportJob]) -> None:
        await running.run(self._scopes(running.starter_of(job)), job.id, lease.holds)

    async def crashed(self, job: ImportJob, error: Exception) -> None:
        # The checkpoint stands; the job is taken up again once the lease lapses, at most
        # `max_attempts` times in all (then it fails, naming the error).
        await running.crashed(self._scopes(running.starter_of(job)), job, error)
