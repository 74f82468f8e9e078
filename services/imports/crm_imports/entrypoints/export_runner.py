"""The export runner of one replica: as the import runner (`runner.py`), it looks for
queued exports and exports whose runner died, claims each by a lease per period (the same
`Lease` and lease collection), and runs a new attempt of it (`usecases.exporting`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from crm_kit.clock import Clock, utcnow

from ..config import RunSettings
from ..domain.export_job import ExportJob
from ..usecases import exporting
from ..usecases.export_claims import ExportClaims
from ..usecases.export_scope import ExportScopes
from .runner import Lease

log = logging.getLogger(__name__)

# Exports one replica runs at once (writing a file takes a core).
MAX_RUNNING = 2


class ExportRunner:
    def __init__(
        self,
        claims: ExportClaims,
        scopes: ExportScopes,
        settings: RunSettings,
        clock: Clock = utcnow,
    ) -> None:
        self._claims = claims
        self._scopes = scopes
        self._settings = settings
        self._clock = clock
        self._wake = asyncio.Event()
        self._running: dict[str, asyncio.Task[None]] = {}

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._settings.poll_seconds)
            self._wake.clear()
            try:
                await self.poll()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("looking for exports failed; retrying", exc_info=True)

    async def poll(self) -> None:
        """Claim and start what this replica can run now."""
        async for job in self._claims.active():
            if len(self._running) >= MAX_RUNNING:
                return
            if job.id in self._running:
                continue
            lease = Lease(self._claims, job, self._settings, self._clock)
            if not await lease.claim():
                continue
            task = asyncio.create_task(self._work(job, lease), name=f"export-{job.id}")
            self._running[job.id] = task

    async def _work(self, job: ExportJob, lease: Lease[ExportJob]) -> None:
        try:
            await exporting.run(self._scopes(exporting.asker_of(job)), job.id, lease.holds)
        except asyncio.CancelledError:
            raise
        except Exception:
            # No file was marked done; the export is taken up again once the lease lapses.
            log.exception("export %s stopped by an error", job.id)
        finally:
            self._running.pop(job.id, None)

    async def stop(self) -> None:
        tasks = list(self._running.values())
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task
