"""FerretDB's CPU per statement, kind by kind, for builds (and SQLite sync settings) side by
side in one run: what the import and a move spend in the embedded database.

Each build gets a FerretDB of its own (127.0.0.1, a temporary directory) and the same
statements, one client, one statement at a time: import-shaped `insert_many` of deals
(`bench/import/indexes.py`'s documents, the deals service's indexes as FerretDB gets
them), and on move-shaped deals (`bench/deals/statement_costs.py`'s) a read by `_id`, a
read of an absent `_id`, a findAndModify (`$set` + `$push`), the relay's `$pullAll` clear,
a plain `$set` by `_id` and a small insert. Printed per kind: FerretDB CPU ms per
statement (medians of `--rounds`) and statements/s, then each build's ratio to the first.

    .venv/bin/python bench/ferretdb/statements.py [--build NAME=BINARY ...]
        [--sync full,normal,tmpfs] [--rounds 3] [--statements 300] [--profile DIR]

Without `--build`, the build `scripts/install-ferretdb.sh` makes (the platform's) and the
one as published (`FERRETDB_UPSTREAM=1`). `--sync` runs each build once per SQLite
setting: `full` (SQLite's default in WAL mode: an fsync per commit), `normal` (WAL
synced at checkpoints only) and `tmpfs` (full, on /dev/shm: no disk at all).
`--gogc 100,400` runs each once per Go GC target of FerretDB (the stack's default: 400).
`--profile DIR` also takes a CPU profile of each kind (`/debug/pprof/profile`, read it
with `go tool pprof -top -cum`).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench" / "import"))

import psutil  # noqa: E402
from indexes import deal as import_deal  # noqa: E402
from pymongo import MongoClient, ReturnDocument  # noqa: E402
from pymongo.database import Database  # noqa: E402

from crm_kit.devstack import (  # noqa: E402
    DEFAULT_GOGC,
    GOGC_ENV,
    ManagedServer,
    free_port,
    start_ferretdb,
)

INSERT_BATCH = 500
RSS = "FerretDB's resident memory after the kinds, MB"
SYNC = {
    "full": ("synchronous(full)",),
    "normal": ("synchronous(normal)",),
    "tmpfs": ("synchronous(full)",),
}


def move_deal(n: int) -> dict[str, Any]:
    """A stored deal as a move finds it (~2.5 KB: `bench/deals/statement_costs.py`)."""
    return {
        "_id": f"d{n}",
        "workspace_id": "bench",
        "stage_key": "lead",
        "rev": 1,
        **{f"field_{k}": "x" * 30 for k in range(45)},
        "stage_history": [{"from_stage": None, "to_stage": "lead", "note": "h" * 150}],
        "_outbox": [],
        "_audit_pending": [],
        "_outbox_pending": False,
    }


def cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


@dataclass
class Kind:
    name: str
    # Runs round `r`'s statements; returns how many it ran.
    run: Callable[[int], int]


def pushed(r: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """The event and the audit entry a move of round `r` pushes onto the deal."""
    event = {"id": f"event{r}", "subject": "crm.deals.deal.stage_changed.v1", "body": "e" * 1100}
    return event, {"_id": f"entry{r}", "changes": "c" * 450}


def kinds(db: Database[Any], statements: int) -> list[Kind]:
    deals, imported, audit = db["deals"], db["imported"], db["audit"]
    ids = [f"d{n}" for n in range(statements)]
    deals.insert_many([move_deal(n) for n in range(statements)])
    audit.insert_one({"_id": "0"})
    next_import = [0]

    def insert_many(r: int) -> int:
        batches = max(1, statements // 25)
        for _ in range(batches):
            first = next_import[0]
            next_import[0] += INSERT_BATCH
            imported.insert_many([import_deal(i) for i in range(first, first + INSERT_BATCH)])
        return batches

    def read(r: int) -> int:
        return sum(deals.find_one({"_id": i}) is not None for i in ids)

    def absent(r: int) -> int:
        return sum(deals.find_one({"_id": f"absent-{r}-{i}"}) is None for i in ids)

    def find_and_modify(r: int) -> int:
        event, entry = pushed(r)
        move = {
            "$set": {"stage_key": f"s{r}", "rev": r + 2, "_outbox_pending": True},
            "$push": {
                "stage_history": {"from_stage": "a", "to_stage": f"s{r}"},
                "_outbox": event,
                "_audit_pending": entry,
            },
        }
        for i in ids:
            deals.find_one_and_update({"_id": i}, move, return_document=ReturnDocument.AFTER)
        return len(ids)

    def clear(r: int) -> int:
        # What find_and_modify(r) pushed: the relay's clear after publishing.
        event, entry = pushed(r)
        update = {
            "$set": {"_outbox_pending": False},
            "$pullAll": {"_outbox": [event], "_audit_pending": [entry]},
        }
        return sum(deals.update_one({"_id": i}, update).modified_count for i in ids)

    def set_field(r: int) -> int:
        return sum(
            deals.update_one({"_id": i}, {"$set": {"stage_key": f"r{r}"}}).matched_count
            for i in ids
        )

    def small_insert(r: int) -> int:
        for i in ids:
            audit.insert_one({"_id": f"{r}-{i}", "deal": i, "changes": "c" * 450})
        return len(ids)

    return [
        Kind(f"insert_many {INSERT_BATCH} import deals", insert_many),
        Kind("find by _id", read),
        Kind("find an absent _id", absent),
        Kind("findAndModify ($set + $push)", find_and_modify),
        Kind("update $pullAll (relay clear)", clear),
        Kind("update $set by _id", set_field),
        Kind("insert one small document", small_insert),
    ]


def profile(debug_addr: str, seconds: int, path: Path, keep_running: Callable[[], None]) -> None:
    """A CPU profile of FerretDB over `seconds` while `keep_running` repeats the kind."""
    done = threading.Event()
    url = f"http://{debug_addr}/debug/pprof/profile?seconds={seconds}"

    def fetch() -> None:
        try:
            with urllib.request.urlopen(url, timeout=seconds + 60) as response:
                path.write_bytes(response.read())
        finally:
            done.set()

    threading.Thread(target=fetch, daemon=True).start()
    time.sleep(0.2)
    while not done.is_set():
        keep_running()


def again(kind: Kind, args: argparse.Namespace) -> Callable[[], None]:
    """Runs `kind` again, a round number further each time (profiling)."""
    rounds = iter(range(args.rounds, 10**6))
    return lambda: kind.run(next(rounds)) and None


def run_build(
    label: str, binary: Path, sync: str, gogc: str, args: argparse.Namespace
) -> dict[str, tuple[float, float]]:
    """Kind -> (FerretDB CPU ms per statement, statements/s), medians over the rounds."""
    base = "/dev/shm" if sync == "tmpfs" else None
    data = Path(tempfile.mkdtemp(prefix="crm-bench-statements-", dir=base))
    debug_addr = f"127.0.0.1:{free_port()}"
    os.environ["CRM_FERRETDB_DEBUG_ADDR"] = debug_addr
    os.environ[GOGC_ENV] = gogc
    server: ManagedServer = start_ferretdb(data, free_port(), binary=binary, pragmas=SYNC[sync])
    results: dict[str, tuple[float, float]] = {}
    rss = 0.0
    try:
        process = psutil.Process(server.process.pid)
        client: MongoClient[Any] = MongoClient(server.url)
        db = client["statements"]
        apply_deal_indexes(server.url)
        for kind in kinds(db, args.statements):
            cpu_ms, rates = [], []
            for r in range(args.rounds):
                before, started = cpu_seconds(process), time.perf_counter()
                count = kind.run(r)
                wall = time.perf_counter() - started
                cpu_ms.append((cpu_seconds(process) - before) * 1000 / count)
                rates.append(count / wall)
            results[kind.name] = (statistics.median(cpu_ms), statistics.median(rates))
            rss = max(rss, process.memory_info().rss / 2**20)
            if args.profile:
                slug = "".join(c if c.isalnum() else "-" for c in kind.name.lower())
                name = f"{label}-{sync}-{slug}.pprof".replace(" ", "-")
                profile(debug_addr, args.profile_seconds, args.profile / name, again(kind, args))
        client.close()
    finally:
        server.stop()
        shutil.rmtree(data, ignore_errors=True)
    results[RSS] = (rss, float("nan"))
    return results


def apply_deal_indexes(url: str) -> None:
    """The deals service's indexes on the import collection, as FerretDB gets them
    (`crm_kit.mongo.apply_indexes`: the unique ones, and those pushdown serves)."""
    import asyncio

    from pymongo import AsyncMongoClient

    from crm_deals.store.mongo import ensure_indexes
    from crm_kit.mongo import apply_indexes

    class Renamed:
        """The deals collection is `imported` here (the move-shaped deals are `deals`)."""

        def __init__(self, db: Any) -> None:
            self._db = db

        def __getitem__(self, name: str) -> Any:
            return self._db["imported" if name == "deals" else name]

        def __getattr__(self, name: str) -> Any:
            return getattr(self._db, name)

    async def go() -> None:
        client: AsyncMongoClient[Any] = AsyncMongoClient(url)
        try:
            await apply_indexes(Renamed(client["statements"]), ensure_indexes)  # type: ignore[arg-type]
        finally:
            await client.close()

    asyncio.run(go())


def _build(upstream: bool) -> Path:
    """The binary `scripts/install-ferretdb.sh` builds (or finds cached): the platform's
    changes applied, or FerretDB as published."""
    out = subprocess.run(
        ["bash", str(ROOT / "scripts" / "install-ferretdb.sh")],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "FERRETDB_UPSTREAM": "1" if upstream else "0"},
    ).stdout
    return Path(out.strip().splitlines()[-1])


def platform_build() -> Path:
    return _build(upstream=False)


def upstream_build() -> Path:
    return _build(upstream=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--build", action="append", default=[], metavar="NAME=BINARY")
    parser.add_argument("--sync", default="full", help="comma-separated: full, normal, tmpfs")
    parser.add_argument(
        "--gogc", default=DEFAULT_GOGC, help="comma-separated GOGC values for FerretDB"
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--statements", type=int, default=300)
    parser.add_argument("--profile", type=Path, help="a folder for CPU profiles per kind")
    parser.add_argument("--profile-seconds", type=int, default=10)
    args = parser.parse_args()
    if not 50 <= args.statements <= 5000 or not 1 <= args.rounds <= 20:
        parser.error("bounded: 50 <= statements <= 5,000, 1 <= rounds <= 20")
    syncs = args.sync.split(",")
    if any(s not in SYNC for s in syncs):
        parser.error(f"--sync takes {', '.join(SYNC)}")
    builds = dict(b.split("=", 1) for b in args.build) if args.build else {}
    binaries = {name: Path(path) for name, path in builds.items()} or {
        "as published": upstream_build(),
        "platform": platform_build(),
    }
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
    for name, binary in binaries.items():
        print(f"{name}: {binary}")
    print(f"load average before: {' '.join(f'{v:.2f}' for v in os.getloadavg())}", flush=True)
    results: dict[tuple[str, str], dict[str, tuple[float, float]]] = {}
    for gogc in args.gogc.split(","):
        for sync in syncs:
            for name, binary in binaries.items():
                setting = sync if gogc == DEFAULT_GOGC else f"{sync}, GOGC {gogc}"
                results[(name, setting)] = run_build(name, binary, sync, gogc, args)
                print(f"  done: {name}, {setting}", flush=True)
    print(f"load average after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    columns = list(results)
    first = columns[0]
    header = "".join(f"{f'{n} ({s})':>30}" for n, s in columns)
    print(f"\nFerretDB CPU ms per statement (statements/s){'':2}{header}")
    for kind in (k for k in results[first] if k != RSS):
        cells = []
        for column in columns:
            cpu, rate = results[column][kind]
            ratio = cpu / results[first][kind][0]
            cells.append(f"{cpu:7.3f} {ratio:4.2f}x ({rate:6.0f}/s)")
        print(f"{kind:46}" + "".join(f"{c:>30}" for c in cells))
    print(f"{RSS:46}" + "".join(f"{results[column][RSS][0]:>28.0f}  " for column in columns))


if __name__ == "__main__":
    main()
