"""Loaded by a stack process when `bench/load/cpu_profile` is on its PYTHONPATH
(`bench/web/stack.py` puts it there when `CRM_CPROFILE_DIR` is set): a cProfile of the
main thread with the thread's CPU time as its clock, so time a coroutine spends waiting
(for a core, the database, another service) is not counted. SIGUSR1 starts it, SIGUSR2
stops it and writes `<CRM_CPROFILE_DIR>/<module>-<pid>.prof` (for `pstats`). A diagnostic
for benchmarks only; nothing in the platform imports it."""

from __future__ import annotations

import cProfile
import os
import signal
import sys
import time
from pathlib import Path
from types import FrameType

_DIR = os.environ.get("CRM_CPROFILE_DIR")
_profiler = cProfile.Profile(time.thread_time)


def _start(_signum: int, _frame: FrameType | None) -> None:
    _profiler.enable()


def _stop(_signum: int, _frame: FrameType | None) -> None:
    _profiler.disable()
    name = Path(sys.argv[0]).parent.name or "python"
    if _DIR:
        _profiler.dump_stats(str(Path(_DIR) / f"{name}-{os.getpid()}.prof"))


if _DIR:
    signal.signal(signal.SIGUSR1, _start)
    signal.signal(signal.SIGUSR2, _stop)
