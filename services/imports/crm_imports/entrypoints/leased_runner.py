"""What the import and the export runners of one replica share: they look for queued work
and work whose runner died, and run each piece they can claim. A claim is a lease per
period (`crm_kit.leases`: an insert of `<job id>:<period>` that one replica wins); the
holder takes the next period's lease in the second half of each period, so another
replica (or this service restarted after a crash) can take the job over only once its
holder stopped renewing: within two periods."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from abc import ABC, abstractmethod
from datetime import datetime
from typing import Generic, Protocol, TypeVar

from crm_kit.clock import Clock

from ..config import RunSettings
from ..usecases.claims import Claims

log = logging.getLogger(__name__)

J = TypeVar("J", bound="Held")
J_contra = TypeVar("J_contra", contravariant=True)


class Held(Protocol):
    @property
    def id(self) -> str: ...

    @property
    def workspace_id(self) -> str: ...


class Takes(Protocol[J_contra]):
    async def take(self, job: J_contra, period: int, now: datetime) -> bool: ...


class Lease(Generic[J]):
    """The periods one runner holds for one job."""

    def __init__(self, claims: Takes[J], job: J, settings: RunSettings, clock: Clock):
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


class LeasedRunner(ABC, Generic[J]):
    """A replica's runner of one kind of job: `kind` names it in logs, its claims list the
    jobs to look at, `ready(job)` says whether one may start, `work(job, lease)` runs it
    (an exception leaves the job to be taken up again once the lease lapses, and is
    counted on it by `crashed`, which fails it after `max_attempts`)."""

    kind: str
    # Jobs one replica runs at once (reading or writing a file takes a core each).
    max_running: int = 2

    def __init__(self, claims: Claims[J], settings: RunSettings, clock: Clock) -> None:
        self._claims = claims
        self._settings = settings
        self._clock = clock
        self._wake = asyncio.Event()
        self._running: dict[str, asyncio.Task[None]] = {}

    def ready(self, job: J) -> bool:
        return True

    @abstractmethod
    async def work(self, job: J, lease: Lease[J]) -> None: ...

    @abstractmethod
    async def crashed(self, job: J, error: Exception) -> None:
        """Count a run of `job` that ended on `error` (the last allowed fails the job)."""

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
                log.warning("looking for %s jobs failed; retrying", self.kind, exc_info=True)

    async def poll(self) -> None:
        """Claim and start what this replica can run now."""
        async for job in self._claims.active():
            if len(self._running) >= self.max_running:
                return
            if job.id in self._running or not self.ready(job):
                continue
            lease = Lease(self._claims, job, self._settings, self._clock)
            if not await lease.claim():
                continue
            task = asyncio.create_task(self._guarded(job, lease), name=f"{self.kind}-{job.id}")
            self._running[job.id] = task

    async def _guarded(self, job: J, lease: Lease[J]) -> None:
        try:
            await self.work(job, lease)
        except asyncio.CancelledError:
            raise
        except Exception as error:
            log.exception("%s %s stopped by an error", self.kind, job.id)
            try:
                await self.crashed(job, error)
            except Exception:
                log.warning("%s %s: its failure was not recorded", self.kind, job.id, exc_info=True)
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
