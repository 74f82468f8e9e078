"""Deals benchmark (issue 3): pipelineBoard over the imported 8,800 deals (p50/p99) and
moveDeal throughput, each against the equivalent raw driver reads/writes on the same
FerretDB in the same run, printed as ratios.

    .venv/bin/python bench/deals/run.py [--boards 10] [--moves 100] [--concurrency 4]

Starts its own FerretDB + NATS (127.0.0.1, free ports, temporary directory) and the deals
service as a subprocess, imports the shared dataset, measures, and stops everything. Every
phase is bounded in count and time.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
for sub in ("libs", "services/deals"):
    sys.path.insert(0, str(ROOT / sub))
os.environ.setdefault("JWT_SECRET", "bench-secret-" + "x" * 40)

import httpx  # noqa: E402
from pymongo import AsyncMongoClient  # noqa: E402

from crm_deals.importer import run as import_deals  # noqa: E402
from crm_kit.auth import issue_token  # noqa: E402
from crm_kit.devstack import InfraStack, free_port  # noqa: E402

DATASET = ROOT.parent / "shared" / "data" / "maven-crm-sales-opportunities"
DATASET = DATASET / "sales_pipeline.csv"
WORKSPACE = "bench"
DATABASE = "crm_deals_bench"
PHASE_TIMEOUT = 600.0
SERVICE_LOG = Path(tempfile.gettempdir()) / "crm-bench-deals-service.log"
failures: list[str] = []
BOARD = """query($p: ID) { pipelineBoard(pipelineId: $p) { columns {
  stage { key name probability } count totalAmount weightedAmount
  deals(first: 20) { edges { node { id title amount } } pageInfo { hasNextPage } totalCount }
} } }"""
MOVE = (
    """mutation($id: ID!, $s: String!) { moveDeal(id: $id, stageKey: $s) { id stage { key } } }"""
)


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


async def timed(n: int, call: Callable[[], Awaitable[Any]]) -> list[float]:
    latencies = []
    for _ in range(n):
        start = time.perf_counter()
        await call()
        latencies.append(time.perf_counter() - start)
    return latencies


async def throughput(
    items: list[str], concurrency: int, call: Callable[[str], Awaitable[Any]]
) -> float:
    queue = list(items)

    async def worker() -> None:
        while queue:
            await call(queue.pop())

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return len(items) / (time.perf_counter() - start)


async def wait_ready(
    http: httpx.AsyncClient, process: subprocess.Popen, timeout: float = 60
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"deals service exited with {process.returncode}")
        with contextlib.suppress(httpx.HTTPError):
            if (await http.get("/ready")).status_code == 200:
                return
        await asyncio.sleep(0.2)
    raise TimeoutError("deals service not ready")


async def bench(stack: InfraStack, args: argparse.Namespace) -> None:
    env_common = [
        "--mongodb-uri",
        stack.mongodb_uri,
        "--database",
        DATABASE,
        "--nats-url",
        stack.nats_url,
    ]
    out = io.StringIO()
    started = time.perf_counter()
    code = await import_deals(
        ["deals", str(DATASET), "--workspace", WORKSPACE, "--no-companies", *env_common],
        out,
        io.StringIO(),
    )
    import_seconds = time.perf_counter() - started
    if code != 0:
        raise RuntimeError(f"import failed:\n{out.getvalue()}")
    print(
        f"import: 8,800 rows in {import_seconds:.1f}s (incl. publishing 8,800 deal.created events)"
    )

    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(str(ROOT / p) for p in ("libs", "services/deals")),
        "DEALS_HOST": "127.0.0.1",
        "DEALS_PORT": str(port),
        "MONGODB_URI": stack.mongodb_uri,
        "NATS_URL": stack.nats_url,
        "DEALS_DB": DATABASE,
        "LOG_LEVEL": "WARNING",
    }
    process = subprocess.Popen(  # noqa: ASYNC220 - started once, before any measurement
        [sys.executable, "-m", "crm_deals"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=SERVICE_LOG.open("wb"),
    )
    client = AsyncMongoClient(stack.mongodb_uri, tz_aware=True)
    deals = client[DATABASE]["deals"]
    headers = {"Authorization": f"Bearer {issue_token(WORKSPACE, 'bench', ['admin'])}"}
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=120) as http:
            await wait_ready(http, process)

            async def board() -> None:
                body = (
                    await http.post(
                        "/graphql",
                        json={"query": BOARD, "variables": {"p": f"{WORKSPACE}:default"}},
                        headers=headers,
                    )
                ).json()
                assert not body.get("errors"), body["errors"]
                assert sum(c["count"] for c in body["data"]["pipelineBoard"]["columns"]) == 8800

            scope = {
                "workspace_id": WORKSPACE,
                "pipeline_id": f"{WORKSPACE}:default",
                "deleted_at": None,
            }
            stages = [
                "prospecting",
                "qualification",
                "engaging",
                "proposal",
                "negotiation",
                "won",
                "lost",
            ]

            async def raw_scan() -> None:
                # The least a client of the raw driver reads to draw the board here.
                await deals.find(scope, {"_outbox": 0, "_outbox_pending": 0}).to_list()

            async def raw_board() -> None:
                async def group(name: str, expr: Any) -> list:
                    cursor = await deals.aggregate(
                        [
                            {"$match": scope},
                            {
                                "$group": {
                                    "_id": {"s": "$stage_key", "c": "$currency"},
                                    name: {"$sum": expr},
                                }
                            },
                        ]
                    )
                    return await cursor.to_list()

                async def column(stage: str) -> list:
                    cursor = (
                        deals.find({**scope, "stage_key": stage})
                        .sort([("amount_minor", -1), ("_id", -1)])
                        .limit(21)
                    )
                    return await cursor.to_list()

                await asyncio.gather(
                    group("n", 1), group("a", "$amount_minor"), group("w", "$weighted_minor")
                )
                await asyncio.gather(*(column(s) for s in stages))

            print("service ready; measuring pipelineBoard ...")
            await board()  # warm-up (the pipeline exists from the import)
            await raw_scan()
            service_board = await asyncio.wait_for(timed(args.boards, board), PHASE_TIMEOUT)
            raw_scan_lat = await asyncio.wait_for(timed(args.boards, raw_scan), PHASE_TIMEOUT)
            raw_board_lat = await asyncio.wait_for(timed(args.boards, raw_board), PHASE_TIMEOUT)

            print("measuring moveDeal ...")
            engaging = [
                d["_id"]
                async for d in deals.find(
                    {"workspace_id": WORKSPACE, "stage_key": "engaging"}, {"_id": 1}
                ).limit(2 * args.moves)
            ]
            mine, theirs = engaging[: args.moves], engaging[args.moves : 2 * args.moves]

            async def move(deal_id: str) -> None:
                body = (
                    await http.post(
                        "/graphql",
                        json={"query": MOVE, "variables": {"id": deal_id, "s": "qualification"}},
                        headers=headers,
                    )
                ).json()
                if body.get("errors"):
                    failures.append(str(body["errors"][0].get("extensions")))

            async def raw_move(deal_id: str) -> None:
                doc = await deals.find_one({"_id": deal_id})
                await deals.update_one(
                    {"_id": deal_id},
                    {
                        "$set": {
                            "stage_key": "qualification",
                            "rev": doc["rev"] + 1,
                            "stage_probability": 25,
                        },
                        "$push": {
                            "stage_history": {"from_stage": "engaging", "to_stage": "qualification"}
                        },
                    },
                )

            service_moves = await asyncio.wait_for(
                throughput(mine, args.concurrency, move), PHASE_TIMEOUT
            )
            raw_moves = await asyncio.wait_for(
                throughput(theirs, args.concurrency, raw_move), PHASE_TIMEOUT
            )
    finally:
        process.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(10)
        if process.poll() is None:
            process.kill()
        await client.close()

    def ms(value: float) -> str:
        return f"{value * 1000:8.1f} ms"

    print()
    print(f"{'metric':36} {'service':>12} {'raw driver':>12} {'service/raw':>12}")
    for baseline, raw in (("1 find", raw_scan_lat), ("3 $group+7 finds", raw_board_lat)):
        for label, q in (("p50", 50), ("p99", 99)):
            s, r = percentile(service_board, q), percentile(raw, q)
            name = f"pipelineBoard {label} vs raw {baseline}"
            print(f"{name:36} {ms(s):>12} {ms(r):>12} {s / r:11.2f}x")
    print(
        f"{'moveDeal throughput (moves/s)':36} {service_moves:12.1f} {raw_moves:12.1f} "
        f"{service_moves / raw_moves:11.2f}x"
    )
    if failures:
        print(f"moveDeal failures: {len(failures)} (first: {failures[0]}; log: {SERVICE_LOG})")
    print(
        f"\nboards: {args.boards} sequential requests each; moves: {args.moves} distinct deals, "
        f"concurrency {args.concurrency}; raw board = one find of the pipeline's deals, or the "
        "3 $group + 7 column finds a direct implementation issues; "
        "raw move = find_one + update_one($set, $push) by _id. With few samples p99 is the max."
    )


def main() -> int:
    sys.stdout.reconfigure(line_buffering=True)  # progress lines show up as they happen
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--boards", type=int, default=10)
    parser.add_argument("--moves", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument(
        "--tmpfs", action="store_true", help="keep FerretDB's files in /dev/shm (no fsync cost)"
    )
    args = parser.parse_args()
    args.boards = max(1, min(args.boards, 100))
    args.moves = max(1, min(args.moves, 500))
    if not DATASET.exists():
        print(f"dataset not found: {DATASET}", file=sys.stderr)
        return 2
    base = "/dev/shm" if args.tmpfs and Path("/dev/shm").is_dir() else None
    with tempfile.TemporaryDirectory(prefix="crm-bench-deals-", dir=base) as tmp:
        stack = InfraStack(Path(tmp), free_port(), free_port()).start()
        try:
            asyncio.run(bench(stack, args))
        finally:
            stack.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
