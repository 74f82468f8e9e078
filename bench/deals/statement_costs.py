"""FerretDB CPU per statement of a moveDeal, each kind measured alone (issue 14: which of a
move's statements to cut, and how far the in-document outbox lets a move get towards the
raw driver's read + update).

`moves.py` counts a move's statements (per move: findAndModify 1, the change log's probe
~0.9, its slot insert ~0.65, the audit insert ~0.5, the relay's clear ~0.5 statements of
~2 updates, the pipeline cache's probe ~0.14); this measures what each kind costs FerretDB
on deal-shaped documents (~2.5 KB, a ~1.1 KB event, a ~0.5 KB audit entry), the grouped
kinds in statements of `--group` deals as concurrent moves group them (so their cost per
deal is already shared), and adds them up per move next to the raw move (a read of the
deal and an update: `run.py`'s raw driver). It also measures the shape of an alternative
(the event carried by the move's audit entry instead of the deal: `ALTERNATIVE`). Starts
its own FerretDB (127.0.0.1, a temporary directory); `--rounds` rounds, medians printed.

    .venv/bin/python bench/deals/statement_costs.py [--deals 300] [--group 2] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "libs"))

import psutil  # noqa: E402
from pymongo import AsyncMongoClient, ReturnDocument, UpdateOne  # noqa: E402

from crm_kit.devstack import InfraStack, free_port  # noqa: E402

EVENT = {"id": "event", "subject": "crm.deals.deal.stage_changed.v1", "body": "e" * 1100}
ENTRY = {"_id": "entry", "changes": "c" * 450}
# Per move: the probes as `moves.py` counted them (2026-12-07, concurrency 4); the grouped
# kinds are measured per deal already (one deal's share of a statement of `--group`).
WEIGHTS = {
    "findAndModify deal (move, event, entry)": 1.0,
    "clear ($pullAll; per deal, grouped)": 1.0,
    "change log probe (absent _id)": 0.9,
    "change log slot insert (grouped)": 1.0,
    "audit entry insert (grouped)": 1.0,
    "pipeline cache probe (absent _id)": 0.14,
}
RAW = ("raw read of the deal", "raw update ($set + $push)")
# Not today's shape: the event carried by the move's audit entry, inserted before the deal's
# write (in place of the relay's audit insert), the deal's write carrying only a token, and
# the entry's event dropped once published (in place of the clear of the deal).
ALTERNATIVE = (
    "alt: audit entry + event insert (grouped)",
    "alt: entry settled, event dropped (grouped)",
    "alt: findAndModify deal (move, token)",
)


def deal(n: int) -> dict[str, Any]:
    fields: dict[str, Any] = {f"field_{k}": "x" * 30 for k in range(45)}
    history = [{"from_stage": None, "to_stage": "lead", "note": "h" * 150}]
    return {
        "_id": f"d{n}",
        "workspace_id": "bench",
        "stage_key": "lead",
        "rev": 1,
        **fields,
        "stage_history": history,
        "_outbox": [],
        "_audit_pending": [],
        "_outbox_pending": False,
    }


def cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system


async def measure(stack: InfraStack, args: argparse.Namespace) -> None:
    ferretdb = psutil.Process(stack.servers[0].process.pid)
    client: AsyncMongoClient[Any] = AsyncMongoClient(stack.mongodb_uri, tz_aware=True)
    db = client["statement_costs"]
    deals, slots, audit = db["deals"], db["changes_deals"], db["audit"]
    intents = db["audit_intents"]
    count, group = args.deals, args.group
    await deals.insert_many([deal(n) for n in range(count)])
    await slots.insert_one({"_id": "0"})
    await audit.insert_one({"_id": "0"})
    await intents.insert_one({"_id": "0"})
    ids = [f"d{n}" for n in range(count)]
    groups = [ids[start : start + group] for start in range(0, count, group)]

    async def each(call: Callable[[str], Awaitable[Any]]) -> None:
        for doc_id in ids:
            await call(doc_id)

    async def grouped(call: Callable[[list[str]], Awaitable[Any]]) -> None:
        for chunk in groups:
            await call(chunk)

    def kinds(r: int) -> dict[str, Callable[[], Awaitable[None]]]:
        event = {**EVENT, "id": f"event{r}"}
        entry = {**ENTRY, "_id": f"entry{r}"}
        move = {
            "$set": {"stage_key": f"s{r}", "rev": r + 2, "_outbox_pending": True},
            "$push": {
                "stage_history": {"from_stage": "a", "to_stage": f"s{r}"},
                "_outbox": event,
                "_audit_pending": entry,
            },
        }
        clear = {
            "$set": {"_outbox_pending": False},
            "$pullAll": {"_outbox": [event], "_audit_pending": [entry]},
        }
        raw = {"$set": {"stage_key": f"r{r}"}, "$push": {"stage_history": {"to_stage": f"r{r}"}}}
        return {
            RAW[0]: lambda: each(lambda i: deals.find_one({"_id": i})),
            RAW[1]: lambda: each(lambda i: deals.update_one({"_id": i}, raw)),
            "findAndModify deal (move, event, entry)": lambda: each(
                lambda i: deals.find_one_and_update(
                    {"_id": i}, move, return_document=ReturnDocument.AFTER
                )
            ),
            "clear ($pullAll; per deal, grouped)": lambda: grouped(
                lambda chunk: deals.bulk_write(
                    [UpdateOne({"_id": i}, clear) for i in chunk], ordered=False
                )
            ),
            "change log probe (absent _id)": lambda: each(
                lambda i: slots.find_one({"_id": f"absent-{i}"})
            ),
            "change log slot insert (grouped)": lambda: grouped(
                lambda chunk: slots.insert_many(
                    [{"_id": f"{r}-{i}", "w": "bench", "d": i} for i in chunk]
                )
            ),
            "audit entry insert (grouped)": lambda: grouped(
                lambda chunk: audit.insert_many([{**entry, "_id": f"{r}-{i}"} for i in chunk])
            ),
            "pipeline cache probe (absent _id)": lambda: each(
                lambda i: slots.find_one({"_id": f"pipeline-{i}"})
            ),
            ALTERNATIVE[0]: lambda: grouped(
                lambda chunk: intents.insert_many(
                    [{**entry, "_id": f"{r}-{i}", "event": event, "pending": True} for i in chunk]
                )
            ),
            ALTERNATIVE[1]: lambda: grouped(
                lambda chunk: intents.bulk_write(
                    [
                        UpdateOne({"_id": f"{r}-{i}"}, {"$set": {"pending": False, "event": None}})
                        for i in chunk
                    ],
                    ordered=False,
                )
            ),
            ALTERNATIVE[2]: lambda: each(
                lambda i: deals.find_one_and_update(
                    {"_id": i},
                    {"$set": {"stage_key": f"t{r}", "rev": r + 3, "_ow": f"{r}-{i}"}},
                    return_document=ReturnDocument.AFTER,
                )
            ),
        }

    costs: dict[str, list[float]] = {}
    try:
        for r in range(args.rounds):
            for name, run in kinds(r).items():
                before = cpu_seconds(ferretdb)
                await run()
                costs.setdefault(name, []).append((cpu_seconds(ferretdb) - before) * 1000 / count)
    finally:
        await client.close()
    median = {name: statistics.median(values) for name, values in costs.items()}
    print(f"FerretDB CPU ms per deal, medians of {args.rounds} rounds (groups of {group}):")
    for name, value in median.items():
        weight = WEIGHTS.get(name, 1.0)
        print(f"  {name:44} {value:6.2f}   x {weight:4.2f} per move = {value * weight:6.2f}")
    service = sum(median[name] * weight for name, weight in WEIGHTS.items())
    replaced = ("findAndModify deal (move, event, entry)", "clear ($pullAll; per deal, grouped)")
    replaced += ("audit entry insert (grouped)",)
    alternative = service - sum(median[name] for name in replaced)
    alternative += sum(median[name] for name in ALTERNATIVE)
    raw = sum(median[name] for name in RAW)
    print(
        f"per move: service shape {service:.2f} ms, raw read + update {raw:.2f} ms "
        f"(raw/service {raw / service:.2f}x); load average "
        + " ".join(f"{n:.2f}" for n in os.getloadavg())
    )
    print(
        f"the event in the audit entry instead (same statement count): {alternative:.2f} ms "
        f"(raw/alternative {raw / alternative:.2f}x)"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--deals", type=int, default=300)
    parser.add_argument("--group", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if not 0 < args.deals <= 2000 or not 0 < args.group <= 50 or not 0 < args.rounds <= 10:
        parser.error("bounded: 0 < deals <= 2000, 0 < group <= 50, 0 < rounds <= 10")
    tmp = Path(tempfile.mkdtemp(prefix="crm-bench-statement-costs-"))
    stack = InfraStack(tmp, free_port(), free_port(), harness=True).start()
    try:
        asyncio.run(measure(stack, args))
    finally:
        stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
