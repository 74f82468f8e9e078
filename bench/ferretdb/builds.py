"""The embedded database's builds side by side: FerretDB v1.24 with the `_id` index fix
only, and with the platform's filter pushdown and faster document decoding as well
(`scripts/install-ferretdb.sh`, `scripts/ferretdb/`), optionally as published
(`--upstream`). Each gets the same deal-shaped documents (`bench/import/indexes.py`'s);
FerretDB's own CPU is measured per 1,000 documents for what the services do most: insert
in batches, read a whole collection (a read index's warm-up), read by `_id` one at a
time and as one `$in` list (reads by id), update by `_id`, and a sweep for a flag few
documents hold (the outbox relay's backstop). The builds run one phase after the other
in the same run, so the ratios compare like with like on a loaded machine.

    .venv/bin/python bench/ferretdb/builds.py [--docs 20000] [--upstream]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil
from pymongo import MongoClient
from pymongo.collection import Collection

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "import"))

from indexes import deal

from crm_kit.devstack import ManagedServer, free_port, start_ferretdb

# Build name -> the environment scripts/install-ferretdb.sh reads.
BUILDS = {
    "as published": {"FERRETDB_UPSTREAM": "1"},
    "_id fix": {"FERRETDB_UPSTREAM": "0", "FERRETDB_PUSHDOWN": "0"},
    "platform build": {"FERRETDB_UPSTREAM": "0", "FERRETDB_PUSHDOWN": "1"},
}
BATCH = 1000


def cpu(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


def measured(process: psutil.Process, work: Callable[[], int]) -> tuple[float, float, int]:
    """FerretDB's CPU seconds and the wall seconds of `work`, and what it returns."""
    before, started = cpu(process), time.perf_counter()
    count = work()
    return cpu(process) - before, time.perf_counter() - started, count


def phases(docs: list[dict[str, Any]], deals: Collection[Any]) -> dict[str, Callable[[], int]]:
    ids = [doc["_id"] for doc in docs]
    sample = ids[:: max(1, len(ids) // 1000)][:1000]

    def insert() -> int:
        for start in range(0, len(docs), BATCH):
            deals.insert_many([dict(doc) for doc in docs[start : start + BATCH]])
        return len(docs)

    def scan() -> int:
        return sum(1 for _ in deals.find({}))

    def by_id() -> int:
        return sum(deals.find_one({"_id": i}) is not None for i in sample)

    def by_id_list() -> int:
        return sum(1 for _ in deals.find({"_id": {"$in": sample}}))

    def update() -> int:
        for n, i in enumerate(sample):
            deals.update_one({"_id": i}, {"$set": {"amount_minor": n, "status": "won"}})
        return len(sample)

    def sweep() -> int:
        for i in sample[:10]:
            deals.update_one({"_id": i}, {"$set": {"_outbox_pending": True}})
        found = sum(1 for _ in deals.find({"_outbox_pending": True}, {"_id": 1}))
        return len(docs) if found == 10 else -1  # the documents the sweep looks through

    return {
        "insert": insert,
        "scan": scan,
        "read by _id": by_id,
        "read an _id $in list": by_id_list,
        "update by _id": update,
        "sweep for a flag": sweep,
    }


def run_build(name: str, env: dict[str, str], docs: list[dict[str, Any]]) -> dict[str, Any]:
    os.environ.update(env)
    data = Path(tempfile.mkdtemp(prefix="crm-bench-ferretdb-"))
    server: ManagedServer = start_ferretdb(data, free_port())
    results: dict[str, Any] = {}
    try:
        process = psutil.Process(server.process.pid)
        client: MongoClient[Any] = MongoClient(server.url)
        deals = client["bench"]["deals"]
        for phase, work in phases(docs, deals).items():
            spent, wall, count = measured(process, work)
            results[phase] = (spent, wall, count)
        client.close()
    finally:
        server.stop()
        shutil.rmtree(data, ignore_errors=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=int, default=20000)
    parser.add_argument("--upstream", action="store_true", help="FerretDB as published too")
    args = parser.parse_args()
    if not 1000 <= args.docs <= 200_000:
        parser.error("bounded: 1,000 <= docs <= 200,000")
    docs = [deal(i) for i in range(args.docs)]
    builds = {k: v for k, v in BUILDS.items() if args.upstream or k != "as published"}
    print(f"{args.docs:,} deal-shaped documents; load average {os.getloadavg()[0]:.1f}")
    results = {name: run_build(name, env, docs) for name, env in builds.items()}
    print(f"load average {os.getloadavg()[0]:.1f} after")
    base = results["_id fix"]
    names = list(results)
    print(
        f"{'FerretDB CPU s per 1,000 documents':34}"
        + "".join(f"{n:>16}" for n in names)
        + f"{'platform / _id fix':>22}"
    )
    for phase in base:
        row = []
        for name in names:
            spent, _, count = results[name][phase]
            row.append(spent / count * 1000 if count > 0 else float("nan"))
        _, _, base_count = base[phase]
        ratio = row[names.index("platform build")] / row[names.index("_id fix")]
        print(
            f"{phase:34}"
            + "".join(f"{v:>16.3f}" for v in row)
            + f"{ratio:>21.2f}x"
            + ("" if base_count > 0 else "  (a build's result was wrong)")
        )


if __name__ == "__main__":
    main()
