"""While a service writes import batches, its cyclic garbage collector runs less often.

A 100,000-deal import spent ~19 % of the deals service's CPU in the collector
(`bench/import/profiled.py`'s `gc` tally, docs/imports.md "Tenth pass"): a batch makes
~100 container objects a row that live as long as the batch (seconds, two batches at once),
so every young collection (each `crm_kit.serve.YOUNG_COLLECTION_EVERY` allocations) walks
objects that are all still alive and moves them on to the older generations, which are then
walked again, and the full collections walk the read index's growing entries too. Most of a
batch's objects are freed by reference counting when it ends; collecting every
`BATCH_YOUNG_COLLECTION_EVERY` allocations instead walks far fewer of them. Cycles are
still collected, later; the garbage that can wait is bounded by the threshold.

The thresholds the process had come back `SETTLE_SECONDS` after the last batch ended (not
between two batches of one job).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import Iterator

BATCH_YOUNG_COLLECTION_EVERY = 100_000
SETTLE_SECONDS = 5.0


class _Batches:
    running = 0
    saved: tuple[int, ...] | None = None
    restore: asyncio.TimerHandle | None = None


_STATE = _Batches()


@contextlib.contextmanager
def fewer_collections(young: int = BATCH_YOUNG_COLLECTION_EVERY) -> Iterator[None]:
    """Within an import batch's write (in the event loop's thread)."""
    state = _STATE
    if state.restore is not None:
        state.restore.cancel()
        state.restore = None
    if state.saved is None:
        state.saved = gc.get_threshold()
        if young > state.saved[0]:
            gc.set_threshold(young, *state.saved[1:])
    state.running += 1
    try:
        yield
    finally:
        state.running -= 1
        if not state.running:
            state.restore = asyncio.get_running_loop().call_later(SETTLE_SECONDS, _restore)


def _restore() -> None:
    state = _STATE
    state.restore = None
    if state.running or state.saved is None:
        return
    gc.set_threshold(*state.saved)
    state.saved = None
