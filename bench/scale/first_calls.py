"""What each contact search costs each part, call by call, on a stack `serve.py` serves:
the web app's `ContactsList` (by last name, 25 a page, as a manager), one call at a time,
each with its latency and the CPU the gateway, the contacts service and FerretDB spent on
it (every thread's run time from `/proc/<pid>/task/*/schedstat`, nanoseconds: a single
request is below `cpu_times()`'s 10 ms ticks). Give a text twice to see its first
evaluation beside its memo's answer; the first call after a start also pays the
document's first planning in the gateway and the subgraph.

    .venv/bin/python bench/scale/first_calls.py --reuse DIR --size 100000 zzq zzq ros ros
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
for path in (ROOT / "bench" / "load", ROOT / "bench" / "import", HERE):
    sys.path.insert(0, str(path))
sys.path.insert(0, str(ROOT / "libs"))

import httpx  # noqa: E402
from measure import run_time  # noqa: E402
from probes import Gateway  # noqa: E402

WORKSPACE = "scale"
PARTS = ("gateway", "contacts", "ferretdb")


def run_ns(pid: int) -> int:
    """CPU nanoseconds every thread of `pid` has run (FerretDB works in many threads)."""
    return round((run_time(pid) or 0.0) * 1e9)


async def run(state: dict[str, Any], texts: list[str]) -> None:
    pids = {name: int(state["pids"][name]) for name in PARTS}
    async with httpx.AsyncClient(timeout=120.0, trust_env=False) as http:
        manager = Gateway(http, state["gateway_url"], WORKSPACE, "manager")
        for text in texts:
            variables = {
                "filter": {"text": text},
                "orderBy": {"field": "LAST_NAME", "direction": "ASC"},
                "first": 25,
            }
            before = {name: run_ns(pid) for name, pid in pids.items()}
            started = time.perf_counter()
            ok = await manager("ContactsList", variables) is not None
            took = (time.perf_counter() - started) * 1000
            spent = {name: (run_ns(pid) - before[name]) / 1e6 for name, pid in pids.items()}
            print(
                f"  {text:6s} {took:6.0f} ms{'' if ok else ' FAILED'}; CPU ms: "
                + ", ".join(f"{name} {ms:.1f}" for name, ms in spent.items())
            )
        if manager.failures:
            print("failures: " + "; ".join(manager.failures))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reuse", required=True, metavar="DIR")
    parser.add_argument("--size", type=int, required=True)
    parser.add_argument("texts", nargs="+")
    args = parser.parse_args()
    root = Path(args.reuse).resolve() / str(args.size)
    state = json.loads((root / "stack.json").read_text())
    os.environ["JWT_SECRET"] = (root / "jwt_secret").read_text().strip()  # `kept.SECRET`
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    asyncio.run(run(state, args.texts))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
