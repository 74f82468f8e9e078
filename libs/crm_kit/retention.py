"""Deleting bookkeeping records once they can no longer matter.

Some collections only support exactly-once processing or a crash repair: processed-event
records, fired-reminder records, import batches, round-robin slots. They grow with every
event, and on FerretDB's SQLite backend every non-`_id` query scans its collection, so an
unbounded one slows everything that reads it. The janitor deletes what is older than a
retention period, once published (a record still holding unpublished outbox events is
kept whatever its age). Every replica may run it: deleting is idempotent.

A rule may let workspaces choose their own period (`per_workspace`: the audit log, whose
retention an admin sets): their records go after their period, everyone else's after the
rule's.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from .outbox import OUTBOX
from .periodic import every

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Retention:
    collection: str
    time_field: str  # a datetime field set when the record was written
    # The collection is an outbox collection: never delete a record whose events wait.
    outbox: bool = False
    # None: the service's RETENTION_DAYS setting (`ServiceRuntime.retain`).
    keep: timedelta | None = None
    # The workspaces that chose their own period (workspace -> period), read each sweep.
    per_workspace: Callable[[], Awaitable[Mapping[str, timedelta]]] | None = None

    def query(self, now: datetime, keep: timedelta | None = None) -> dict[str, Any]:
        keep = keep or self.keep
        if keep is None:
            raise ValueError(f"no retention period for {self.collection}")
        query: dict[str, Any] = {self.time_field: {"$lt": now - keep}}
        if self.outbox:
            # `$size: 0` also matches records written without events (an empty outbox).
            query[OUTBOX] = {"$size": 0}
        return query

    async def queries(self, now: datetime) -> list[dict[str, Any]]:
        """What to delete: per workspace with its own period, then the rest."""
        chosen = dict(await self.per_workspace()) if self.per_workspace else {}
        queries = [
            {**self.query(now, keep), "workspace_id": workspace}
            for workspace, keep in chosen.items()
        ]
        rest = self.query(now)
        if chosen:
            rest["workspace_id"] = {"$nin": sorted(chosen)}
        return [*queries, rest]


class Janitor:
    def __init__(
        self,
        db: AsyncDatabase[Any],
        rules: Sequence[Retention],
        interval_seconds: float = 3600.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._db = db
        self._rules = list(rules)
        self._interval = interval_seconds
        self._clock = clock
        self.deleted = 0

    async def sweep(self) -> int:
        """One pass over every rule; returns the number of records deleted."""
        now = self._clock()
        deleted = 0
        for rule in self._rules:
            for query in await rule.queries(now):
                result = await self._db[rule.collection].delete_many(query)
                deleted += result.deleted_count
                if result.deleted_count:
                    log.info(
                        "old records deleted",
                        extra={
                            "fields": {"collection": rule.collection, "n": result.deleted_count}
                        },
                    )
        self.deleted += deleted
        return deleted

    async def run(self) -> None:
        await every(self._interval, self.sweep, "retention sweep")
