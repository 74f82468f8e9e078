"""Load benchmark (issue 14): a sales team's day through the gateway, at N concurrent
virtual users for a fixed time each.

    .venv/bin/python bench/load/run.py [--users 10,50,200] [--seconds 30]
        [--list-clients 50] [--list-seconds 5] [--gateway-url http://127.0.0.1:4000/graphql]

Starts its own stack (FerretDB, NATS, the services and the gateway on free ports of
127.0.0.1, in a temporary directory, `bench/web/stack.py`) and loads the demo data (8,800
deals), unless `--gateway-url` names a running one (then no process CPU is measured).
Each virtual user is a rep of the demo workspace (one in ten a manager) who, with no
pause between requests, opens the screens the web app shows and makes the changes it
makes, about 80 % reads and 20 % writes by weight (`workload.py`; the GraphQL documents
are the web app's own). Per phase it prints the throughput, p50/p95/p99 per operation,
errors by code, and the CPU and peak memory of each process, and at the end the issue's
targets against the figures (at 200 users: >= 300 req/s, p99 < 1 s for reads and < 2 s
for writes, 0 errors). Then every list, count and search at its own subgraph with
`--list-clients` concurrent clients beside `{ __typename }` there (`lists.py`). Every
phase is bounded in time; every request has a timeout.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
for path in (HERE, ROOT / "bench" / "web", ROOT / "libs", ROOT / "gateway"):
    sys.path.insert(0, str(path))

import httpx  # noqa: E402
import orjson  # noqa: E402
import psutil  # noqa: E402
from board import run_board  # noqa: E402
from client import FAILURES, Poster  # noqa: E402
from lists import print_lists, run_lists  # noqa: E402
from measure import ProcessMeter, Recorder, print_phase  # noqa: E402
from workload import OPERATIONS, Pools, User  # noqa: E402

WORKSPACE = "demo"
REQUEST_TIMEOUT = 30.0
# A phase ends this long after its time is up even if requests still hang.
PHASE_GRACE = REQUEST_TIMEOUT + 5.0
TARGET_USERS = 200


def error_code(status: int, body: Any) -> str | None:
    if status != 200:
        return f"HTTP {status}"
    if not isinstance(body, dict):
        return "NOT_JSON"
    errors = body.get("errors")
    if errors:
        first = errors[0] if isinstance(errors[0], dict) else {}
        return str((first.get("extensions") or {}).get("code") or "GRAPHQL_ERROR")
    return None


class Sender:
    """POSTs to the gateway as one user and records each request."""

    def __init__(self, poster: Poster, url: str, token: str, recorder: Recorder) -> None:
        self.poster = poster
        self.url = url
        self.headers = {"authorization": f"Bearer {token}", "content-type": "application/json"}
        self.recorder = recorder

    async def __call__(self, name: str, query: str, variables: dict[str, Any]) -> Any:
        started = time.perf_counter()
        error: str | None
        data = None
        try:
            status, content = await self.poster.post(
                self.url, self.headers, orjson.dumps({"query": query, "variables": variables})
            )
            body = orjson.loads(content) if content else None
            error = error_code(status, body)
            if error is None:
                data = body["data"]
        except (*FAILURES, orjson.JSONDecodeError) as exc:
            error = type(exc).__name__
        kind = "write" if query.lstrip().startswith("mutation") else "read"
        self.recorder.record(name, kind, time.perf_counter() - started, error)
        return data


async def phase(
    url: str, users: int, seconds: float, pools: Pools, meter: ProcessMeter | None
) -> dict[str, float]:
    from crm_kit.auth import issue_token

    recorder = Recorder()
    weights = [op.weight for op in OPERATIONS]
    deadline = time.monotonic() + seconds
    poster = Poster(users, REQUEST_TIMEOUT)
    try:

        async def virtual_user(n: int) -> None:
            manager = n % 10 == 9
            subject = "melvin-marxen" if manager else pools.owners[n % len(pools.owners)]
            token = issue_token(WORKSPACE, subject, ["manager" if manager else "rep"])
            sender = Sender(poster, url, token, recorder)
            user = User(subject, "manager" if manager else "rep", sender, pools, random.Random(n))
            while time.monotonic() < deadline:
                await user.rng.choices(OPERATIONS, weights)[0].run(user)

        if meter is not None:
            meter.start()
        started = time.perf_counter()
        tasks = [asyncio.create_task(virtual_user(n)) for n in range(users)]
        sampler = asyncio.create_task(_sample(meter)) if meter is not None else None
        _, pending = await asyncio.wait(tasks, timeout=seconds + PHASE_GRACE)
        for task in pending:
            task.cancel()
        elapsed = time.perf_counter() - started
        if sampler is not None:
            sampler.cancel()
        usage = meter.stop() if meter is not None else {}
    finally:
        await poster.aclose()
    return print_phase(users, elapsed, recorder, usage)


async def _sample(meter: ProcessMeter) -> None:
    while True:
        meter.sample()
        await asyncio.sleep(1.0)


async def prepare(url: str) -> Pools:
    from crm_kit.auth import issue_token

    recorder = Recorder()
    poster = Poster(1, 120.0)
    sender = Sender(poster, url, issue_token(WORKSPACE, "admin", ["admin"]), recorder)
    try:
        pools = await Pools.load(sender)
    except AssertionError as failed:
        raise RuntimeError(f"{failed}: {dict(recorder.errors)}") from None
    finally:
        await poster.aclose()
    return pools


def verdict(results: dict[int, dict[str, float]]) -> None:
    at = results.get(TARGET_USERS)
    if at is None:
        print(f"\n(targets are stated at {TARGET_USERS} users; not run)")
        return
    checks = (
        (
            f"throughput >= 300 req/s at {TARGET_USERS} users",
            at["rate"] >= 300,
            f"{at['rate']:.0f}",
        ),
        ("read p99 < 1 s", at["read_p99"] < 1.0, f"{at['read_p99'] * 1000:.0f} ms"),
        ("write p99 < 2 s", at["write_p99"] < 2.0, f"{at['write_p99'] * 1000:.0f} ms"),
        ("0 errors", at["errors"] == 0, f"{at['errors']:.0f}"),
    )
    print("\ntargets (issue 14):")
    for name, ok, value in checks:
        print(f"  {'met ' if ok else 'MISS'} {name}: {value}")


async def run_phases(
    url: str,
    args: argparse.Namespace,
    measure_processes: bool,
    env: dict[str, str],
    metrics_url: str | None = None,
) -> None:
    from crm_kit.auth import issue_token

    pools = await prepare(url)
    print(
        f"pools: {len(pools.all_deals)} deals, {len(pools.contacts)} contacts, "
        f"{len(pools.companies)} companies, {len(pools.owners)} owners"
    )
    print(f"load average: {' '.join(f'{n:.2f}' for n in os.getloadavg())}")
    meter = ProcessMeter.of_stack(psutil.Process()) if measure_processes else None
    if args.boards:
        token = issue_token(WORKSPACE, "melvin-marxen", ["manager"])
        await run_board(url, token, pools, args.boards, metrics_url, meter)
    results: dict[int, dict[str, float]] = {}
    for users in args.users:
        results[users] = await phase(url, users, args.seconds, pools, meter)
        await asyncio.sleep(args.settle)  # let queues and event consumers drain
    verdict(results)
    urls = {s: env.get(f"SUBGRAPH_{s.upper()}_URL", "") for s in ("contacts", "deals", "tasks")}
    if args.list_clients and all(urls.values()):
        database = httpx.URL(env["MONGODB_URI"]).port if env.get("MONGODB_URI") else None
        found = await run_lists(urls, pools, args.list_clients, args.list_seconds, database)
        print_lists(found, args.list_clients)


def main() -> int:
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[attr-defined]
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", default="10,50,200", help="comma-separated user counts")
    parser.add_argument("--seconds", type=float, default=30.0, help="per phase")
    parser.add_argument("--settle", type=float, default=5.0, help="pause between phases")
    parser.add_argument("--gateway-url", help="a running stack's gateway (its workspace 'demo')")
    parser.add_argument(
        "--list-clients", type=int, default=50, help="lists at the subgraphs (0: skip)"
    )
    parser.add_argument("--list-seconds", type=float, default=5.0, help="per list query")
    parser.add_argument(
        "--boards", type=int, default=30, help="sequential boards measured first (0: skip)"
    )
    args = parser.parse_args()
    args.users = [max(1, min(int(n), 1000)) for n in args.users.split(",") if n.strip()]
    args.seconds = max(1.0, min(args.seconds, 600.0))
    args.list_clients = max(0, min(args.list_clients, 500))
    args.list_seconds = max(1.0, min(args.list_seconds, 60.0))
    args.boards = max(0, min(args.boards, 1000))
    if args.gateway_url:
        host = httpx.URL(args.gateway_url).host
        if host not in ("127.0.0.1", "localhost"):
            print("the load targets 127.0.0.1 only", file=sys.stderr)
            return 2
        # The subgraphs' URLs (SUBGRAPH_<NAME>_URL) for the lists, when the environment has them.
        env = dict(os.environ)
        asyncio.run(run_phases(args.gateway_url, args, measure_processes=False, env=env))
        return 0
    from stack import platform

    started = time.monotonic()
    with platform() as running:
        print(f"stack up and demo loaded in {time.monotonic() - started:.0f} s")
        os.environ.update({k: running.env[k] for k in ("JWT_SECRET",) if k in running.env})
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(
                run_phases(
                    f"{running.base_url}/graphql",
                    args,
                    measure_processes=True,
                    env=running.env,
                    metrics_url=running.ferretdb_metrics_url,
                )
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
