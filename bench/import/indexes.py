"""What secondary indexes cost on the embedded database: deal-shaped documents inserted
and then updated by `_id` on FerretDB with the indexes the services declare, once with
only the unique ones (what `crm_kit.mongo.apply_indexes` makes on FerretDB) and once
with all of them (what it makes on MongoDB), in the same run. Prints rows/s and FerretDB's
CPU seconds per 1,000 rows for each, and the ratio; and a find by secondary fields, timed
both ways (FerretDB as published reads through no index but `_id`'s; the platform's build
hands equalities to SQLite, which may use an index: `scripts/ferretdb/pushdown.go`).

    .venv/bin/python bench/import/indexes.py [--rows 20000] [--batch 500]
    .venv/bin/python bench/import/indexes.py --outbox [--rows 50000]

`--outbox` weighs the outbox relay's `outbox_pending` index instead (on the platform's
build, where the backstop sweep `{_outbox_pending: true}` is handed to SQLite): the same
writes with the outbox fields as the services write them (pending on insert, cleared by
the relay's update), once with the unique indexes only and once with that index too,
and the sweep's time and FerretDB CPU over the collection in each.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from crm_contacts.store.mongo import ensure_indexes as contacts_indexes
from crm_deals.store.mongo import ensure_indexes as deals_indexes
from crm_kit.devstack import free_port, start_ferretdb
from crm_kit.mongo import SECONDARY_INDEXES_ENV, apply_indexes


def deal(i: int, outbox: bool = False) -> dict[str, Any]:
    """About the size and shape of a stored deal: the indexed fields and ~40 others."""
    doc: dict[str, Any] = {
        "_id": f"d{i:09d}",
        "workspace_id": "w",
        "external_id": f"x{i}",
        "pipeline_id": "p",
        "stage_key": ("prospecting", "qualification", "proposal")[i % 3],
        "amount_minor": i * 100,
        "status": "open",
        "stale_at": None,
        "owner_id": f"o{i % 50}",
        "company_id": f"c{i % 2000}",
        "contact_ids": [f"p{i}"],
        "close_date": None,
        "close_sort": i,
        "updated_at": i,
        "title": f"Deal number {i} for a company",
    }
    doc.update({f"field_{k}": f"value {k} of deal {i}" for k in range(40)})
    if outbox:  # as an insert writes its events (`crm_kit.outbox`)
        doc.update(_outbox=[{"id": f"e{i}", "type": "crm.deals.deal.created.v1"}],
                   _outbox_pending=True, _outbox_at=i)  # fmt: skip
    return doc


async def phase(
    db: AsyncDatabase[Any],
    name: str,
    rows: int,
    batch: int,
    ferretdb: psutil.Process,
    outbox: bool = False,
) -> tuple[float, float, float, float]:
    deals = db["deals"]
    cpu = sum(ferretdb.cpu_times()[:2])
    start = time.perf_counter()
    for first in range(0, rows, batch):
        docs = [deal(i, outbox) for i in range(first, min(rows, first + batch))]
        await deals.insert_many(docs)
        if outbox:  # the relay publishes them and clears the flag
            await deals.update_many(
                {"_id": {"$in": [d["_id"] for d in docs]}},
                {"$set": {"_outbox_pending": False, "_outbox": []}},
            )
    insert_s = time.perf_counter() - start
    insert_cpu = sum(ferretdb.cpu_times()[:2]) - cpu
    updates = min(rows, 2000)
    cpu = sum(ferretdb.cpu_times()[:2])
    start = time.perf_counter()
    for i in range(updates):
        await deals.update_one(
            {"_id": f"d{i:09d}"}, {"$set": {"stage_key": "won", "updated_at": -i}}
        )
        if outbox:  # an update writes its event, the relay clears it
            await deals.update_one({"_id": f"d{i:09d}"}, {"$set": {"_outbox_pending": True}})
            await deals.update_one({"_id": f"d{i:09d}"}, {"$set": {"_outbox_pending": False}})
    update_s = time.perf_counter() - start
    update_cpu = sum(ferretdb.cpu_times()[:2]) - cpu
    start = time.perf_counter()
    await deals.find_one({"workspace_id": "w", "owner_id": "o7", "external_id": f"x{rows - 1}"})
    find_ms = (time.perf_counter() - start) * 1000
    indexes = len(await deals.index_information()) - 1
    if outbox:
        # A document left pending (a crash between the write and the publish), then the
        # backstop sweep as the relay runs it.
        await deals.update_one({"_id": "d000000007"}, {"$set": {"_outbox_pending": True}})
        cpu = sum(ferretdb.cpu_times()[:2])
        start = time.perf_counter()
        found = [doc async for doc in deals.find({"_outbox_pending": True}, {"_id": 1})]
        sweep_ms = (time.perf_counter() - start) * 1000
        sweep_cpu = (sum(ferretdb.cpu_times()[:2]) - cpu) * 1000
        print(f"{name:8s} sweep {sweep_ms:.0f} ms, FerretDB {sweep_cpu:.0f} CPU ms, "
              f"{len(found)} pending of {rows}", flush=True)  # fmt: skip
    print(
        f"{name:8s} {indexes:2d} indexes  insert {rows / insert_s:7.0f} rows/s, "
        f"{insert_cpu / rows * 1000:.3f} CPU s/1k  |  update by _id {updates / update_s:6.0f}/s, "
        f"{update_cpu / updates * 1000:.3f} CPU s/1k  |  find by owner {find_ms:.0f} ms",
        flush=True,
    )
    return rows / insert_s, insert_cpu / rows, updates / update_s, update_cpu / updates


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--outbox", action="store_true", help="weigh the outbox_pending index")
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f}; {args.rows} deal-shaped rows per phase")
    server = start_ferretdb(Path(tempfile.mkdtemp(prefix="bench-indexes-")), free_port())
    client: AsyncMongoClient[Any] = AsyncMongoClient(server.url, tz_aware=True)
    ferretdb = psutil.Process(server.process.pid)
    try:
        if args.outbox:
            await outbox_phases(client, args.rows, args.batch, ferretdb)
            return
        results = {}
        for setting in ("off", "on"):
            os.environ[SECONDARY_INDEXES_ENV] = setting
            db = client[f"bench_{setting}"]
            await apply_indexes(db, deals_indexes)
            await apply_indexes(db, contacts_indexes)  # declared beside, as a service does
            label = "unique" if setting == "off" else "all"
            results[label] = await phase(db, label, args.rows, args.batch, ferretdb)
        unique, every = results["unique"], results["all"]
        print(
            f"unique-only / all: insert rows/s {unique[0] / every[0]:.2f}x, "
            f"CPU per insert {unique[1] / every[1]:.2f}x; update/s {unique[2] / every[2]:.2f}x, "
            f"CPU per update {unique[3] / every[3]:.2f}x  (load average {os.getloadavg()[0]:.1f})"
        )
    finally:
        await client.close()
        server.stop()


async def outbox_phases(
    client: AsyncMongoClient[Any], rows: int, batch: int, ferretdb: psutil.Process
) -> None:
    results = {}
    for label in ("unique", "outbox"):
        os.environ[SECONDARY_INDEXES_ENV] = "off"
        db = client[f"bench_outbox_{label}"]
        await apply_indexes(db, deals_indexes)
        if label == "outbox":
            await db["deals"].create_index([("_outbox_pending", 1)], name="outbox_pending")
        results[label] = await phase(db, label, rows, batch, ferretdb, outbox=True)
    unique, indexed = results["unique"], results["outbox"]
    print(
        f"with the outbox_pending index / without: CPU per insert (and its clear) "
        f"{indexed[1] / unique[1]:.2f}x, CPU per update (and its pending flag set and "
        f"cleared) {indexed[3] / unique[3]:.2f}x  (load average {os.getloadavg()[0]:.1f})"
    )


if __name__ == "__main__":
    asyncio.run(main())
