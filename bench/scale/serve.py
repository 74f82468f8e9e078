"""Serve a kept load (`run.py --keep-data DIR`) for probing and profiling by hand.

    .venv/bin/python bench/scale/serve.py --reuse DIR --size 10000 [--minutes 60]

Starts FerretDB, NATS, every service and the gateway on free ports of 127.0.0.1 on the
load kept in DIR/<size> (the indexes warm from the snapshots its last clean stop wrote, or
by scans when no run has scanned the load yet),
waits until they are warm, and writes DIR/<size>/stack.json: the gateway's URL, the
database URI, the metrics URLs and the process ids (what `probe.py` and py-spy need).
SIGUSR1 restarts the services and the gateway (after a code change; the clean stop writes
the snapshots the new processes start from); SIGTERM, SIGINT or `--minutes` stop
everything cleanly. `--cprofile contacts,deals` runs those parts under `profiled.py`:
SIGUSR2 to a part's pid (in stack.json) starts a cProfile, the next writes it.
Bounded: it never serves longer than `--minutes`.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from pathlib import Path
from types import FrameType

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
# This directory first: bench/load has a `run` module too.
for path in (ROOT / "bench" / "load", ROOT / "bench" / "import", HERE):
    sys.path.insert(0, str(path))
for sub in ("libs", "cli", "services/contacts", "services/deals", "services/tasks"):
    sys.path.insert(0, str(ROOT / sub))

import kept  # noqa: E402
from run import STOP_GRACE, all_warm, drop_snapshots, load_average, wait_warm  # noqa: E402
from stack import PARTS, Stack  # noqa: E402

STATE = "stack.json"
# Workspaces of a kept load: its small ones and the main one (`run.py`).
OPTION_DEFAULTS = {
    "seed": 14,
    "small_workspaces": 10,
    "small_deals": 100,
    "interactions_per_deal": 2,
    "tasks_per_deal": 1,
    "contacts_per_deal": 2,
}


def describe(stack: Stack, root: Path) -> None:
    state = {
        "gateway_url": stack.gateway_url,
        "mongodb_uri": stack.infra.mongodb_uri,
        "ferretdb_metrics_url": stack.ferretdb_metrics_url,
        "metrics_urls": {name: stack.metrics_url(name) for name in PARTS},
        "pids": {
            name: stack.pid(name) for name in (*PARTS, "ferretdb", "nats") if _has(stack, name)
        },
    }
    (root / STATE).write_text(json.dumps(state, indent=1))


def _has(stack: Stack, name: str) -> bool:
    try:
        stack.pid(name)
    except StopIteration:
        return False
    return True


def main() -> int:
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[attr-defined]
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reuse", required=True, metavar="DIR")
    parser.add_argument("--size", type=int, required=True, help="deals of the kept load")
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument(
        "--cprofile",
        default="",
        metavar="NAMES",
        help="parts (e.g. contacts,deals) run under cProfile that SIGUSR2 to the part's pid "
        "starts and stops; each stop writes DIR/<size>/<name>.<n>.prof",
    )
    args = parser.parse_args()
    root = kept.directory(args.reuse, args.size)
    marker = json.loads((root / kept.MARKER).read_text())
    options = {**OPTION_DEFAULTS, **marker["options"]}
    kept.open_loaded(root, options)
    workspaces = int(options["small_workspaces"]) + 1
    stack = Stack(root)
    for name in filter(None, args.cprofile.split(",")):
        if name not in PARTS:
            parser.error(f"--cprofile: no part {name!r} (one of {', '.join(PARTS)})")
        stack.profiled[name] = str(root / name)
    wanted: list[str] = []

    def on_signal(number: int, _: FrameType | None) -> None:
        wanted.append("restart" if number == signal.SIGUSR1 else "stop")

    for number in (signal.SIGUSR1, signal.SIGTERM, signal.SIGINT):
        signal.signal(number, on_signal)
    deadline = time.monotonic() + args.minutes * 60
    try:
        stack.start_infra()
        scan = not kept.scanned(root)
        if scan:
            drop_snapshots(stack)  # written before the bulk path's documents
        while True:
            started = time.monotonic()
            ready = stack.start_parts()
            warm, indexes = wait_warm(stack, started, workspaces)
            if scan and all_warm(indexes, workspaces):
                kept.mark_scanned(root)
                scan = False
            describe(stack, root)
            print(
                f"ready {ready:.1f} s, warm {warm:.1f} s; {root / STATE} ({load_average()})",
                flush=True,
            )
            while not wanted and time.monotonic() < deadline:
                time.sleep(0.5)
            if not wanted or wanted[-1] == "stop":
                break
            wanted.clear()
            print("restarting the services and the gateway ...", flush=True)
            stack.stop_parts(STOP_GRACE)
    finally:
        stack.stop(STOP_GRACE)
        (root / STATE).unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
