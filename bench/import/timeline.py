"""CPU of some processes second by second while a bench phase runs: which stage is busy
when, so a pipeline's serialization shows (one process at a core's worth while the others
wait) where CPU per row alone cannot tell.

`with Timeline(pids, path): ...` writes `path` (one line a sample: seconds since start,
then each process's CPU seconds over the interval, as cores) and `summary()` says, per
process, its mean cores and the share of samples it was at least 0.8 of a core busy.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import TracebackType

import psutil

INTERVAL = 1.0
BUSY = 0.8


def _cpu(process: psutil.Process) -> float:
    try:
        times = process.cpu_times()
    except psutil.Error:
        return 0.0
    return times.user + times.system


class Timeline:
    def __init__(self, pids: dict[str, int], path: Path, interval: float = INTERVAL) -> None:
        self.names = list(pids)
        self._processes = [psutil.Process(pid) for pid in pids.values()]
        self.path = path
        self.interval = interval
        self.samples: list[tuple[float, list[float]]] = []
        self.load: list[float] = []
        self._task: asyncio.Task[None] | None = None

    async def _sample(self) -> None:
        loop = asyncio.get_running_loop()
        start = last_at = loop.time()
        last = [_cpu(p) for p in self._processes]
        while True:
            await asyncio.sleep(self.interval)
            now, cpu = loop.time(), [_cpu(p) for p in self._processes]
            span = max(now - last_at, 1e-6)
            self.samples.append(
                (now - start, [(c - b) / span for c, b in zip(cpu, last, strict=True)])
            )
            self.load.append(psutil.getloadavg()[0])
            last, last_at = cpu, now

    def __enter__(self) -> Timeline:
        self._task = asyncio.get_running_loop().create_task(self._sample())
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self._task is not None:
            self._task.cancel()
        lines = ["t " + " ".join(self.names) + " load1"]
        for (at, cores), load in zip(self.samples, self.load, strict=False):
            lines.append(f"{at:.1f} " + " ".join(f"{c:.2f}" for c in cores) + f" {load:.1f}")
        self.path.write_text("\n".join(lines) + "\n")

    def summary(self) -> str:
        if not self.samples:
            return "timeline: no samples"
        n = len(self.samples)
        parts = []
        for i, name in enumerate(self.names):
            cores = [s[1][i] for s in self.samples]
            busy = sum(1 for c in cores if c >= BUSY) / n
            parts.append(f"{name} {sum(cores) / n:.2f} ({busy:.0%} busy)")
        total = sum(sum(s[1]) for s in self.samples) / n
        return f"timeline ({n} s): mean cores {', '.join(parts)}; all {total:.2f}"
