"""The export runner of one replica (`leased_runner.py`: the same leases and loop as the
imports'): it runs a new attempt of each queued export, and of each whose runner died
(`usecases.exporting`: an attempt that stops anywhere leaves no file marked done), at most
`max_attempts` times for attempts that end on an unexpected error."""

from __future__ import annotations

from crm_kit.clock import Clock, utcnow

from ..config import RunSettings
from ..domain.export_job import ExportJob
from ..usecases import exporting
from ..usecases.claims import Claims
from ..usecases.export_scope import ExportScopes
from .leased_runner import Lease, LeasedRunner


class ExportRunner(LeasedRunner[ExportJob]):
    kind = "export"

    def __init__(
        self,
        claims: Claims[ExportJob],
        scopes: ExportScopes,
        settings: RunSettings,
        clock: Clock = utcnow,
    ) -> None:
        super().__init__(claims, settings, clock)
        self._scopes = scopes

    async def work(self, job: ExportJob, lease: Lease[ExportJob]) -> None:
        await exporting.run(self._scopes(exporting.asker_of(job)), job.id, lease.holds)

    async def crashed(self, job: ExportJob, error: Exception) -> None:
        scope = self._scopes(exporting.asker_of(job))
        await exporting.crashed(scope, job, error, self._settings.max_attempts)
