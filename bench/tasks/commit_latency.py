"""What a SQLite commit costs on this machine's disk against tmpfs, as FerretDB v1.24 opens
its SQLite files (WAL, SQLite's default `synchronous=FULL`: a fsync of the WAL per commit)
and with `synchronous=NORMAL` (WAL fsynced at checkpoints only), side by side in one run.

Why: the playbook path (`run.py`) keeps up at 50 stage changes/s on tmpfs and falls
behind on disk at the same CPU per change; FerretDB's SQLite backend commits every insert
statement, every update of a grouped update and every findAndModify on its own, each a
fsync on disk (`statements.py` counts them per stage change, `bench/deals/moves.py` per
move). This measures the fsync bill alone: one writer, one small row a commit (a
deal-sized JSON document), in a temporary directory of each filesystem, then removed.

    .venv/bin/python bench/tasks/commit_latency.py [--commits 300] [--dir PATH ...] [--ferretdb]

The default directories: the system's temporary directory (where `run.py` and the tests
put FerretDB's data: the disk here) and /dev/shm (what `run.py --tmpfs` uses).
`--ferretdb` also times single-document inserts through a FerretDB of the platform's
build started here for each directory and mode (its own, 127.0.0.1, no authentication,
stopped after), `synchronous=NORMAL` asked for with `_pragma=synchronous(normal)` on its
`--sqlite-url`, which FerretDB v1.24 passes to SQLite: whether the flag takes, and what
it changes for a whole statement (FerretDB's CPU per insert beside it).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "libs"))

# About a deal's document as FerretDB stores it (JSON text).
ROW_BYTES = 2_000
SYNC_MODES = ("FULL", "NORMAL")


def measure(directory: Path, sync: str, commits: int) -> dict[str, Any]:
    """`commits` transactions of one row each; their latencies' median, p99 and rate."""
    with tempfile.TemporaryDirectory(prefix="crm-commit-latency-", dir=directory) as tmp:
        connection = sqlite3.connect(Path(tmp) / "probe.db", isolation_level=None)
        try:
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute(f"PRAGMA synchronous={sync}")
            connection.execute("CREATE TABLE documents (id INTEGER PRIMARY KEY, json TEXT)")
            row = "x" * ROW_BYTES
            took: list[float] = []
            for _ in range(commits):
                started = time.perf_counter()
                connection.execute("BEGIN")
                connection.execute("INSERT INTO documents (json) VALUES (?)", (row,))
                connection.execute("COMMIT")
                took.append(time.perf_counter() - started)
        finally:
            connection.close()
    took.sort()
    return {
        "directory": str(directory),
        "synchronous": sync,
        "commits": commits,
        "p50_ms": round(took[len(took) // 2] * 1000, 3),
        "p99_ms": round(took[min(len(took) - 1, int(len(took) * 0.99))] * 1000, 3),
        "commits_per_s": round(commits / sum(took)),
    }


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _inserts(url: str, commits: int) -> tuple[list[float], int]:
    from pymongo import AsyncMongoClient

    row = {"json": "x" * ROW_BYTES}
    took: list[float] = []
    async with AsyncMongoClient(url, serverSelectionTimeoutMS=10_000) as client:
        collection = client["commit_latency"]["documents"]
        await collection.insert_one({"warm": True})
        for _ in range(commits):
            started = time.perf_counter()
            await collection.insert_one(dict(row))
            took.append(time.perf_counter() - started)
    return took, commits


def measure_ferretdb(directory: Path, sync: str, commits: int) -> dict[str, Any]:
    """`commits` single-document inserts through a FerretDB of this directory."""
    from crm_kit.devstack import ferretdb_binary, free_port, spawn, wait_for_port

    with tempfile.TemporaryDirectory(prefix="crm-commit-latency-", dir=directory) as tmp:
        data = Path(tmp)
        (data / "sqlite").mkdir()
        pragma = "?_pragma=synchronous(normal)" if sync == "NORMAL" else ""
        port = free_port()
        process = spawn(
            [
                str(ferretdb_binary()),
                "--handler=sqlite",
                f"--sqlite-url=file:{data / 'sqlite'}/{pragma}",
                f"--state-dir={data}",
                f"--listen-addr=127.0.0.1:{port}",
                "--debug-addr=-",
                "--telemetry=disable",
                "--log-level=warn",
            ],
            data / "ferretdb.log",
        )
        try:
            wait_for_port(port, 60.0, process)
            cpu = _cpu_seconds(process.pid)
            took, n = asyncio.run(_inserts(f"mongodb://127.0.0.1:{port}/", commits))
            cpu = _cpu_seconds(process.pid) - cpu
        finally:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    took.sort()
    return {
        "directory": str(directory),
        "synchronous": f"{sync} (FerretDB)",
        "commits": n,
        "p50_ms": round(took[len(took) // 2] * 1000, 3),
        "p99_ms": round(took[min(len(took) - 1, int(len(took) * 0.99))] * 1000, 3),
        "commits_per_s": round(n / sum(took)),
        "ferretdb_cpu_ms_per_insert": round(cpu * 1000 / n, 3),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--commits", type=int, default=300)
    parser.add_argument(
        "--dir",
        action="append",
        type=Path,
        help="a directory to measure in (repeatable; default: the temporary directory "
        "and /dev/shm)",
    )
    parser.add_argument(
        "--ferretdb",
        action="store_true",
        help="also time inserts through a FerretDB started here per directory and mode",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object only")
    args = parser.parse_args(argv)
    if not 0 < args.commits <= 10_000:
        parser.error("bounded: 0 < commits <= 10000")
    directories = args.dir or [
        Path(tempfile.gettempdir()),
        *([Path("/dev/shm")] if Path("/dev/shm").is_dir() else []),
    ]
    results = [measure(d, sync, args.commits) for d in directories for sync in SYNC_MODES]
    if args.ferretdb:
        results += [
            measure_ferretdb(d, sync, args.commits) for d in directories for sync in SYNC_MODES
        ]
    base = results[0]["p50_ms"] or 1e-9
    report = {"load_average": [round(n, 2) for n in os.getloadavg()], "results": results}
    if args.json:
        print(json.dumps(report))
        return 0
    print(f"SQLite commits (WAL, one {ROW_BYTES:,}-byte row each), {args.commits} per line:")
    print(f"{'directory':20} {'synchronous':>18} {'p50 ms':>8} {'p99 ms':>8} {'commits/s':>10}")
    for r in results:
        cpu = r.get("ferretdb_cpu_ms_per_insert")
        print(
            f"{r['directory']:20} {r['synchronous']:>18} {r['p50_ms']:>8.3f} "
            f"{r['p99_ms']:>8.3f} {r['commits_per_s']:>10,}  "
            f"(p50 {r['p50_ms'] / base:.3f}x the first line"
            + (f"; FerretDB CPU {cpu:.3f} ms an insert)" if cpu is not None else ")")
        )
    print(f"load average: {' '.join(map(str, report['load_average']))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
