"""The database driver's CPU per statement (issue 14): the platform's hot statements
through PyMongo's async client as `crm_kit.mongo.MongoResource` makes it, beside the same
client with options that could cut its per-operation work (a direct connection, no
retryable reads or writes), and the floor: `ping` written as one OP_MSG on a plain
asyncio connection (encode, one send, one receive, decode), the least any client pays for
a round trip from Python.

Starts its own FerretDB (127.0.0.1, a temporary directory). CPU time of this process,
`--rounds` rounds of `--count` statements of each kind, one at a time, on uvloop as the
services run (uvicorn's automatic loop) or `--loop asyncio`; printed as ms per statement
and as a ratio to the floor measured in the same round, with the kit's client measured
again last as a control (what the order alone moves) and an experiment (`OneAwaitIO`: what
PyMongo's task-based send and receive cost). `--profile` instead profiles
(cProfile, CPU clock) one round through the kit's client and prints where it goes.

    .venv/bin/python bench/driver/run.py [--count 500] [--rounds 3] [--loop uvloop|asyncio]
    .venv/bin/python bench/driver/run.py --profile [--count 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import pstats
import shutil
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

import uvloop  # noqa: E402
from pymongo import AsyncMongoClient, ReturnDocument, UpdateOne, network_layer  # noqa: E402
from pymongo.asynchronous import pool  # noqa: E402
from pymongo.asynchronous.database import AsyncDatabase  # noqa: E402
from raw_connection import RawConnection  # noqa: E402

from crm_kit import mongo  # noqa: E402
from crm_kit.devstack import free_port, start_ferretdb  # noqa: E402

DATABASE = "driver_bench"
Statement = Callable[[int], Awaitable[Any]]

# Client options tried against the kit's client (each on top of what MongoResource sets).
VARIANTS: dict[str, dict[str, Any]] = {
    "directConnection": {"directConnection": True},
    "no retryable reads/writes": {"retryReads": False, "retryWrites": False},
}

# Where a statement's CPU goes, by the driver function that encloses it (cumulative).
PARTS = {
    "server selection": "mongo_client.py:_select_server",
    "implicit session": "mongo_client.py:_tmp_session",
    "connection check-out": "pool.py:_get_conn",
    "connection check-in": "pool.py:checkin",
    "send (wait_for + write)": "network_layer.py:async_sendall",
    "receive (2 tasks + wait)": "network_layer.py:async_receive_message",
    "OP_MSG encode": "pymongo._cmessage._op_msg>",
    "BSON decode": "bson._cbson._decode_all>",
    "the statement's own task": "run.py:cpu_ms_each",
}


class OneAwaitIO:
    """An experiment, not the kit: PyMongo 4.20's async receive runs the read and a
    cancellation poller as two tasks under `asyncio.wait`, and its send goes through
    `asyncio.wait_for`. Inside this block (this process only) both await the transport
    directly, to measure what that costs per statement. It drops what the poller is for
    (interrupting in-flight operations when the monitor resets a server) and socket
    timeouts, so it is nothing the services could run as is."""

    def __enter__(self) -> None:
        self._saved = (pool.async_receive_message, pool.async_sendall)

        async def receive(conn: Any, request_id: int | None, max_size: int = 0) -> Any:
            data, op_code = await conn.conn.get_conn.read(
                request_id, max_size or network_layer.MAX_MESSAGE_SIZE
            )
            return network_layer._UNPACK_REPLY[op_code](data)

        async def send(conn: Any, message: bytes) -> None:
            await conn.write(message)

        pool.async_receive_message, pool.async_sendall = receive, send  # type: ignore[assignment]

    def __exit__(self, *_: object) -> None:
        pool.async_receive_message, pool.async_sendall = self._saved  # type: ignore[assignment]


def statements(db: AsyncDatabase[Any], count: int) -> dict[str, Statement]:
    """The services' hot statements: `_id` reads, `$in` reads, and the writer's writes."""
    deals = db["deals"]
    fresh = db[f"fresh_{time.monotonic_ns()}"]
    ids = [f"d{n}" for n in range(count)]

    async def find_in(n: int) -> Any:
        return await deals.find(
            {"_id": {"$in": [ids[(n + k) % count] for k in range(5)]}}
        ).to_list()

    return {
        "find_one {_id}": lambda n: deals.find_one({"_id": ids[n]}),
        "find {_id: {$in: 5 ids}}": find_in,
        "find_one_and_update": lambda n: deals.find_one_and_update(
            {"_id": ids[n]}, {"$set": {"stage": f"s{n % 7}"}}, return_document=ReturnDocument.AFTER
        ),
        "update_one": lambda n: deals.update_one({"_id": ids[n]}, {"$set": {"amount": n}}),
        "insert_one": lambda n: fresh.insert_one({"_id": f"n{n}", "title": f"New {n}"}),
        "bulk_write 2 updates": lambda n: deals.bulk_write(
            [
                UpdateOne({"_id": ids[n]}, {"$set": {"probability": n % 100}}),
                UpdateOne({"_id": ids[(n + 1) % count]}, {"$inc": {"touches": 1}}),
            ],
            ordered=False,
        ),
    }


async def cpu_ms_each(count: int, call: Statement) -> float:
    started = time.process_time()
    for n in range(count):
        await call(n)
    return (time.process_time() - started) * 1000 / count


def variant_client(uri: str, options: dict[str, Any]) -> AsyncMongoClient[Any]:
    """A client as MongoResource makes it, with `options` on top."""
    wait = mongo.timeout_ms()
    return AsyncMongoClient(
        uri, tz_aware=True, serverSelectionTimeoutMS=wait, connectTimeoutMS=2 * wait, **options
    )


async def profile(db: AsyncDatabase[Any], count: int) -> None:
    profiler = cProfile.Profile(time.process_time)
    calls = statements(db, count)
    profiler.enable()
    for call in calls.values():
        await cpu_ms_each(count, call)
    profiler.disable()
    stats = pstats.Stats(profiler)
    total = sum(row[2] for row in stats.stats.values())  # type: ignore[attr-defined]
    done = len(calls) * count
    print(f"cProfile (CPU clock, inflated by the profiler) of {done} statements:")
    print(f"  all: {total * 1000 / done:.3f} ms per statement")
    for part, where in PARTS.items():
        cumulative = sum(
            row[3]
            for (file, _line, name), row in stats.stats.items()  # type: ignore[attr-defined]
            if f"{Path(file).name}:{name}" == where or name.endswith(where)
        )
        print(f"  {part:26} {cumulative * 1000 / done:.3f} ms  {cumulative / total:5.1%}")


async def measure(uri: str, count: int, rounds: int, profiling: bool) -> list[dict[str, float]]:
    resource = mongo.MongoResource(uri, DATABASE)
    await resource.start()
    variants = {name: variant_client(uri, options) for name, options in VARIANTS.items()}
    try:
        await resource.db["deals"].insert_many(
            [{"_id": f"d{n}", "title": f"Deal {n}", "notes": "x" * 500} for n in range(count)]
        )
        if profiling:
            await profile(resource.db, count)
            return []
        where = urlsplit(uri)
        raw = RawConnection(*await asyncio.open_connection(where.hostname, where.port))
        assert (await raw.command({"ping": 1, "$db": "admin"})).get("ok") == 1.0
        dbs = {"kit": resource.db, **{name: c[DATABASE] for name, c in variants.items()}}
        results = []
        try:
            for _ in range(rounds):
                figures = {
                    "raw OP_MSG ping (floor)": await cpu_ms_each(
                        count, lambda n: raw.command({"ping": 1, "$db": "admin"})
                    )
                }
                for label, db in dbs.items():
                    each = {
                        name: await cpu_ms_each(count, call)
                        for name, call in statements(db, count).items()
                    }
                    if label == "kit":
                        figures.update({f"kit: {name}": ms for name, ms in each.items()})
                    figures[f"{label}: mean of the six"] = sum(each.values()) / len(each)
                with OneAwaitIO():
                    each = {
                        name: await cpu_ms_each(count, call)
                        for name, call in statements(resource.db, count).items()
                    }
                figures["experiment, one-await I/O: mean"] = sum(each.values()) / len(each)
                # The kit's client once more, last: what the order alone moves the figures.
                each = {
                    name: await cpu_ms_each(count, call)
                    for name, call in statements(resource.db, count).items()
                }
                figures["kit again (control): mean"] = sum(each.values()) / len(each)
                results.append(figures)
        finally:
            await raw.close()
        return results
    finally:
        for client in variants.values():
            await client.close()
        await resource.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--count", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--loop", choices=("uvloop", "asyncio"), default="uvloop")
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    if not 0 < args.count <= 10_000 or not 0 < args.rounds <= 10:
        parser.error("bounded: 0 < count <= 10000, 0 < rounds <= 10")
    tmp = Path(tempfile.mkdtemp(prefix="crm-bench-driver-"))
    server = start_ferretdb(tmp / "ferretdb", free_port())
    try:
        work = measure(server.url, args.count, args.rounds, args.profile)
        results = uvloop.run(work) if args.loop == "uvloop" else asyncio.run(work)
    finally:
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    if results:
        print(f"client CPU ms per statement (x the floor), {args.count} of each, {args.loop}:")
        for name in results[0]:
            figures = " / ".join(
                f"{r[name]:.3f} ({r[name] / r['raw OP_MSG ping (floor)']:.1f}x)" for r in results
            )
            print(f"  {name:38} {figures}")
    print(f"load average: {' '.join(f'{n:.2f}' for n in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
