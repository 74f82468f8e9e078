"""The lists at the subgraphs (`lists.py`), A against B on one stack: the demo loaded
once, then contacts, deals and tasks restarted from each source tree in turn (same ports,
same database, same NATS) and every list measured, alternating, so both sides see the same
data and nearly the same machine.

    git archive <base> libs services | tar -x -C /tmp/base
    .venv/bin/python bench/load/lists_ab.py --before /tmp/base [--rounds 2]
        [--list-clients 50] [--list-seconds 5]

`--before`, `--after`: directories holding a tree's `libs` and `services` (an exported
commit; `--after` defaults to this checkout). Prints `lists.py`'s table per side and round, then the
CPU milliseconds per request of each list side by side (the median over the rounds).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
# This directory first: `bench/web` has a `run.py` too.
for path in (ROOT / "gateway", ROOT / "libs", ROOT / "bench" / "web", HERE):
    sys.path.insert(0, str(path))

import httpx  # noqa: E402
import psutil  # noqa: E402
from lists import ListResult, listening, print_lists, run_lists  # noqa: E402
from run import prepare  # noqa: E402
from stack import platform  # noqa: E402

from crm_kit.devstack import spawn, wait_http_ok  # noqa: E402
from crm_kit.paths import SOURCE_DIRS  # noqa: E402

SERVICES = ("contacts", "deals", "tasks")


def restart(env: dict[str, str], tree: Path, logs: Path) -> None:
    """Each list service stopped (the process on its port, which this run started) and
    started again from `tree`'s sources."""
    python_path = os.pathsep.join(str(tree / sub) for sub in SOURCE_DIRS)
    for name in SERVICES:
        port = int(env[f"{name.upper()}_PORT"])
        old = listening(port)
        if old is not None:
            old.terminate()
            try:
                old.wait(15)
            except psutil.TimeoutExpired:
                old.kill()
        log = logs / f"{name}-{tree.name}.log"
        process = spawn(
            [sys.executable, "-m", f"crm_{name}"],
            log,
            env={**env, "PYTHONPATH": python_path},
            cwd=tree,
        )
        wait_http_ok(f"http://127.0.0.1:{port}/ready", process, log, 180.0)
    settle([listening(int(env[f"{name.upper()}_PORT"])) for name in SERVICES])


def settle(processes: list[psutil.Process | None], most: float = 180.0) -> None:
    """Wait until the restarted services are quiet (each below 10 % of a core over 3 s,
    at most `most` seconds): a service warms its read indexes up in the background after
    it reports ready, and that work would count against the first lists measured."""
    deadline = time.monotonic() + most
    alive = [p for p in processes if p is not None]
    while time.monotonic() < deadline:
        before = [_cpu(p) for p in alive]
        time.sleep(3.0)
        busy = [_cpu(p) - b for p, b in zip(alive, before, strict=True)]
        if all(spent < 0.3 for spent in busy):
            return
    print("(services still busy after the settle time)")


def _cpu(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


async def measure(
    env: dict[str, str], pools: object, clients: int, seconds: float
) -> list[ListResult]:
    urls = {s: env[f"SUBGRAPH_{s.upper()}_URL"] for s in SERVICES}
    database = httpx.URL(env["MONGODB_URI"]).port
    return await run_lists(urls, pools, clients, seconds, database)  # type: ignore[arg-type]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", required=True, type=Path, help="the other source tree")
    parser.add_argument("--after", type=Path, default=ROOT, help="default: this checkout")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--list-clients", type=int, default=50)
    parser.add_argument("--list-seconds", type=float, default=5.0)
    args = parser.parse_args()
    before, after = args.before.resolve(), args.after.resolve()
    for tree in (before, after):
        if not (tree / "libs" / "crm_kit").is_dir():
            print(f"{tree} holds no libs/crm_kit", file=sys.stderr)
            return 2
    clients = max(1, min(args.list_clients, 500))
    seconds = max(1.0, min(args.list_seconds, 60.0))
    cpu: dict[tuple[str, str], dict[str, list[float]]] = {}
    with platform() as running:
        env = running.env
        os.environ["JWT_SECRET"] = env["JWT_SECRET"]
        logs = Path(os.environ["CRM_DATA_DIR"]).parent
        pools = asyncio.run(prepare(f"{running.base_url}/graphql"))
        for round_ in range(max(1, min(args.rounds, 5))):
            for side, tree in (("before", before), ("after", after)):
                restart(env, tree, logs)
                print(f"\n### round {round_ + 1}, {side} ({tree})")
                found = asyncio.run(measure(env, pools, clients, seconds))
                print_lists(found, clients)
                for result in found:
                    key = (result.query.service, result.query.name)
                    if result.service_cpu is not None:
                        cpu.setdefault(key, {}).setdefault(side, []).append(result.service_cpu)
    print("\n== CPU ms per request of the subgraph's process (median over rounds)")
    print(f"{'service':9} {'query':24} {'before':>7} {'after':>7} {'ratio':>6}")
    for (service, name), sides in cpu.items():
        b = statistics.median(sides.get("before", [float("nan")]))
        a = statistics.median(sides.get("after", [float("nan")]))
        print(f"{service:9} {name:24} {b:7.2f} {a:7.2f} {a / b:6.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
