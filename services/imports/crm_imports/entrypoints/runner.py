"""The job runner of one replica: it looks for queued jobs and jobs whose runner died, and
runs each it can claim. A claim is a lease per period (`crm_kit.leases`: an insert of
`<job id>:<period>` that one replica wins); the holder takes the next period's lease in
the second half of each period, so another replica (or this service restarted after a
crash) can take the job over only once its holder stopped renewing: within two periods.
The run itself resumes from the job's checkpoint (`usecases.running`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math

from crm_kit.clock import Clock, utcnow

from ..config import RunSettings
from ..domain.job import ImportJob
from ..usecases import running
from ..usecases.claims import Claims
from ..usecases.scope import Scopes

log = logging.getLogger(__name__)

# Jobs one replica runs at once (reading and mapping take a core each).
MAX_RUNNING = 2


class Lease:
    """The periods one runner holds for one job."""

    def __init__(self, claims: Claims, job: ImportJob, settings: RunSettings, clock: Clock):
        self._claims = claims
        self._job = job
        self._seconds = settings.lease_seconds
        self._clock = clock
        self._held: set[int] = set()

    def _position(self) -> tuple[int, float]:
        now = self._clock().timestamp() / self._seconds
        period = math.floor(now)
        return period, now - period

    async def _take(self, period: int) -> bool:
        if period in self._held:
            return True
        if await self._claims.take(self._job, period, self._clock()):
            self._held.add(period)
            return True
        return False

    async def claim(self) -> bool:
        period, _ = self._position()
        return await self._take(period)

    async def holds(self) -> bool:
        """Whether this runner still holds the job (renewing ahead of time)."""
        period, into = self._position()
        if not await self._take(period):
            return False
        if into >= 0.5:
            await self._take(period + 1)
        return True


class JobRunner:
    def __init__(
        self,
        claims: Claims,
        scopes: Scopes,
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
                log.warning("looking for import jobs failed; retrying", exc_info=True)

    async def poll(self) -> None:
        """Claim and start what this replica can run now."""
        async for job in self._claims.active_jobs():
            if len(self._running) >= MAX_RUNNING:
                return
            if job.id in self._running or not job.started_by:
                continue
            lease = Lease(self._claims, job, self._settings, self._clock)
            if not await lease.claim():
                continue
            task = asyncio.create_task(self._work(job, lease), name=f"import-{job.id}")
            self._running[job.id] = task

    async def _work(self, job: ImportJob, lease: Lease) -> None:
        scope = self._scopes(running.starter_of(job))
        try:
            await running.run(scope, job.id, lease.holds)
        except asyncio.CancelledError:
            raise
        except Exception as error:
            # The checkpoint stands; the job is taken up again once the lease lapses, at
            # most `max_attempts` times in all (then it fails, naming the error).
            log.exception("import %s stopped by an error", job.id)
            try:
                await running.crashed(scope, job, error)
            except Exception:
                log.warning("import %s: its failure was not recorded", job.id, exc_info=True)
        finally:
            self._running.pop(job.id, None)

    async def settle(self) -> None:
        """Wait for the runs this runner started to end."""
        while self._running:
            await asyncio.gather(*self._running.values(), return_exceptions=True)

    async def stop(self) -> None:
        tasks = list(self._running.values())
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task
