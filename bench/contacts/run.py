"""Benchmark: the contacts subgraph over real HTTP against raw MongoDB calls.

createContact and contact(id) through `python -m crm_contacts` (uvicorn on 127.0.0.1, a free
port) versus raw `insert_one` / `find_one` of a comparable document on the same FerretDB,
in the same run; createContact also with an `Idempotency-Key` (a fresh one each: the key's
record and stored result cost), and the repeats of those keyed requests (answered from the
stored result). Prints requests per second, p50/p99 latency and the ratios service/raw and
keyed/plain.
Starts its own FerretDB + NATS (temporary directory, free ports) and stops everything at
the end. Bounded: `--requests` per phase and `--time-limit` seconds per phase.

    .venv/bin/python bench/contacts/run.py [--requests 500] [--concurrency 8] [--time-limit 60]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
for sub in ("libs", "services/contacts"):
    sys.path.insert(0, str(ROOT / sub))
os.environ.setdefault("JWT_SECRET", "bench-secret-" + "x" * 40)

import httpx  # noqa: E402
from bson import ObjectId  # noqa: E402
from pymongo import AsyncMongoClient  # noqa: E402

from crm_kit.devstack import InfraStack, free_port, wait_for_port  # noqa: E402
from crm_kit.testing import gateway_auth  # noqa: E402

CREATE = """mutation($i: CreateContactInput!) { createContact(input: $i) { id email } }"""
GET = """query($id: ID!) { contact(id: $id) { id email firstName lastName } }"""


@dataclass
class Result:
    name: str
    latencies: list[float]
    seconds: float

    @property
    def rps(self) -> float:
        return len(self.latencies) / self.seconds if self.seconds else 0.0

    def pct(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000 if ordered else 0.0

    def row(self) -> str:
        return (
            f"{self.name:<28} {len(self.latencies):>6} {self.rps:>9.1f} "
            f"{self.pct(0.50):>9.2f} {self.pct(0.99):>9.2f}"
        )


async def run_phase(
    name: str,
    calls: int,
    concurrency: int,
    time_limit: float,
    call: Callable[[int], Awaitable[None]],
) -> Result:
    latencies: list[float] = []
    counter = iter(range(calls))
    deadline = time.monotonic() + time_limit

    async def worker() -> None:
        for n in counter:
            if time.monotonic() > deadline:
                return
            start = time.perf_counter()
            await call(n)
            latencies.append(time.perf_counter() - start)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return Result(name, latencies, time.perf_counter() - started)


def start_service(stack: InfraStack, port: int, database: str, log: Path) -> subprocess.Popen:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(str(ROOT / p) for p in ("libs", "services/contacts")),
        "CONTACTS_HOST": "127.0.0.1",
        "CONTACTS_PORT": str(port),
        "CONTACTS_DB": database,
        "MONGODB_URI": stack.mongodb_uri,
        "NATS_URL": stack.nats_url,
        "LOG_LEVEL": "WARNING",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "crm_contacts"],
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


async def wait_ready(base: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(base_url=base) as http:
        while time.monotonic() < deadline:
            try:
                if (await http.get("/ready")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.1)
    raise TimeoutError("contacts service not ready")


async def wait_outbox_drained(uri: str, database: str, timeout: float) -> None:
    """Let the service's relay publish the create phase's events before the read phase, so
    reads are not measured against a publishing backlog."""
    client: AsyncMongoClient = AsyncMongoClient(uri)
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if await client[database]["contacts"].find_one({"_outbox_pending": True}) is None:
                return
            await asyncio.sleep(0.2)
    finally:
        await client.close()


def contact_doc(n: int, tag: str) -> dict:
    """A document of the size and shape the service stores for a contact."""
    now = time.time()
    return {
        "_id": str(ObjectId()),
        "workspace_id": "bench",
        "first_name": "Bench",
        "last_name": f"Person{n}",
        "email": f"{tag}{n}@bench.example",
        "emails": [f"{tag}{n}@bench.example"],
        "email_key": f"{tag}{n}@bench.example",
        "phones": [],
        "lifecycle_stage": "lead",
        "tags": [],
        "search_text": f"bench person{n} {tag}{n}@bench.example",
        "created_at": now,
        "updated_at": now,
        "version": 1,
    }


async def bench(args: argparse.Namespace, stack: InfraStack, log: Path) -> list[Result]:
    port = free_port()
    database = "bench_contacts"
    service = start_service(stack, port, database, log)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for_port(port, 30, service)
        await wait_ready(base)
        # Signed as the gateway signs (the service accepts nothing else).
        auth = gateway_auth("contacts", "bench", "bench", "admin")
        limits = httpx.Limits(max_connections=args.concurrency)
        results = []
        async with httpx.AsyncClient(base_url=base, auth=auth, limits=limits) as http:
            ids: list[str] = []

            async def create(n: int, tag: str = "svc") -> None:
                person = {"firstName": "Bench", "lastName": f"Person{n}"}
                variables = {"i": {**person, "email": f"{tag}{n}@bench.example"}}
                # Keyed runs: one key per contact, the same key for its repeat.
                headers = {"idempotency-key": f"bench-{n}"} if tag == "key" else {}
                response = await http.post(
                    "/graphql", json={"query": CREATE, "variables": variables}, headers=headers
                )
                body = response.json()
                if body.get("errors"):
                    raise RuntimeError(body["errors"])
                if tag == "svc":
                    ids.append(body["data"]["createContact"]["id"])

            async def create_keyed(n: int) -> None:
                await create(n, "key")

            async def get(n: int) -> None:
                variables = {"id": ids[n % len(ids)]}
                response = await http.post("/graphql", json={"query": GET, "variables": variables})
                body = response.json()
                if body.get("errors") or body["data"]["contact"] is None:
                    raise RuntimeError(body)

            await create(-1)  # warm up
            results.append(await run_phase("service createContact", args.requests,
                                           args.concurrency, args.time_limit, create))  # fmt: skip
            await wait_outbox_drained(stack.mongodb_uri, database, args.time_limit)
            results.append(await run_phase("service contact(id)", args.requests,
                                           args.concurrency, args.time_limit, get))  # fmt: skip
            await create_keyed(-1)
            phase = (args.requests, args.concurrency, args.time_limit, create_keyed)
            results.append(await run_phase("service createContact keyed", *phase))
            await wait_outbox_drained(stack.mongodb_uri, database, args.time_limit)
            results.append(await run_phase("service keyed repeat", *phase))

        client: AsyncMongoClient = AsyncMongoClient(stack.mongodb_uri, tz_aware=True)
        try:
            raw = client[database]["raw_contacts"]
            raw_ids: list[str] = []

            async def insert(n: int) -> None:
                doc = contact_doc(n, "raw")
                await raw.insert_one(doc)
                raw_ids.append(doc["_id"])

            async def find(n: int) -> None:
                if await raw.find_one({"_id": raw_ids[n % len(raw_ids)]}) is None:
                    raise RuntimeError("missing")

            await insert(-1)
            results.append(await run_phase("raw insert_one", args.requests, args.concurrency,
                                           args.time_limit, insert))  # fmt: skip
            results.append(await run_phase("raw find_one", args.requests, args.concurrency,
                                           args.time_limit, find))  # fmt: skip
        finally:
            await client.close()
        return results
    finally:
        service.terminate()
        try:
            service.wait(10)
        except subprocess.TimeoutExpired:
            service.kill()
            service.wait()


def report(results: list[Result], args: argparse.Namespace) -> None:
    version = os.environ.get("FERRETDB_VERSION", "v1.24.2") + (
        " upstream" if os.environ.get("FERRETDB_UPSTREAM") == "1" else " (_id index fix)"
    )
    print(
        f"contacts benchmark: {args.requests} requests per phase, concurrency "
        f"{args.concurrency}, FerretDB {version} (SQLite backend), {os.cpu_count()} CPUs"
    )
    print(f"{'operation':<28} {'n':>6} {'req/s':>9} {'p50 ms':>9} {'p99 ms':>9}")
    for result in results:
        print(result.row())
    by_name = {r.name: r for r in results}
    for service_name, raw_name in [("service createContact", "raw insert_one"),
                                   ("service contact(id)", "raw find_one"),
                                   ("service createContact keyed", "service createContact"),
                                   ("service keyed repeat", "service createContact")]:  # fmt: skip
        svc, raw = by_name[service_name], by_name[raw_name]
        print(
            f"ratio {service_name} / {raw_name}: throughput "
            f"{svc.rps / raw.rps if raw.rps else 0:.2f}x, p50 latency "
            f"{svc.pct(0.5) / raw.pct(0.5) if raw.pct(0.5) else 0:.1f}x, p99 latency "
            f"{svc.pct(0.99) / raw.pct(0.99) if raw.pct(0.99) else 0:.1f}x"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=500, help="calls per phase (max 20000)")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--time-limit", type=float, default=60.0, help="seconds per phase")
    args = parser.parse_args()
    args.requests = max(1, min(args.requests, 20000))
    args.concurrency = max(1, min(args.concurrency, 64))
    with tempfile.TemporaryDirectory(prefix="crm-bench-") as tmp:
        os.environ["CRM_DATA_DIR"] = tmp  # credentials of this run only
        stack = InfraStack(Path(tmp), free_port(), free_port()).start()
        try:
            results = asyncio.run(bench(args, stack, Path(tmp) / "contacts.log"))
        finally:
            stack.stop()
    report(results, args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
