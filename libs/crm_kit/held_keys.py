"""Per-process read models that import batches ask on the embedded database (the
`ferretdb` profile): which of up to a thousand identity keys (external ids, addresses,
domains) exist. A filter on them there scans the collection and evaluates the `$in` list
per document, seconds a batch once a workspace holds tens of thousands of records; the
services hold each workspace's keys instead.

`HeldKeys` is what those read models share: a value per workspace (the service's map),
built by one scan the first time it is asked, kept current by this process's writes
(`held(...)` gives every value a write goes into), and built again after `max_age`
seconds IN THE BACKGROUND while the held one keeps serving: a scan of 100,000 records on a
batch's path held that batch past its caller's timeout on a loaded machine. The age
bounds what another replica's writes can hide; a key found is verified against the record
it names by the caller, and the unique indexes stay the guards.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class HeldKeys(Generic[K, V]):
    """`make()` makes an empty value; `fill(key, value)` scans the database into it (a
    value may already hold writes made during the scan: they hold the newer answer)."""

    def __init__(
        self,
        make: Callable[[], V],
        fill: Callable[[K, V], Awaitable[None]],
        *,
        max_age: float,
        name: str,
    ) -> None:
        self._make = make
        self._fill = fill
        self.max_age = max_age
        self.name = name
        self._held: dict[K, tuple[float, V]] = {}
        # The values being built again, by key: this process's writes go in too.
        self._rebuilding: dict[K, V] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def get(self, key: K) -> V:
        """The held value (the first time: scanned now); an old one still serves while
        its successor is scanned."""
        held = self._held.get(key)
        if held is None:
            value = self._make()
            # Installed before the scan: writes meanwhile are kept.
            self._held[key] = (time.monotonic(), value)
            try:
                await self._fill(key, value)
            except BaseException:
                if self._held.get(key, (0.0, None))[1] is value:
                    del self._held[key]
                raise
            return value
        if time.monotonic() - held[0] > self.max_age:
            self._rebuild_later(key)
        return held[1]

    def held(self, key: K) -> list[V]:
        """The values a write of `key`'s records goes into (none before the first ask)."""
        found = [self._held[key][1]] if key in self._held else []
        return found + ([self._rebuilding[key]] if key in self._rebuilding else [])

    def forget(self, key: K) -> None:
        """Drop what is held (a write that cannot be applied to it): scanned at next ask."""
        self._held.pop(key, None)
        self._rebuilding.pop(key, None)  # its scan's result is not installed

    def _rebuild_later(self, key: K) -> None:
        if key in self._rebuilding:
            return
        fresh = self._rebuilding[key] = self._make()
        task = asyncio.create_task(self._rebuild(key, fresh), name=f"{self.name}-rebuild")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _rebuild(self, key: K, fresh: V) -> None:
        started = time.monotonic()
        try:
            await self._fill(key, fresh)
            if self._rebuilding.get(key) is fresh:
                self._held[key] = (started, fresh)
        except Exception:
            log.exception("%s of %s not scanned again: the held ones serve", self.name, key)
        finally:
            if self._rebuilding.get(key) is fresh:
                del self._rebuilding[key]
