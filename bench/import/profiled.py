"""Run a service module under cProfile until it is stopped: `python profiled.py OUT MODULE
[--commands-only]`.

Also tallies the process's database commands (pymongo's command monitoring, every client
the service makes): by command and collection, how many, the documents they returned
(first batch and getMore) and their time, written beside the profile (`OUT.commands`),
with the garbage collector's runs by generation and their CPU seconds (`gc`).

`python -m cProfile` writes nothing for a service stopped by SIGTERM: uvicorn, once shut
down, raises the signal it captured again, and the default action ends the process before
the profile is written. Here SIGTERM's handler (the one uvicorn restores) exits normally.
"""

from __future__ import annotations

import cProfile
import gc
import json
import runpy
import signal
import sys
import time
from types import FrameType
from typing import Any

from pymongo import monitoring


class Tally(monitoring.CommandListener):
    """Commands by (command, collection): count, documents returned, seconds."""

    def __init__(self) -> None:
        self.rows: dict[str, list[float]] = {}
        self._started: dict[int, str] = {}
        # Commands slower than a second: (seconds since start, command, seconds, documents).
        self.slow: list[tuple[float, str, float, int]] = []
        self._t0 = time.monotonic()

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        name = event.command_name
        target = event.command.get(name)
        if name == "getMore":
            target = event.command.get("collection")
        key = f"{name} {target if isinstance(target, str) else ''}"
        if name in ("find", "aggregate", "count") and isinstance(event.command.get("filter"), dict):
            # The filter's shape (its fields), not its values: which reads scan.
            key += f" {sorted(event.command['filter'])}"
        self._started[event.request_id] = key

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        key = self._started.pop(event.request_id, event.command_name)
        cursor: Any = event.reply.get("cursor") or {}
        docs = len(cursor.get("firstBatch") or cursor.get("nextBatch") or [])
        row = self.rows.setdefault(key, [0, 0, 0.0])
        row[0] += 1
        row[1] += docs
        row[2] += event.duration_micros / 1e6
        if event.duration_micros > 1e6:
            at = round(time.monotonic() - self._t0, 1)
            self.slow.append((at, key, event.duration_micros / 1e6, docs))

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        self._started.pop(event.request_id, None)


class Collections:
    """The cyclic garbage collector's runs by generation: how many, and the CPU seconds
    they took (`gc.callbacks`). A full collection walks every object the process holds
    (and is not frozen): a service whose read index grows by a record per imported row
    pays more for each."""

    def __init__(self) -> None:
        self.runs: dict[int, list[float]] = {0: [0, 0.0], 1: [0, 0.0], 2: [0, 0.0]}
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.process_time()
            return
        run = self.runs[info["generation"]]
        run[0] += 1
        run[1] += time.process_time() - self._started


def _exit(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


def main() -> None:
    # `--commands-only`: the tally without cProfile (which slows a service ~2x).
    profiling = "--commands-only" not in sys.argv
    out, module = [arg for arg in sys.argv[1:] if arg != "--commands-only"][:2]
    sys.argv = [module]
    signal.signal(signal.SIGTERM, _exit)
    tally = Tally()
    monitoring.register(tally)  # before the service makes its clients
    collections = Collections()
    gc.callbacks.append(collections)
    # CPU time, not wall time: on a loaded machine a wall-clock profile counts waits.
    profile = cProfile.Profile(time.process_time)
    if profiling:
        profile.enable()
    try:
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    except SystemExit:
        pass
    finally:
        if profiling:
            profile.disable()
            profile.dump_stats(out)
        rows = sorted(tally.rows.items(), key=lambda item: -item[1][0])
        with open(f"{out}.commands", "w") as file:
            json.dump(
                {"commands": rows, "slow": tally.slow, "gc": collections.runs}, file, indent=0
            )


if __name__ == "__main__":
    main()
