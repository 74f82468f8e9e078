"""CPU time spent by this process and by the database server during a phase of a bench.

Rows per second swing with whatever else the machine runs; CPU seconds per 1,000 rows
swing much less, so they are printed beside the rates: they say where the work goes (the
database server or the Python process) and compare runs made at different loads.
"""

from __future__ import annotations

import os
from types import TracebackType

import psutil


class Meter:
    """`with Meter(db_pid) as m: ...` then `m.per(rows)`."""

    def __init__(self, *pids: int) -> None:
        self._processes = [psutil.Process(os.getpid()), *(psutil.Process(p) for p in pids)]
        self._start: list[float] = []
        self.seconds: list[float] = []

    def __enter__(self) -> Meter:
        self._start = [_cpu(p) for p in self._processes]
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.seconds = [_cpu(p) - s for p, s in zip(self._processes, self._start, strict=True)]

    def per(self, rows: int) -> str:
        """'python 1.23, db 2.34' seconds per 1,000 rows."""
        python, *servers = (s * 1000 / max(rows, 1) for s in self.seconds)
        return ", ".join([f"python {python:.2f}", *(f"db {s:.2f}" for s in servers)])


def _cpu(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system + times.children_user + times.children_system
