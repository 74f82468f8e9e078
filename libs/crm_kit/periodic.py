"""A background job that runs now and then every so often, whatever happens to one pass."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)

# The share of the time a background scan (an index's safety rebuild, the outbox relay's
# backstop sweep) may keep going at most. Both read whole collections: cheap where the
# database serves the filter from an index (MongoDB), but on FerretDB's SQLite backend,
# which decodes every stored document of the collection (100 to 480 µs of its CPU each),
# they grow with the data: at 10,000 deals on the scale benchmark's machine the rebuilds
# and sweeps at fixed periods kept FerretDB busy ~215 ms of every idle second
# (`bench/scale/probe.py`), and at 100,000 deals the rebuilds alone (~300 s of FerretDB
# CPU) would take longer than their 300 s period. A pass that took `t` waits at least
# `t / BACKGROUND_SHARE` before the next.
BACKGROUND_SHARE = 0.05


def paced(period: float, took: float, share: float | None = None) -> float:
    """Seconds until the next pass of a background scan that runs every `period` and
    whose last pass took `took`: the period, or longer when the pass was slow, so scans
    keep at most `share` (default BACKGROUND_SHARE) of the time."""
    share = BACKGROUND_SHARE if share is None else share
    return max(period, took / share) if share > 0 else period


async def every(seconds: float, one_pass: Callable[[], Awaitable[object]], what: str) -> None:
    """Run `one_pass` now and then every `seconds` until cancelled. A failing pass is
    logged and the next one runs on time: a background job must not die of one error."""
    while True:
        try:
            await one_pass()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("%s failed; will retry", what)
        await asyncio.sleep(seconds)
