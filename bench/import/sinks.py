"""Benchmark: import batches written by their owner, beside raw `insert_many`.

Starts its own FerretDB (embedded SQLite) and NATS in a temporary directory, runs the
contacts service in this process (its lifespan: the write path, the outbox relay, the
request/reply endpoints) and drives each record type's import write endpoint over NATS with
generated rows in batches of 1,000 (what the import service sends), for each
size asked (default 10,000 and 100,000), each in a workspace of its own. Beside it, the
same number of comparable documents written with raw `insert_many` (1,000 a statement)
into a collection of their own on the same database: the floor of what a write can cost.

Prints rows/s of each, their ratio, the time until the relay has published every
`company.created` event, and the process's peak resident memory (ru_maxrss, the service
included). Bounded: at most 200,000 rows a size; everything stops at the end.

    .venv/bin/python bench/import/sinks.py [--sizes 10000,100000] [--domains] [--statements]
        [--records companies,deals,contacts,interactions]

`--records interactions` imports the contacts first (not measured), then one entry per
contact: each row moves its contact's last activity (`touch_contacts_of_batch`).
`--records tasks`: tasks without links, each already due (the scheduler fires them as
they come; "until published" then includes their overdue notices).

`--statements` adds the database statements of each size's sink phase, per batch: count,
time and mean inserted document size per command and collection (the bench's own polling
for published events included: its scans show as `aggregate`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import resource
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
for sub in ("libs", "services/contacts", "services/deals", "services/tasks"):
    sys.path.insert(0, str(ROOT / sub))
os.environ.setdefault("JWT_SECRET", "bench-secret-" + "x" * 40)

from pymongo import AsyncMongoClient  # noqa: E402

from crm_contracts.import_batches import MAX_BATCH_ROWS, write_subject  # noqa: E402
from crm_kit.devstack import InfraStack, free_port  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import cpu  # noqa: E402
from statements import Statements  # noqa: E402

BATCH = MAX_BATCH_ROWS
VERBOSE = bool(os.environ.get("BENCH_VERBOSE"))


def deal_row(n: int, domains: bool) -> dict[str, Any]:
    stage = ("won", "lost", "qualification", "prospecting")[n % 4]
    values: dict[str, Any] = {
        "external_id": f"D{n:08d}",
        "owner": f"Agent {n % 35}",
        "product": ("GTX Pro", "MG Special", "GTX Plus Basic")[n % 3],
        "stage": stage,
        "engaged_at": f"2023-{n % 12 + 1:02d}-{n % 28 + 1:02d}",
        "amount": f"{1000 + n % 9000}.50",
        "custom.region": ("EMEA", "APAC", "AMER")[n % 3],
    }
    if stage in ("won", "lost"):
        values["close_date"] = f"2024-{n % 12 + 1:02d}-{n % 28 + 1:02d}"
    return values


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


def contact_row(n: int, domains: bool) -> dict[str, Any]:
    return {"first_name": f"Person {n}", "email": f"p{n:07d}@people.example"}


def interaction_row(n: int, domains: bool) -> dict[str, Any]:
    # Every row a contact of its own: the case where each row moves a last activity.
    return {
        "kind": ("email", "call", "meeting")[n % 3],
        "contact_email": f"p{n:07d}@people.example",
        "occurred_at": f"2024-{n % 12 + 1:02d}-{n % 28 + 1:02d}T10:00:00Z",
        "summary": f"Imported entry {n}",
        "external_id": f"I{n:08d}",
    }


def task_row(n: int, domains: bool) -> dict[str, Any]:
    # Due in the past: each fires (overdue) as soon as it is imported.
    return {
        "title": f"Follow up {n}",
        "type": ("call", "email", "meeting")[n % 3],
        "due_at": f"2024-{n % 12 + 1:02d}-{n % 28 + 1:02d}T10:00:00Z",
        "external_id": f"T{n:08d}",
    }


ROW_OF = {
    "tasks": task_row,
    "companies": company_row,
    "deals": deal_row,
    "contacts": contact_row,
    "interactions": interaction_row,
}
# What must exist before a record type's rows are measured (not measured itself).
NEEDS = {"interactions": "contacts"}
# The service owning each record type.
OWNER = {
    "companies": "contacts",
    "contacts": "contacts",
    "interactions": "contacts",
    "tasks": "tasks",
}


async def raw_rate(uri: str, database: str, kind: str, rows: int, domains: bool) -> float:
    """Comparable documents straight into the owner's collection with its indexes (a
    database of its own: the same server, the same index costs)."""
    client: AsyncMongoClient[Any] = AsyncMongoClient(uri, tz_aware=True)
    try:
        db = client[database]
        if OWNER.get(kind) == "contacts":
            from crm_contacts.store.mongo import ensure_indexes as contacts_indexes

            await contacts_indexes(db)
        elif kind == "tasks":
            from crm_tasks.store.mongo import ensure_indexes as tasks_indexes

            await tasks_indexes(db)
        else:
            from crm_deals.store.mongo import ensure_indexes as deals_indexes

            await deals_indexes(db)
        collection = db[kind]
        workspace = f"raw{rows}"
        started = time.monotonic()
        for start in range(0, rows, BATCH):
            docs = []
            for n in range(start, min(rows, start + BATCH)):
                values = ROW_OF[kind](n, domains)
                doc_id = f"{rows:08d}{n:016d}"
                docs.append(
                    {
                        "_id": doc_id,
                        "workspace_id": workspace,
                        **{k.replace(".", "_"): v for k, v in values.items()},
                        "name_key": str(values.get("name", "")).lower(),
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
    nc: Any, kind: str, workspace: str, rows: int, domains: bool
) -> tuple[float, float]:
    from crm_kit.assertions import KeyRing
    from crm_kit.rpc import rpc_call, service_context

    keys = KeyRing.from_env("cli")
    caller = service_context("cli", workspace, "admin")
    started = time.monotonic()
    created = 0
    for start in range(0, rows, BATCH):
        body = {
            "jobId": f"bench-{kind}-{rows}",
            "rows": [
                {"row": n + 2, "values": ROW_OF[kind](n, domains)}
                for n in range(start, min(rows, start + BATCH))
            ],
        }
        sent = time.monotonic()
        reply = await rpc_call(nc, write_subject(kind), caller, body, keys=keys, timeout=300)
        created += sum(1 for r in reply["results"] if r["outcome"] == "created")
        if VERBOSE:
            print(f"  batch at {start}: {time.monotonic() - sent:.2f} s", flush=True)
    written = time.monotonic() - started
    if created != rows:
        raise SystemExit(f"{workspace}: {created} of {rows} {kind} rows created")
    return rows / written, written


async def published_after(db: Any, collection: str, deadline: float) -> float:
    """Seconds until no document of the collection's import batches (or the collection)
    holds an unpublished event."""
    started = time.monotonic()
    # The batches first (a small collection), then the records once (a scan of them all
    # every half second would weigh on what is measured).
    for name in ("import_batches", collection):
        while await db[name].count_documents({"_outbox_pending": True}):
            if time.monotonic() - started > deadline:
                return float("nan")
            await asyncio.sleep(0.5)
    return time.monotonic() - started


async def bench(
    infra: InfraStack,
    kinds: list[str],
    sizes: list[int],
    domains: bool,
    statements: Statements | None = None,
) -> list[tuple[Any, ...]]:
    from crm_contacts.app import create_app as contacts_app
    from crm_deals.app import create_app as deals_app
    from crm_kit.serve import tune_gc
    from crm_kit.settings import Settings
    from crm_kit.testing import running_app
    from crm_tasks.app import create_app as tasks_app

    def settings(service: str) -> Settings:
        return Settings(
            service=service,
            mongodb_uri=infra.mongodb_uri,
            database=f"bench_{service}",
            nats_url=infra.nats_url,
        )

    figures = []
    # Only the record type's owner runs: what the import's writes cost. (On the full stack
    # the other services' consumers also handle each `*.created`, e.g. deals keeps a fact
    # per company: their cost comes on top, on the same database server.)
    apps = {
        "contacts": contacts_app(settings("contacts")),
        "deals": deals_app(settings("deals")),
        "tasks": tasks_app(settings("tasks")),
    }
    db_pid = next(s for s in infra.servers if s.name == "ferretdb").process.pid
    for kind in kinds:
        service = OWNER.get(kind, "deals")
        async with running_app(apps[service]):
            tune_gc()  # as a served process collects garbage (`python -m crm_<svc>`)
            nc = await infra.connect_nats("cli")
            client: AsyncMongoClient[Any] = AsyncMongoClient(infra.mongodb_uri, tz_aware=True)
            try:
                owner = f"bench_{service}"
                for rows in sizes:
                    if kind in NEEDS:
                        await sink_rate(nc, NEEDS[kind], f"ws{rows}", rows, domains)
                    with cpu.Meter(db_pid) as raw_cpu:
                        raw = await raw_rate(infra.mongodb_uri, f"raw_{kind}", kind, rows, domains)
                    watched = statements.phase() if statements else contextlib.nullcontext()
                    with cpu.Meter(db_pid) as sink_cpu, watched as seen:
                        rate, seconds = await sink_rate(nc, kind, f"ws{rows}", rows, domains)
                        drained = await published_after(client[owner], kind, 600)
                    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
                    figures.append((kind, rows, rate, seconds, raw, drained, peak))
                    print(
                        f"{kind:>9} {rows:>7} rows: sink {rate:7.0f} rows/s ({seconds:6.1f} s),"
                        f" raw insert_many {raw:7.0f} rows/s, ratio {rate / raw:4.2f}; events"
                        f" all published {drained:5.1f} s after; peak RSS {peak:4.0f} MB\n"
                        f"{'':>17} CPU s per 1,000 rows (until published): sink"
                        f" {sink_cpu.per(rows)}; raw {raw_cpu.per(rows)}",
                        flush=True,
                    )
                    if seen is not None:
                        print(seen.report(-(-rows // BATCH)), flush=True)
            finally:
                await nc.close()
                await client.close()
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument(
        "--records",
        default="companies,deals",
        help="companies, deals, contacts, interactions (each a contact of its own, made"
        " first), tasks (each already due: fired at once)",
    )
    parser.add_argument(
        "--domains", action="store_true", help="give every company a domain (identity key)"
    )
    parser.add_argument(
        "--statements",
        action="store_true",
        help="print the database statements per batch (pymongo command monitoring)",
    )
    args = parser.parse_args()
    sizes = [max(1, min(int(s), 200_000)) for s in args.sizes.split(",")]
    with tempfile.TemporaryDirectory(prefix="crm-bench-") as tmp:
        os.environ["CRM_DATA_DIR"] = tmp  # credentials of this run only
        infra = InfraStack(Path(tmp), free_port(), free_port()).start()
        try:
            kinds = [k for k in args.records.split(",") if k in ROW_OF]
            statements = Statements.install() if args.statements else None
            asyncio.run(bench(infra, kinds, sizes, args.domains, statements))
        finally:
            infra.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
