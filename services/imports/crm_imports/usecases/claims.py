"""What the runners ask of the store, for imports and exports alike: the jobs to run, and
the leases that say which runner runs each (`entrypoints/leased_runner.py` holds the lease
logic; a lease is an insert of `<job id>:<period>` in the job's workspace)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Generic, Protocol, TypeVar


class Job(Protocol):
    @property
    def id(self) -> str: ...

    @property
    def workspace_id(self) -> str: ...


class LeaseTaker(Protocol):
    async def take_lease(self, lease_id: str, now: datetime) -> bool: ...


J = TypeVar("J", bound=Job)


class Claims(Generic[J]):
    def __init__(
        self,
        active: Callable[[], AsyncIterator[J]],
        workspace: Callable[[str], LeaseTaker],
    ) -> None:
        self._active = active
        self._workspace = workspace

    def active(self) -> AsyncIterator[J]:
        """Queued and running jobs of every workspace."""
        return self._active()

    async def take(self, job: J, period: int, now: datetime) -> bool:
        """True for exactly one runner per job and period."""
        return await self._workspace(job.workspace_id).take_lease(f"{job.id}:{period}", now)
