"""Benchmark: import batches written by their owner, beside raw `insert_many`.

Starts its own FerretDB (embedded SQLite) and NATS in a temporary directory, runs the
contacts service in this process (its lifespan: the write path, the outbox relay, the
request/reply endpoints) and drives `rpc.contacts.import_companies.write` over NATS with
generated company rows in batches of 1,000 (what the import service sends), for each
size asked (default 10,000 and 100,000), each in a workspace of its own. Beside it, the
same number of comparable documents written with raw `insert_many` (1,000 a statement)
into a collection of their own on the same database: the floor of what a write can cost.

Prints rows/s of each, their ratio, the time until the relay has published every
`company.created` event, and the process's peak resident memory (ru_maxrss, the service
included). Bounded: at most 200,000 rows a size; everything stops at the end.

    .venv/bin/python bench/import/sinks.py [--sizes 10000,100000] [--domains]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
for sub in ("libs", "services/contacts"):
    sys.path.insert(0, str(ROOT / sub))
os.environ.setdefault("JWT_SECRET", "bench-secret-" + "x" * 40)

from pymongo import AsyncMongoClient  # noqa: E402

from crm_contracts.import_batches import MAX_BATCH_ROWS, write_subject  # noqa: E402
from crm_kit.devstack import InfraStack, free_port  # noqa: E402

BATCH = MAX_BATCH_ROWS
VERBOSE = bool(os.environ.get("BENCH_VERBOSE"))


def company_row(n: int, domains: bool) -> dict[str, Any]:
    values: dict[str, Any] = {
        "name": f"Company {n:07d}",
        "external_id": f"C{n:07d}",
        "industry": ("software", "retail", "energy")[n % 3],
        "size": 10 + n % 5000,
        "address.country": ("Norway", "France", "Kenya", "Chile")[n % 4],
        "tags": ["imported"],
    }
    if domains:
        values["domain"] = f"company-{n:07d}.example"
    return values


async def raw_rate(uri: str, database: str, rows: int, domains: bool) -> float:
    """Comparable documents straight into a companies collection with the service's
    indexes (its own database: the same server, the same index costs)."""
    from crm_contacts.store.mongo import ensure_indexes

    client: AsyncMongoClient[Any] = AsyncMongoClient(uri, tz_aware=True)
    try:
        db = client[database]
        await ensure_indexes(db)
        collection = db["companies"]
        workspace = f"raw{rows}"
        started = time.monotonic()
        for start in range(0, rows, BATCH):
            docs = []
            for n in range(start, min(rows, start + BATCH)):
                values = company_row(n, domains)
                doc_id = f"{rows:08d}{n:016d}"
                docs.append(
                    {
                        "_id": doc_id,
                        "workspace_id": workspace,
                        **{k: v for k, v in values.items() if "." not in k},
                        "address": {"country": values["address.country"]},
                        "name_key": values["name"].lower(),
                        "domain_key": values.get("domain") or f"none:{doc_id}",
                        "created_at": datetime.now(UTC),
                        "updated_at": datetime.now(UTC),
                    }
                )
            await collection.insert_many(docs, ordered=False)
        return rows / (time.monotonic() - started)
    finally:
        await client.close()


async def sink_rate(
    app: Any, nc: Any, workspace: str, rows: int, domains: bool
) -> tuple[float, float]:
    from crm_kit.assertions import KeyRing
    from crm_kit.rpc import rpc_call, service_context

    keys = KeyRing.from_env("cli")
    caller = service_context("cli", workspace, "admin")
    started = time.monotonic()
    created = 0
    for start in range(0, rows, BATCH):
        body = {
            "jobId": f"bench-{rows}",
            "rows": [
                {"row": n + 2, "values": company_row(n, domains)}
                for n in range(start, min(rows, start + BATCH))
            ],
        }
        sent = time.monotonic()
        reply = await rpc_call(nc, write_subject("companies"), caller, body, keys=keys, timeout=120)
        created += sum(1 for r in reply["results"] if r["outcome"] == "created")
        if VERBOSE:
            print(f"  batch at {start}: {time.monotonic() - sent:.2f} s", flush=True)
    written = time.monotonic() - started
    if created != rows:
        raise SystemExit(f"{workspace}: {created} of {rows} rows created")
    return rows / written, written


async def published_after(app: Any, db: Any, deadline: float) -> float:
    """Seconds until no company document holds an unpublished event."""
    started = time.monotonic()
    while time.monotonic() - started < deadline:
        if await db["companies"].count_documents({"_outbox_pending": True}) == 0:
            return time.monotonic() - started
        await asyncio.sleep(0.5)
    return float("nan")


async def bench(infra: InfraStack, sizes: list[int], domains: bool) -> list[tuple[Any, ...]]:
    from crm_contacts.app import create_app
    from crm_kit.settings import Settings
    from crm_kit.testing import running_app

    settings = Settings(
        service="contacts",
        mongodb_uri=infra.mongodb_uri,
        database="bench_import",
        nats_url=infra.nats_url,
    )
    app = create_app(settings)
    figures = []
    async with running_app(app):
        nc = await infra.connect_nats("cli")
        client: AsyncMongoClient[Any] = AsyncMongoClient(infra.mongodb_uri, tz_aware=True)
        try:
            for rows in sizes:
                raw = await raw_rate(infra.mongodb_uri, "bench_raw", rows, domains)
                rate, seconds = await sink_rate(app, nc, f"ws{rows}", rows, domains)
                drained = await published_after(app, client["bench_import"], 300)
                peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
                figures.append((rows, rate, seconds, raw, drained, peak))
                print(
                    f"{rows:>7} rows: sink {rate:8.0f} rows/s ({seconds:5.1f} s), raw "
                    f"insert_many {raw:8.0f} rows/s, ratio {rate / raw:4.2f}; events "
                    f"published {drained:5.1f} s later; peak RSS {peak:5.0f} MB",
                    flush=True,
                )
        finally:
            await nc.close()
            await client.close()
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument(
        "--domains", action="store_true", help="give every company a domain (identity key)"
    )
    args = parser.parse_args()
    sizes = [max(1, min(int(s), 200_000)) for s in args.sizes.split(",")]
    with tempfile.TemporaryDirectory(prefix="crm-bench-") as tmp:
        os.environ["CRM_DATA_DIR"] = tmp  # credentials of this run only
        infra = InfraStack(Path(tmp), free_port(), free_port()).start()
        try:
            asyncio.run(bench(infra, sizes, args.domains))
        finally:
            infra.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
