"""The learned models, cached per process: every deal created or moved asks for its
pipeline's model, which changes once a day or so."""

from __future__ import annotations

import time
from collections.abc import Callable

from ..domain.win_model import WinModel

CACHE_SECONDS = 60.0


class ModelCache:
    """Models by id (or their absence) for `ttl` seconds. The process that retrains drops
    its entry at once; other replicas see the new model within `ttl`."""

    def __init__(
        self, ttl: float = CACHE_SECONDS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.ttl = ttl
        self.clock = clock
        self._entries: dict[str, tuple[float, WinModel | None]] = {}

    def get(self, key: str) -> tuple[bool, WinModel | None]:
        entry = self._entries.get(key)
        if entry is None or entry[0] <= self.clock():
            return False, None
        return True, entry[1]

    def put(self, key: str, model: WinModel | None) -> None:
        self._entries[key] = (self.clock() + self.ttl, model)

    def invalidate(self, key: str) -> None:
        self._entries.pop(key, None)
