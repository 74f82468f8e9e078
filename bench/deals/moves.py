"""Database statements and CPU time per moveDeal (issue 14: the write path is bound by its
write statements on FerretDB's single SQLite writer).

Starts its own FerretDB + NATS (crm_kit.devstack, 127.0.0.1, a temporary directory), runs
the deals app in this process with a pymongo command listener (stand-ins answer its
reference checks), creates `--deals` deals, then moves each once (`--concurrency` at a
time, as `run.py`), waits until every `stage_changed` event has arrived and the writes
have settled (the relay's clean-up), and prints the commands per move by command and
collection: writes (insert, update, delete, findAndModify) and reads, and the bytes of the
write commands; the CPU time this
process (the service, plus this script's GraphQL client) and FerretDB spent per move;
and the same for the raw driver's move (`find_one` + `update_one`, as `run.py`) on
deals of the same database. Statements and CPU time, unlike throughput, hardly move with
the load other programs put on the machine.

    .venv/bin/python bench/deals/moves.py [--deals 100] [--concurrency 4]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import secrets
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
for sub in ("libs", "services/deals"):
    sys.path.insert(0, str(ROOT / sub))
sys.path.insert(0, str(ROOT / "bench" / "tasks"))
os.environ.setdefault("JWT_SECRET", "bench-" + secrets.token_hex(24))

import bson  # noqa: E402
import orjson  # noqa: E402
import psutil  # noqa: E402
from pymongo import AsyncMongoClient, monitoring  # noqa: E402
from statements import WRITES, Commands, cpu_seconds, per_operation  # noqa: E402

from crm_contracts import deals as contract  # noqa: E402
from crm_deals.app import create_app  # noqa: E402
from crm_kit.devstack import InfraStack, free_port  # noqa: E402
from crm_kit.settings import Settings  # noqa: E402
from crm_kit.testing import (  # noqa: E402
    GraphQLClient,
    eventually,
    gateway_auth,
    reference_standins,
    running_app,
)

WORKSPACE = "bench"
SETTLE_SECONDS = 1.5
CREATE = """mutation($input: CreateDealInput!) { createDeal(input: $input) { id } }"""
MOVE = (
    """mutation($id: ID!, $s: String!) { moveDeal(id: $id, stageKey: $s) { id stage { key } } }"""
)


class CommandBytes(Commands):
    """Commands counted, and the bytes of the write commands sent: FerretDB parses and
    applies every path an update names, so its CPU follows them too."""

    def __init__(self) -> None:
        super().__init__()
        self.written = 0

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        super().started(event)
        if event.command_name in WRITES:
            self.written += len(bson.encode(event.command))


async def gather_limited(concurrency: int, items: list[str], call: Any) -> None:
    queue = list(items)

    async def worker() -> None:
        while queue:
            await call(queue.pop())

    await asyncio.gather(*(worker() for _ in range(concurrency)))


async def measure(
    count: int, concurrency: int, profile: str, cprofile: str | None = None
) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="crm-bench-deal-statements-"))
    os.environ["CRM_DATA_DIR"] = str(tmp)
    stack = InfraStack(tmp, free_port(), free_port(), harness=True).start()
    ferretdb = psutil.Process(stack.servers[0].process.pid)
    here = psutil.Process(os.getpid())
    commands = CommandBytes()
    monitoring.register(commands)  # every client created from now on (the app's)
    nc = await stack.connect_nats()
    database = f"bench_{secrets.token_hex(4)}"
    try:
        settings = Settings(
            service="deals",
            mongodb_uri=stack.mongodb_uri,
            database=database,
            nats_url=stack.nats_url,
            database_profile=profile,
        )
        moved: set[str] = set()

        async def on_moved(message: Any) -> None:
            data = orjson.loads(message.data)["data"]
            if data.get("toStage") == "qualification":
                moved.add(data["dealId"])

        await nc.subscribe(contract.DEAL_STAGE_CHANGED, cb=on_moved)

        async def settled() -> bool:
            return time.monotonic() - commands.last_write > SETTLE_SECONDS

        async with (
            reference_standins(nc, set(), deals=False),
            running_app(create_app(settings)) as http,
        ):
            client = GraphQLClient(http, gateway_auth("deals", WORKSPACE, "bench", "admin"))
            base = {"amount": "1250.50", "currency": "USD", "companyId": "co1"}
            # A running service has its read index loaded (`run.py` measures it so); the
            # deals created since are held whole in it, as their writes installed them.
            await client.data("{ deals(first: 1) { totalCount } }")
            ids = []
            for n in range(count + 1):
                made = await client.data(CREATE, {"input": {**base, "title": f"Deal {n}"}})
                ids.append(made["createDeal"]["id"])
            warmup, mine = ids[0], ids[1:]
            await client.data(MOVE, {"id": warmup, "s": "qualification"})
            await eventually(lambda: _all(moved, [warmup]), timeout=60, what="warm-up")
            await eventually(settled, timeout=60, what="writes settled")

            commands.counts.clear()
            commands.written = 0
            commands.commits = 0
            # CPU time, not wall time: on a loaded machine a socket send waits for the core.
            profiler = cProfile.Profile(time.process_time) if cprofile else None
            if profiler is not None:
                profiler.enable()
            cpu = (cpu_seconds(here), cpu_seconds(ferretdb))
            started = time.perf_counter()

            async def move(deal_id: str) -> None:
                await client.data(MOVE, {"id": deal_id, "s": "qualification"})

            await gather_limited(concurrency, mine, move)
            service_seconds = time.perf_counter() - started
            await eventually(lambda: _all(moved, mine), timeout=300, what="moves announced")
            await eventually(settled, timeout=60, what="writes settled")
            cpu_service = (cpu_seconds(here) - cpu[0], cpu_seconds(ferretdb) - cpu[1])
            if profiler is not None and cprofile:
                profiler.disable()
                profiler.dump_stats(cprofile)
            counted = Counter(commands.counts)
            written_bytes = commands.written
            commits = commands.commits

        # The raw driver's move on deals of the same database, as `run.py` does it.
        raw_ids = ids[1:]
        async with AsyncMongoClient(stack.mongodb_uri, tz_aware=True) as raw_client:
            deals = raw_client[database]["deals"]

            async def raw_move(deal_id: str) -> None:
                doc = await deals.find_one({"_id": deal_id})
                await deals.update_one(
                    {"_id": deal_id},
                    {
                        "$set": {"stage_key": "engaging", "rev": doc["rev"] + 1},
                        "$push": {
                            "stage_history": {"from_stage": "qualification", "to_stage": "engaging"}
                        },
                    },
                )

            cpu = (cpu_seconds(here), cpu_seconds(ferretdb))
            started = time.perf_counter()
            await gather_limited(concurrency, raw_ids, raw_move)
            raw_seconds = time.perf_counter() - started
            cpu_raw = (cpu_seconds(here) - cpu[0], cpu_seconds(ferretdb) - cpu[1])
    finally:
        await nc.close()
        stack.stop()
    per_move, writes, reads = per_operation(counted, count)
    return {
        "moves": count,
        "concurrency": concurrency,
        "profile": profile,
        "writes_per_move": round(writes, 2),
        "reads_per_move": round(reads, 2),
        "write_bytes_per_move": round(written_bytes / count),
        "commits_per_move": round(commits / count, 2),
        "cpu_ms_per_move": {
            "service": round(cpu_service[0] * 1000 / count, 2),
            "ferretdb": round(cpu_service[1] * 1000 / count, 2),
        },
        "raw_cpu_ms_per_move": {
            "driver": round(cpu_raw[0] * 1000 / count, 2),
            "ferretdb": round(cpu_raw[1] * 1000 / count, 2),
        },
        "moves_per_s": round(count / service_seconds, 1),
        "raw_moves_per_s": round(count / raw_seconds, 1),
        "per_move": per_move,
        "load_average": [round(n, 2) for n in os.getloadavg()],
    }


async def _all(seen: set[str], ids: list[str]) -> bool:
    return all(deal_id in seen for deal_id in ids)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--deals", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--profile", default="auto", choices=("auto", "mongodb", "ferretdb"))
    parser.add_argument(
        "--cprofile",
        metavar="PATH",
        help="write a cProfile (CPU time) of this process, the service and its client, over "
        "the moves to PATH (its overhead inflates the CPU figures printed by that run)",
    )
    args = parser.parse_args(argv)
    if not 0 < args.deals <= 1000 or not 0 < args.concurrency <= 64:
        parser.error("bounded: 0 < deals <= 1000, 0 < concurrency <= 64")
    result = asyncio.run(measure(args.deals, args.concurrency, args.profile, args.cprofile))
    print(f"moveDeal statements ({result['moves']} moves, {args.profile}):")
    for key, value in result["per_move"].items():
        print(f"  {key:40} {value:>6}")
    print(f"writes per move: {result['writes_per_move']} (raw driver: 1)")
    print(f"reads per move:  {result['reads_per_move']} (raw driver: 1)")
    print(f"SQLite transactions (commits) per move: {result['commits_per_move']} (raw driver: 1)")
    print(f"bytes of write commands per move: {result['write_bytes_per_move']:,}")
    cpu, raw = result["cpu_ms_per_move"], result["raw_cpu_ms_per_move"]
    print(
        f"CPU ms per move: service process {cpu['service']}, FerretDB {cpu['ferretdb']} "
        f"(raw: driver {raw['driver']}, FerretDB {raw['ferretdb']}; "
        f"FerretDB ratio raw/service {raw['ferretdb'] / max(cpu['ferretdb'], 1e-6):.2f}x)"
    )
    ratio = result["moves_per_s"] / max(result["raw_moves_per_s"], 1e-6)
    print(
        f"moves/s: service {result['moves_per_s']}, raw {result['raw_moves_per_s']} "
        f"({ratio:.2f}x; load average {' '.join(map(str, result['load_average']))})"
    )
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
