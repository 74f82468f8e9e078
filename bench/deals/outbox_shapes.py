"""FerretDB CPU per deal write and its outbox clean-up, in two outbox shapes (issue 14: what
a move costs on FerretDB's single writer, and what keeping the events outside the deal
document would spare).

- in the document (today's `crm_kit.outbox`): a findAndModify of the deal that `$push`es
  its event and audit entry, then the relay's clear (`$pullAll`, grouped as
  `crm_kit.outbox_clears` groups them), which FerretDB v1 carries out by rewriting the
  whole deal a second time;
- the same with the deal's write a `$set` of every field, as a save wrote before it sent
  only the changed ones (`crm_kit.records.changed_update`);
- an intent document per write (a sketch of the alternative, not implemented): the event
  and the audit entry in a small document inserted before the deal's write (grouped), the
  deal's findAndModify carrying only a token, then the small document deleted (grouped).

Documents shaped as a moved deal (~2 KB, a ~1.1 KB event body, a ~0.5 KB audit entry);
`--group` writes per grouped statement, as concurrent moves group them. Starts its own
FerretDB (127.0.0.1, a temporary directory), alternates the shapes `--rounds` times
and prints the CPU of FerretDB and of this client per write, and the ratio.

    .venv/bin/python bench/deals/outbox_shapes.py [--writes 400] [--group 4] [--rounds 3]
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

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "libs"))

import psutil  # noqa: E402
from pymongo import AsyncMongoClient, DeleteOne, ReturnDocument, UpdateOne  # noqa: E402

from crm_kit.devstack import InfraStack, free_port  # noqa: E402

EVENT = {"id": "event", "subject": "crm.deals.deal.stage_changed.v1", "body": "e" * 1100}
ENTRY = {"_id": "entry", "changes": "c" * 450}
CHANGE = {"stage_key": "qualification", "stage_probability": 25, "rev": 2}


def deal(n: int) -> dict[str, Any]:
    fields: dict[str, Any] = {f"field_{k}": "x" * 20 for k in range(45)}
    history = [{"entry": "h" * 200}, {"entry": "i" * 200}]
    return {"_id": str(n), **fields, "stage_history": history, "_outbox": [], "_audit": []}


def cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system


async def measure(stack: InfraStack, args: argparse.Namespace) -> None:
    ferretdb = psutil.Process(stack.servers[0].process.pid)
    here = psutil.Process()
    client: AsyncMongoClient[Any] = AsyncMongoClient(stack.mongodb_uri, tz_aware=True)
    db = client["outbox_shapes"]
    deals, intents = db["deals"], db["intents"]
    await deals.insert_many([deal(n) for n in range(args.writes)])

    whole = {key: value for key, value in deal(0).items() if not key.startswith("_")}

    def in_document(changed: dict[str, Any]) -> Callable[[list[str]], Awaitable[None]]:
        async def shape(ids: list[str]) -> None:
            await write_and_clear(ids, changed)

        return shape

    async def write_and_clear(ids: list[str], changed: dict[str, Any]) -> None:
        for doc_id in ids:
            await deals.find_one_and_update(
                {"_id": doc_id},
                {
                    "$set": {**changed, "_outbox_pending": True},
                    "$push": {"_outbox": EVENT, "_audit": ENTRY},
                },
                return_document=ReturnDocument.AFTER,
            )
        clears = [
            UpdateOne(
                {"_id": doc_id},
                {
                    "$set": {"_outbox_pending": False},
                    "$pullAll": {"_outbox": [EVENT], "_audit": [ENTRY]},
                },
            )
            for doc_id in ids
        ]
        await deals.bulk_write(clears, ordered=False)

    async def intent_document(ids: list[str]) -> None:
        await intents.insert_many(
            [
                {"_id": f"t{doc_id}", "doc": doc_id, "events": [EVENT], "audit": [ENTRY]}
                for doc_id in ids
            ]
        )
        for doc_id in ids:
            await deals.find_one_and_update(
                {"_id": doc_id},
                {"$set": {**CHANGE, "_outbox_token": f"t{doc_id}"}},
                return_document=ReturnDocument.AFTER,
            )
        await intents.bulk_write(
            [DeleteOne({"_id": f"t{doc_id}"}) for doc_id in ids], ordered=False
        )

    async def run(shape: Callable[[list[str]], Awaitable[None]]) -> tuple[float, float, float]:
        before = (cpu_seconds(ferretdb), cpu_seconds(here), time.perf_counter())
        ids = [str(n) for n in range(args.writes)]
        for start in range(0, len(ids), args.group):
            await shape(ids[start : start + args.group])
        n = len(ids)
        return (
            (cpu_seconds(ferretdb) - before[0]) * 1000 / n,
            (cpu_seconds(here) - before[1]) * 1000 / n,
            (time.perf_counter() - before[2]) * 1000 / n,
        )

    try:
        print(f"{'per write (ms)':28} {'FerretDB CPU':>13} {'client CPU':>11} {'wall':>8}")
        shapes = {
            "in the document": in_document(CHANGE),
            "in the document, whole $set": in_document({**whole, **CHANGE}),
            "intent document": intent_document,
        }
        totals = dict.fromkeys(shapes, 0.0)
        for _ in range(args.rounds):
            for name, shape in shapes.items():
                ferret, mine, wall = await run(shape)
                totals[name] += ferret
                print(f"{name:28} {ferret:13.2f} {mine:11.2f} {wall:8.2f}")
        base = totals["in the document"]
        for name in ("in the document, whole $set", "intent document"):
            print(f"FerretDB CPU, {name} / in the document: {totals[name] / base:.2f}x")
        print(f"load average: {' '.join(f'{n:.2f}' for n in os.getloadavg())}")
    finally:
        await client.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--writes", type=int, default=400)
    parser.add_argument("--group", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if not (0 < args.writes <= 2000 and 0 < args.group <= 90 and 0 < args.rounds <= 10):
        parser.error("bounded: 0 < writes <= 2000, 0 < group <= 90, 0 < rounds <= 10")
    with tempfile.TemporaryDirectory(prefix="crm-bench-outbox-shapes-") as tmp:
        os.environ["CRM_DATA_DIR"] = tmp
        stack = InfraStack(Path(tmp), free_port(), free_port(), harness=True).start()
        try:
            asyncio.run(measure(stack, args))
        finally:
            stack.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
