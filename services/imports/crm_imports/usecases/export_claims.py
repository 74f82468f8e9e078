"""What the export runners ask of the store: the exports to run, and the leases that say
which runner runs each (the import runners' leases, `entrypoints/runner.py`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime

from ..domain.export_job import ExportJob
from ..store.port import ExportsStore


class ExportClaims:
    def __init__(self, store: ExportsStore) -> None:
        self._store = store

    def active(self) -> AsyncIterator[ExportJob]:
        return self._store.active_exports()

    async def take(self, job: ExportJob, period: int, now: datetime) -> bool:
        """True for exactly one runner per export and period."""
        lease_id = f"{job.id}:{period}"
        return await self._store.for_workspace(job.workspace_id).take_lease(lease_id, now)
