"""Benchmark: CPU microseconds per deal of the deals service's import pieces, in one process
(no database, no NATS): what a deals import spends per row on its owner, measured by
`time.process_time` (less moved by the machine's load than a wall clock), the median of
several rounds of `--rows` deals, rows as `bench/import/sinks.py` generates them.

- `build`: `DealSink.build` (the row's values read, mapped and validated, the deal made
  with its `deal.created`);
- `documents`: the batch's slim deal documents (`slim_deal_doc`);
- `events`: the deals' `deal.created` encoded with their ids (`DocumentWriter.encode`);
- `audit entries`: the batch's creation entries (`audit.creation_entries`);
- `sealed`: the batch's events and entries sealed in one BSON binary (`sealed_fields`);
- `unseal`, `audit pack`: the relay's pass over the batch's sealed document (the events
  and entries opened, the entries packed for the audit log);
- `write hooks`: the write hooks hearing the batch's insert together
  (`WriteHooks.emit_batch`; the read index installing the stored documents, for a
  workspace it holds), beside the same hooks heard a task a deal, as before.

    .venv/bin/python bench/import/deal_pieces.py [--rows 1000] [--rounds 11]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
for sub in ("libs", "services/deals"):
    sys.path.insert(0, str(ROOT / sub))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bson import ObjectId  # noqa: E402
from sinks import deal_row  # noqa: E402

from crm_contracts.import_batches import ImportRow  # noqa: E402
from crm_deals.config import AUDIT, DEALS  # noqa: E402
from crm_deals.events.publish import encode  # noqa: E402
from crm_deals.store.documents import slim_deal_doc  # noqa: E402
from crm_deals.store.memory import memory_store  # noqa: E402
from crm_deals.usecases.imports import DealSink  # noqa: E402
from crm_deals.usecases.scope import scopes  # noqa: E402
from crm_kit import audit  # noqa: E402
from crm_kit.change_log import ChangeLog, journal_writes  # noqa: E402
from crm_kit.context import RequestContext  # noqa: E402
from crm_kit.ids import new_id  # noqa: E402
from crm_kit.memory_db import MemoryDatabase  # noqa: E402
from crm_kit.outbox import SEALED, sealed_fields, unseal  # noqa: E402
from crm_kit.records import pending_events  # noqa: E402
from crm_kit.writer import Written  # noqa: E402

WS = "bench"


class NoSlots:
    """A change log's slots, kept nowhere (every insert fills them)."""

    async def insert_one(self, document: dict[str, Any]) -> Any:
        return None

    async def insert_many(self, documents: list[dict[str, Any]], ordered: bool = True) -> Any:
        return None

    async def find_one(self, filter: Mapping[str, Any]) -> Mapping[str, Any] | None:
        return None

    async def update_one(
        self, filter: Mapping[str, Any], update: Mapping[str, Any], upsert: bool = False
    ) -> Any:
        return None

    async def delete_one(self, filter: Mapping[str, Any]) -> Any:
        return None


def median_us(rounds: int, rows: int, step: Callable[[int], object]) -> float:
    spent = []
    for r in range(rounds):
        start = time.process_time()
        step(r)
        spent.append(time.process_time() - start)
    return statistics.median(spent) * 1e6 / rows


async def amedian_us(rounds: int, rows: int, step: Callable[[int], Awaitable[None]]) -> float:
    spent = []
    for r in range(rounds):
        start = time.process_time()
        await step(r)
        spent.append(time.process_time() - start)
    return statistics.median(spent) * 1e6 / rows


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=11)
    args = parser.parse_args()
    rows = [ImportRow(row=n + 2, values=deal_row(n, False)) for n in range(args.rows)]
    db = MemoryDatabase(encode=encode, audit=AUDIT)
    # The deals' change log journals every write first, as in the service (its slots
    # kept nowhere: the hooks' own CPU is measured, not a database's).
    journal_writes(db.hooks, ChangeLog(NoSlots()), DEALS)
    store = memory_store(db, workarounds=True)
    caller = RequestContext(WS, "bench", frozenset({"admin"}))
    scope = scopes(store)(caller)
    sink = DealSink(scope, "job-1", None, default_currency="USD", dry_run=False)
    await sink.prepare(rows)

    async def build(_: int) -> None:
        for n, row in enumerate(rows):
            await sink.build(row, f"d{n:023d}")

    total = 0.0

    def show(label: str, spent: float) -> None:
        nonlocal total
        total += spent
        print(f"{label:16} {spent:7.1f} µs a deal")

    show("build", await amedian_us(args.rounds, args.rows, build))
    deals = [(await sink.build(r, f"d{n:023d}")).record for n, r in enumerate(rows)]
    show(
        "documents",
        median_us(args.rounds, args.rows, lambda _: [slim_deal_doc(d, WS) for d in deals]),
    )
    docs = [slim_deal_doc(d, WS) for d in deals]
    events = [pending_events(d) for d in deals]
    flat = [e for es in events for e in es]
    show("events", median_us(args.rounds, args.rows, lambda _: [encode(e) for e in flat]))
    encoded = [encode(e) for e in flat]
    show(
        "audit entries",
        median_us(args.rounds, args.rows, lambda _: audit.creation_entries(AUDIT, DEALS, docs)),
    )
    entries = [e for _, e in audit.creation_entries(AUDIT, DEALS, docs)]
    show("sealed", median_us(args.rounds, args.rows, lambda _: sealed_fields(encoded, entries)))

    blob = sealed_fields(encoded, entries)[SEALED]
    show("unseal (relay)", median_us(args.rounds, args.rows, lambda _: unseal(blob)))
    show(
        "audit pack (relay)",
        median_us(args.rounds, args.rows, lambda _: audit.packed_entries(entries)),
    )

    index = store.index  # type: ignore[attr-defined]
    assert await index.entries(WS) is not None  # the workspace held, as in the service

    writes = [Written(DEALS, d["_id"], WS, None, kind="insert", stored=d) for d in docs]

    async def one_each(_: int) -> None:  # as the hooks heard a batch before: a task a deal
        await asyncio.gather(*(db.hooks.emit(written) for written in writes))

    async def together(_: int) -> None:
        await db.hooks.emit_batch(writes)

    spent = await amedian_us(args.rounds, args.rows, one_each)
    print(f"{'(hooks, a task each)':16} {spent:7.1f} µs a deal, not counted")
    show("write hooks", await amedian_us(args.rounds, args.rows, together))
    print(f"{'sum':16} {total:7.1f} µs a deal")
    # A deal's stage history takes 1.5 new ids a row here (won and lost deals two).
    spent = median_us(args.rounds, args.rows, lambda _: [str(ObjectId()) for _ in rows])
    print(f"(an id as bson's ObjectId made it: {spent:.1f} µs; ", end="")
    spent = median_us(args.rounds, args.rows, lambda _: [new_id() for _ in rows])
    print(f"as new_id makes it now: {spent:.1f} µs)")


if __name__ == "__main__":
    asyncio.run(main())
