"""Benchmark: what an imported deal's writes cost FerretDB, statement by statement.

Starts its own FerretDB (embedded SQLite) in a temporary directory, makes N deals as the
deals import does (`RowMapper` on `sinks.deal_row`, `deal_to_doc`) with their audit
`create` entries (as a bulk write seals them: `packed_changes`), and inserts them in
batches of 1,000, each way into a database of its own, twice in turn (the second round
shows the noise):

- the deal documents as an import stores them (`slim_deal_doc`: no null fields, no empty
  unaudited lists), as `deal_to_doc` makes them (every field: how imports stored them
  before), and without any null or empty list at any depth (the floor of that idea);
- their audit entries one document each (before), and packed one document per batch
  (`crm_kit.audit.packed_entries`, what the relay stores now).

Prints the database server's CPU seconds per 1,000 documents (rates swing with the
machine's load; CPU per row much less), the wall time, the mean BSON size, and the load
average. Bounded: at most 50,000 deals; the server stops at the end.

    .venv/bin/python bench/import/bytes.py [--deals 10000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
for sub in ("libs", "services/deals"):
    sys.path.insert(0, str(ROOT / sub))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import bson  # noqa: E402
import psutil  # noqa: E402
from pymongo import AsyncMongoClient  # noqa: E402
from pymongo.asynchronous.database import AsyncDatabase  # noqa: E402
from sinks import deal_row  # noqa: E402

from crm_deals.config import AUDIT, DEALS  # noqa: E402
from crm_deals.domain.default_pipeline import default_pipeline  # noqa: E402
from crm_deals.store.documents import deal_to_doc, slim_deal_doc  # noqa: E402
from crm_deals.store.mongo import ensure_indexes  # noqa: E402
from crm_deals.usecases.deal_rows import ImportReport, Options, RowMapper  # noqa: E402
from crm_deals.usecases.imports import _mapper_values  # noqa: E402
from crm_kit import audit  # noqa: E402
from crm_kit.devstack import free_port, start_ferretdb  # noqa: E402
from crm_kit.mongo import apply_indexes  # noqa: E402

BATCH = 1000
Doc = dict[str, Any]
Store = Callable[[AsyncDatabase[Any], list[Doc]], Awaitable[Any]]


def slim(value: Any) -> Any:
    """The document without null and empty-list fields, at every depth."""
    if isinstance(value, dict):
        return {k: slim(v) for k, v in value.items() if v is not None and v != []}
    if isinstance(value, list):
        return [slim(v) for v in value]
    return value


def made(count: int) -> tuple[list[Doc], list[Doc], list[Doc]]:
    """`count` deals' documents (whole, and as an import stores them) and their audit
    entries, as an import makes them."""
    now = datetime.now(UTC)
    mapper = RowMapper(Options({}, {}, {}), default_pipeline("w", now), "w", now)
    docs: list[Doc] = []
    stored: list[Doc] = []
    entries: list[Doc] = []
    with audit.via("import"):
        for n in range(count):
            deal = mapper.map_row(_mapper_values(deal_row(n, False)), n, ImportReport(), {})
            assert deal is not None
            deal.id = f"{n:024x}"
            doc = {**deal_to_doc(deal), "workspace_id": "w"}
            created = audit.entry(AUDIT, DEALS, deal.id, "w", None, doc, place=deal.id)
            assert created is not None
            docs.append(doc)
            stored.append(slim_deal_doc(deal, "w"))
            entries.append(audit.packed_changes(created))
    return docs, stored, entries


async def measure(
    server: psutil.Process, db: AsyncDatabase[Any], docs: list[Doc], store: Store
) -> tuple[float, float]:
    """(server CPU s per 1,000 documents given, wall seconds)."""
    before = server.cpu_times()
    started = time.monotonic()
    for start in range(0, len(docs), BATCH):
        await store(db, docs[start : start + BATCH])
    after = server.cpu_times()
    cpu = (after.user + after.system) - (before.user + before.system)
    return cpu * 1000 / len(docs), time.monotonic() - started


async def bench(uri: str, server: psutil.Process, count: int) -> None:
    docs, stored, entries = made(count)

    async def deals(db: AsyncDatabase[Any], batch: list[Doc]) -> None:
        await db[DEALS].insert_many(batch, ordered=False)

    async def slim_deals(db: AsyncDatabase[Any], batch: list[Doc]) -> None:
        await db[DEALS].insert_many([slim(doc) for doc in batch], ordered=False)

    async def one_each(db: AsyncDatabase[Any], batch: list[Doc]) -> None:
        await db[audit.AUDIT].insert_many([dict(e) for e in batch], ordered=False)

    async def packed(db: AsyncDatabase[Any], batch: list[Doc]) -> None:
        await db[audit.AUDIT].insert_many(audit.packed_entries(batch), ordered=False)

    ways: list[tuple[str, list[Doc], Store, Callable[[Doc], Doc]]] = [
        ("deals as stored (slim_deal_doc)", stored, deals, lambda d: d),
        ("deals as deal_to_doc (before)", docs, deals, lambda d: d),
        ("deals without any null/empty", docs, slim_deals, slim),
        ("audit entries, one document each", entries, one_each, lambda d: d),
        ("audit entries, one pack a batch", entries, packed, lambda d: d),
    ]

    async def indexes(db: AsyncDatabase[Any]) -> None:
        await audit.ensure_indexes(db)
        await ensure_indexes(db)

    client: AsyncMongoClient[Any] = AsyncMongoClient(uri, tz_aware=True)
    try:
        for round_ in (1, 2):
            for n, (name, given, store, shape) in enumerate(ways):
                db = client[f"bytes{round_}_{n}"]
                # The indexes the service makes on this database (FerretDB: unique only).
                await apply_indexes(db, indexes)
                size = sum(len(bson.encode(shape(d))) for d in given[:BATCH]) // BATCH
                cpu, wall = await measure(server, db, given, store)
                load = os.getloadavg()[0]
                print(
                    f"round {round_} {name:>34}: database CPU s per 1,000 {cpu:5.3f},"
                    f" wall {wall:5.1f} s, {size:>5} bytes a record (load {load:.1f})",
                    flush=True,
                )
    finally:
        await client.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--deals", type=int, default=10_000)
    count = max(BATCH, min(parser.parse_args().deals, 50_000))
    with tempfile.TemporaryDirectory(prefix="crm-bench-") as tmp:
        server = start_ferretdb(Path(tmp) / "ferretdb", free_port())
        try:
            asyncio.run(bench(server.url, psutil.Process(server.process.pid), count))
        finally:
            server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
