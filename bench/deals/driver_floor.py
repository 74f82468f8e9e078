"""The driver's own CPU per database statement (issue 14: a move's service process spends
most of its CPU around its ~3.4 statements, and the raw driver's client pays the same per
statement): pymongo's `find_one` by `_id`, the same `find` as `command(...)`, and
`command("ping")`, against the same `ping`
written as one OP_MSG on a plain asyncio connection (encode, one send, one receive,
decode: the floor any client pays for a round trip from Python).

`ping` needs no authentication, so the raw connection sends exactly what pymongo sends and
gets the same reply; the difference is pymongo's per-operation machinery (server
selection, the implicit session, retry and timeout wrappers, the connection check-out,
command monitoring). Starts its own FerretDB (127.0.0.1, a temporary directory); CPU time
of this process, `--rounds` rounds of `--count` statements each, one at a time.

    .venv/bin/python bench/deals/driver_floor.py [--count 1000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "libs"))
sys.path.insert(0, str(ROOT / "bench" / "driver"))

from pymongo import AsyncMongoClient  # noqa: E402
from raw_connection import RawConnection  # noqa: E402

from crm_kit.devstack import InfraStack, free_port  # noqa: E402


async def cpu_ms_each(count: int, call: Callable[[int], Awaitable[Any]]) -> float:
    started = time.process_time()
    for n in range(count):
        await call(n)
    return (time.process_time() - started) * 1000 / count


async def measure(count: int, rounds: int) -> list[dict[str, float]]:
    tmp = Path(tempfile.mkdtemp(prefix="crm-bench-driver-floor-"))
    os.environ["CRM_DATA_DIR"] = str(tmp)
    stack = InfraStack(tmp, free_port(), free_port()).start()
    try:
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(stack.mongodb_uri)
        async with client:
            db = client["driver_floor"]
            await db["deals"].insert_many(
                [{"_id": f"d{n}", "title": f"Deal {n}", "notes": "x" * 2000} for n in range(count)]
            )
            where = urlsplit(stack.mongodb_uri)
            raw = RawConnection(*await asyncio.open_connection(where.hostname, where.port))
            assert (await raw.command({"ping": 1, "$db": "admin"})).get("ok") == 1.0
            results = []
            try:
                for _ in range(rounds):
                    results.append(
                        {
                            "pymongo find_one by _id": await cpu_ms_each(
                                count, lambda n: db["deals"].find_one({"_id": f"d{n}"})
                            ),
                            "pymongo command find by _id": await cpu_ms_each(
                                count,
                                lambda n: db.command(
                                    "find",
                                    "deals",
                                    filter={"_id": f"d{n}"},
                                    limit=1,
                                    singleBatch=True,
                                ),
                            ),
                            "pymongo command ping": await cpu_ms_each(
                                count, lambda n: db.command("ping")
                            ),
                            "raw OP_MSG ping": await cpu_ms_each(
                                count, lambda n: raw.command({"ping": 1, "$db": "driver_floor"})
                            ),
                        }
                    )
            finally:
                await raw.close()
            return results
    finally:
        stack.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if not 0 < args.count <= 10_000 or not 0 < args.rounds <= 10:
        parser.error("bounded: 0 < count <= 10000, 0 < rounds <= 10")
    results = asyncio.run(measure(args.count, args.rounds))
    print(f"client CPU ms per statement, {args.count} one at a time, {args.rounds} rounds:")
    for name in results[0]:
        figures = " / ".join(f"{r[name]:.3f}" for r in results)
        print(f"  {name:28} {figures}")
    print(f"load average: {' '.join(f'{n:.2f}' for n in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
