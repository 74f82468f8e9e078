"""A background job that runs now and then every so often, whatever happens to one pass."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)


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
