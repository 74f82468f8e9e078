"""Pipelines held per process, current as of each request (the embedded database's
profile, with the change logs on).

Every deal created or moved reads its pipeline, which changes a few times a year. Each
change of a stored pipeline is journalled in the pipelines' change log
(`crm_kit.change_log`, by every replica's writes), so a look-up first catches up with the
journal, dropping what another process changed, and this process's own writes drop theirs
through the write hook. Catching up is one `_id` probe of an absent slot when nothing
changed, and it is shared: the look-ups that arrive while a probe is under way wait for it
and then share the next one, which starts after every one of them (a pipeline saved by
another replica before a look-up began is always seen: read-your-writes across replicas).

A probe is also trusted for `TRUSTED_SECONDS` after it began: a look-up within that window
serves what is held without probing, because every save of a pipeline waits that long after
its slot is in the journal before it returns (`settle`, called by the store). So a save
that returned before a look-up began was journalled at least `TRUSTED_SECONDS` before the
look-up, hence before any probe begun within the window, which saw it (read-your-writes
across replicas holds; each side measures the window on its own monotonic clock). A save,
a few a year, pays the window once; moves at any rate pay one probe per window instead of
one per move (or per handful of concurrent moves).

A read racing a change (begun before the change was journalled, ended after a probe
dropped it) is not kept: a pipeline read is kept only when nothing dropped it (a probe's
finding, this process's own save) after the read began; what was dropped before, the read
saw.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from crm_kit.change_log import ChangeLog, Overflow
from crm_kit.writer import Written

from ..config import PIPELINES
from ..domain.pipeline import Pipeline

Key = tuple[str, str]  # (workspace, pipeline id)
# How long a finished probe vouches for what is held, counted from when it began; every save
# of a pipeline waits as long before it returns. The same on every replica (a constant,
# not a setting): a replica trusting longer than another's saves wait could miss them.
TRUSTED_SECONDS = 0.25


class PipelineCache:
    def __init__(
        self,
        changes: ChangeLog,
        *,
        trusted_seconds: float = TRUSTED_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._changes = changes
        self._trusted_seconds = trusted_seconds
        self._clock = clock
        # When the latest finished probe began (None: no probe finished yet).
        self._probed_at: float | None = None
        self._held: dict[Key, Pipeline] = {}
        # The journal read up to (None: not yet found; everything held is then dropped).
        self._cursor: int | None = None
        # Probes begun and finished (numbered 1, 2...), and the one under way.
        self._begun = 0
        self._finished = 0
        self._probing: asyncio.Future[None] | None = None
        # Drops are numbered 1, 2... as they happen; per pipeline the last that dropped it.
        self._drops = 0
        self._dropped_at: dict[Key, int] = {}
        self._all_dropped_at = 0  # the last drop of everything
        self.hits = 0
        self.reads = 0
        self.trusted = 0  # look-ups that a recent probe vouched for

    async def get(
        self,
        workspace_id: str,
        pipeline_id: str,
        read: Callable[[str], Awaitable[Pipeline | None]],
    ) -> Pipeline | None:
        """The pipeline as stored now: held, or `read` (and held if nothing dropped it
        meanwhile). An absent pipeline is not remembered."""
        await self.catch_up()
        key = (workspace_id, pipeline_id)
        held = self._held.get(key)
        if held is not None:
            self.hits += 1
            return held
        self.reads += 1
        begun = self._drops
        found = await read(pipeline_id)
        # A drop numbered up to `begun` happened before the read began: the read saw what
        # it was for. A later one may be for a version newer than what the read found.
        dropped = max(self._dropped_at.get(key, 0), self._all_dropped_at)
        if found is not None and dropped <= begun:
            self._held[key] = found
        return found

    async def catch_up(self) -> None:
        """Return once a probe that began after this call, or less than `TRUSTED_SECONDS`
        before it, has finished."""
        probed_at = self._probed_at
        if probed_at is not None and self._clock() - probed_at < self._trusted_seconds:
            self.trusted += 1
            return
        wanted = self._begun + 1
        while self._finished < wanted:
            if self._probing is None:
                self._begun += 1
                self._probing = asyncio.ensure_future(self._probe(self._begun))
            # Shielded: a caller that is cancelled leaves the probe to the others.
            await asyncio.shield(self._probing)

    async def _probe(self, number: int) -> None:
        """One catch-up; a failure (the database did not answer) is raised to every caller
        waiting on it, and the next caller begins another."""
        began = self._clock()  # before the look-up is sent: it sees every slot in by then
        try:
            if self._cursor is None:  # the first: nothing held, no read begun before it
                self._cursor = await self._changes.tail()
            else:
                try:
                    self._cursor, changed = await self._changes.since(self._cursor)
                except Overflow as behind:
                    self._cursor = behind.tail
                    self._drop_all()
                else:
                    for change in changed:
                        self._drop((change.workspace_id, change.doc_id))
            self._finished = number
            self._probed_at = max(began, self._probed_at or began)
        finally:
            self._probing = None

    async def settle(self) -> None:
        """Called after this process saved a pipeline (its slot in the journal), before the
        save returns: wait out the window in which other replicas may still serve what
        they hold without probing."""
        await asyncio.sleep(self._trusted_seconds)

    async def on_write(self, written: Written) -> None:
        """This process's own writes of pipelines (not in what `since` returns)."""
        if written.collection == PIPELINES:
            # A read begun before the save is not kept; one begun after it saw it.
            self._drop((written.workspace_id or "", str(written.doc_id)))

    def _drop(self, key: Key) -> None:
        self._held.pop(key, None)
        self._drops += 1
        self._dropped_at[key] = self._drops

    def _drop_all(self) -> None:
        self._held.clear()
        self._drops += 1
        self._all_dropped_at = self._drops
