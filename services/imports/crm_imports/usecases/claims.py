"""What the runners ask of the store: the jobs to run, and the leases that say which
runner runs each (`entrypoints/runner.py` holds the lease logic)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime

from ..domain.job import ImportJob
from ..store.port import ImportsStore


class Claims:
    def __init__(self, store: ImportsStore) -> None:
        self._store = store

    def active_jobs(self) -> AsyncIterator[ImportJob]:
        """Queued and running jobs of every workspace."""
        return self._store.active_jobs()

    async def take(self, job: ImportJob, period: int, now: datetime) -> bool:
        """True for exactly one runner per job and period."""
        lease_id = f"{job.id}:{period}"
        return await self._store.for_workspace(job.workspace_id).take_lease(lease_id, now)
