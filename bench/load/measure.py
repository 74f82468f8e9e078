"""What a load phase records and prints: latency per operation, errors by code, and the CPU
and memory of each process of the stack (psutil), with the time each spent ready to run but
waiting for a core (Linux's scheduler statistics)."""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import psutil


def percentile(samples: list[float], q: float) -> float:
    if not samples:
        return float("nan")
    ordered = sorted(samples)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


@dataclass
class Recorder:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    kinds: dict[str, str] = field(default_factory=dict)
    errors: Counter[str] = field(default_factory=Counter)
    errors_by_operation: Counter[str] = field(default_factory=Counter)

    def record(self, name: str, kind: str, seconds: float, error: str | None) -> None:
        self.latencies[name].append(seconds)
        self.kinds[name] = kind
        if error is not None:
            self.errors[error] += 1
            self.errors_by_operation[name] += 1

    @property
    def requests(self) -> int:
        return sum(len(v) for v in self.latencies.values())

    def of_kind(self, kind: str) -> list[float]:
        return [s for name, v in self.latencies.items() if self.kinds[name] == kind for s in v]


@dataclass(frozen=True)
class Usage:
    cpu: float  # CPU seconds used
    rss: int  # peak resident bytes
    # Seconds its threads were ready to run but waiting for a core (None: not on Linux). A
    # process that used a fraction of a core and waited the rest of the phase was not idle:
    # it was starved by the machine (other processes), and each of its requests waited.
    waited: float | None


class ProcessMeter:
    """CPU seconds, run-queue wait and peak RSS of named processes over a phase."""

    def __init__(self, processes: dict[str, psutil.Process]) -> None:
        self.processes = processes
        self._start: dict[str, float] = {}
        self._waited: dict[str, float | None] = {}
        self.peak_rss: dict[str, int] = {}
        self.started = 0.0

    @classmethod
    def of_stack(cls, root: psutil.Process) -> ProcessMeter:
        """This process (the load) and every descendant, named by what it runs."""
        found = {"load generator": root}
        for child in root.children(recursive=True):
            try:
                name = _name(child.cmdline())
            except psutil.Error:
                continue
            if name:
                found[name] = child
        return cls(found)

    def start(self) -> None:
        self.started = time.perf_counter()
        self._start = {n: _cpu(p) for n, p in self.processes.items()}
        self._waited = {n: run_queue_wait(p.pid) for n, p in self.processes.items()}
        self.peak_rss = {}

    def sample(self) -> None:
        for name, process in self.processes.items():
            try:
                rss = process.memory_info().rss
            except psutil.Error:
                continue
            self.peak_rss[name] = max(self.peak_rss.get(name, 0), rss)

    def stop(self) -> dict[str, Usage]:
        """Per process: what it used and waited since `start`."""
        self.sample()
        usage = {}
        for name, process in self.processes.items():
            before, after = self._waited.get(name), run_queue_wait(process.pid)
            waited = after - before if before is not None and after is not None else None
            cpu = _cpu(process) - self._start.get(name, 0.0)
            usage[name] = Usage(cpu, self.peak_rss.get(name, 0), waited)
        return usage


def run_queue_wait(pid: int) -> float | None:
    """Seconds the process's threads have spent runnable but not running, since they
    started (the second field of /proc/PID/task/TID/schedstat); None where the kernel
    does not say."""
    return _schedstat_seconds(pid, 1)


def run_time(pid: int) -> float | None:
    """Seconds the process's threads have run on a CPU (the first field of schedstat): to
    the nanosecond, where `cpu_times()` counts 10 ms ticks (a single request)."""
    return _schedstat_seconds(pid, 0)


def _schedstat_seconds(pid: int, field: int) -> float | None:
    """One field of /proc/PID/task/TID/schedstat (nanoseconds) summed over the threads."""
    total = 0
    found = False
    for stat in Path(f"/proc/{pid}/task").glob("*/schedstat"):
        try:
            total += int(stat.read_text().split()[field])
        except (OSError, IndexError, ValueError):
            continue  # a thread that ended meanwhile
        found = True
    return total / 1e9 if found else None


def _cpu(process: psutil.Process) -> float:
    try:
        times = process.cpu_times()
    except psutil.Error:
        return 0.0
    return times.user + times.system


def _name(cmdline: list[str]) -> str | None:
    text = " ".join(cmdline)
    for part in ("contacts", "deals", "tasks", "capture", "gateway", "webhooks"):
        if f"crm_{part}" in text:
            return part
    if "ferretdb" in text.lower():
        return "ferretdb"
    if "nats-server" in text:
        return "nats"
    return None


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f}"


def print_phase(
    users: int,
    seconds: float,
    recorder: Recorder,
    usage: dict[str, Usage],
) -> dict[str, float]:
    """The phase's table; returns its headline figures."""
    total = recorder.requests
    rate = total / seconds
    print(f"\n== {users} users, {seconds:.0f} s: {total} requests, {rate:.1f} req/s")
    head = f"{'count':>6} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} {'err':>5}"
    print(f"{'operation':22} {'kind':5} {head}")
    for name in sorted(recorder.latencies, key=lambda n: (recorder.kinds[n], n)):
        lat = recorder.latencies[name]
        print(
            f"{name:22} {recorder.kinds[name]:5} {len(lat):6} {ms(percentile(lat, 50)):>7} "
            f"{ms(percentile(lat, 95)):>7} {ms(percentile(lat, 99)):>7} "
            f"{recorder.errors_by_operation[name]:5}"
        )
    figures: dict[str, float] = {"rate": rate, "errors": float(sum(recorder.errors.values()))}
    for kind in ("read", "write"):
        lat = recorder.of_kind(kind)
        figures[f"{kind}_p50"] = percentile(lat, 50)
        figures[f"{kind}_p99"] = percentile(lat, 99)
        print(
            f"{'all ' + kind + 's':22} {kind:5} {len(lat):6} {ms(percentile(lat, 50)):>7} "
            f"{ms(percentile(lat, 95)):>7} {ms(percentile(lat, 99)):>7}"
        )
    if recorder.errors:
        print("errors by code: " + ", ".join(f"{c} {n}" for c, n in recorder.errors.most_common()))
    else:
        print("errors: none")
    print(
        f"{'process':16} {'CPU s':>7} {'cores':>6} {'waited':>6} {'CPU ms/req':>10} "
        f"{'peak RSS MB':>11}"
    )
    for name, use in sorted(usage.items(), key=lambda item: -item[1].cpu):
        waited = "-" if use.waited is None else f"{use.waited / seconds:6.2f}"
        print(
            f"{name:16} {use.cpu:7.1f} {use.cpu / seconds:6.2f} {waited:>6} "
            f"{use.cpu * 1000 / max(total, 1):10.2f} {use.rss / 1e6:11.0f}"
        )
    if any(use.waited is not None for use in usage.values()):
        print(
            "(cores: the CPU each process got; waited: the cores' worth of time its threads "
            "were ready to run but queued for a CPU. cores + waited near 1 for a one-loop "
            "process: it was busy or starved, not idle)"
        )
    return figures
