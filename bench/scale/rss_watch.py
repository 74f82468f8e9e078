"""The memory of a served kept load's processes over time (`serve.py`'s stack.json).

    .venv/bin/python bench/scale/rss_watch.py --reuse DIR --size 100000 [--minutes 15]
        [--every 10] [--parts contacts,deals,tasks]

Every `--every` seconds: each part's RSS and its peak so far (`VmHWM`, what the kernel
saw at most, between two samples included), and the contacts' read-index rebuilds
(`crm_read_model_build_duration_seconds_count`, from its metrics page), so a rebuild's
peak shows beside the warm figure. At the end: each part's RSS at the first sample, the
largest RSS sampled and the peak (`VmHWM`). Bounded by `--minutes`.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import httpx  # noqa: E402


def status_kb(pid: int, field: str) -> float:
    """A `/proc/<pid>/status` figure in kB (0 once the process is gone)."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0.0
    for line in text.splitlines():
        if line.startswith(field + ":"):
            return float(line.split()[1])
    return 0.0


def metric_total(url: str | None, name: str) -> float:
    """The sum of a metric's samples on a metrics page (0 when it does not answer)."""
    if url is None:
        return 0.0
    try:
        text = httpx.get(url, timeout=5.0, trust_env=False).text
    except httpx.HTTPError:
        return 0.0
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(name + " ") or line.startswith(name + "{")
    )


def main() -> int:
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[attr-defined]
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reuse", required=True, metavar="DIR")
    parser.add_argument("--size", type=int, required=True)
    parser.add_argument("--minutes", type=float, default=15.0)
    parser.add_argument("--every", type=float, default=10.0)
    parser.add_argument("--parts", default="contacts,deals,tasks")
    args = parser.parse_args()
    root = Path(args.reuse) / str(args.size)  # `kept.directory`
    state = json.loads((root / "stack.json").read_text())
    parts = [p for p in args.parts.split(",") if p in state["pids"]]
    pids = {p: int(state["pids"][p]) for p in parts}
    metrics_url = state["metrics_urls"].get("contacts")
    first: dict[str, float] = {}
    largest: dict[str, float] = {}
    peak: dict[str, float] = {}
    started = time.monotonic()
    deadline = started + args.minutes * 60
    while True:
        row = []
        for part, pid in pids.items():
            rss, hwm = status_kb(pid, "VmRSS") / 1024, status_kb(pid, "VmHWM") / 1024
            first.setdefault(part, rss)
            largest[part] = max(largest.get(part, 0.0), rss)
            peak[part] = hwm
            row.append(f"{part} {rss:.0f} (peak {hwm:.0f})")
        builds = metric_total(metrics_url, "crm_read_model_build_duration_seconds_count")
        elapsed = time.monotonic() - started
        print(f"{elapsed:6.0f} s  " + ", ".join(row) + f"; contacts index builds {builds:.0f}")
        if time.monotonic() + args.every > deadline:
            break
        time.sleep(args.every)
    for part in pids:
        print(
            f"{part}: RSS {first[part]:.0f} MB at the start, {largest[part]:.0f} at most sampled, "
            f"peak (VmHWM) {peak[part]:.0f} MB"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
