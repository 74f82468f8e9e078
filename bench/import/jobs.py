"""Benchmark: a whole import through the import service's API, beside raw `insert_many`.

Starts its own FerretDB (embedded SQLite) and NATS in a temporary directory and the
services an import involves as real processes (imports, contacts, deals, tasks: the
owners, and the deals service's consumer of `company.created`). For each record type and
size it writes a generated CSV, uploads it to the import service as the gateway forwards a
multipart upload (the manifest it signed, then the bytes), creates the job, sets the
mapping and starts the real run through the service's GraphQL API, then polls the job
until it is COMPLETED. Beside it, the same number of comparable documents written with raw
`insert_many` (1,000 a statement) into a database of their own on the same server: the
floor of what a write costs.

Prints rows/s of the job (start to COMPLETED) and of raw `insert_many`, their ratio, how
long after COMPLETED every event was published and the deals service had taken in every
company (`company.created` -> its company facts), the peak resident memory of the import
service and of the owner, and CPU seconds per 1,000 rows of each process (the database
server's too: rates swing with the machine's load, CPU per row much less). Bounded: at
most 200,000 rows a size; every process stops at the end.

    .venv/bin/python bench/import/jobs.py [--sizes 10000,100000] [--records companies,deals]
        [--batch-rows N] [--spy DIR] [--timeline DIR]

Also prints FerretDB's commands per 1,000 rows by command (its `/debug/metrics`, every
client: the services' statements) and the tasks service's CPU (its consumers of the deals'
events run beside the import). `--spy DIR`: FerretDB's Go CPU profile over the job's first
`--pprof-seconds` (`<kind>-<rows>.pprof`, read with `go tool pprof -top`), and py-spy
samples of the import service and the owner where py-spy is installed
(`<kind>-<rows>-<service>.txt`, collapsed stacks). `--cprofile DIR` runs each service
under cProfile (`DIR/<service>.prof`, written when the run stops them) and tallies its
database commands by collection and filter shape (`DIR/<service>.prof.commands`: count,
documents returned, seconds); `--commands-only` the tally without the profile.
`--timeline DIR`: each process's CPU second by second during the job
(`DIR/<kind>-<rows>.timeline`) and a summary line (mean cores, share of seconds a core busy):
which stage waits on which.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import csv
import hashlib
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
for sub in ("libs", "services/contacts", "services/deals", "services/imports"):
    sys.path.insert(0, str(ROOT / sub))
sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("JWT_SECRET", "bench-secret-" + "x" * 40)

import cpu  # noqa: E402
import ferret_requests  # noqa: E402
import httpx  # noqa: E402
import orjson  # noqa: E402
import psutil  # noqa: E402
import timeline  # noqa: E402
from pymongo import AsyncMongoClient  # noqa: E402
from sinks import company_row, deal_row, raw_rate  # noqa: E402

from crm_contracts import imports as contract  # noqa: E402
from crm_contracts.streams import RPC_HEADER_ASSERTION  # noqa: E402
from crm_kit.context import RequestContext  # noqa: E402
from crm_kit.devstack import InfraStack, free_port, spawn, wait_http_ok  # noqa: E402
from crm_kit.paths import python_path  # noqa: E402
from crm_kit.testing import GraphQLClient, _gateway_keys, gateway_auth  # noqa: E402

SERVICES = ("contacts", "deals", "tasks", "imports")
OWNER = {"companies": "contacts", "deals": "deals"}
ADMIN = RequestContext("bench", "ann", frozenset({"admin"}))
CREATE = """mutation($f: Upload!, $t: ImportRecordType!) { createImport(file: $f,
  recordType: $t) { id } }"""
MAP = """mutation($id: ID!, $m: JSON!) { setImportMapping(jobId: $id, mapping: $m) { status } }"""
START = """mutation($id: ID!) { startImport(jobId: $id, dryRun: false) { status } }"""
JOB = """query($id: ID!) { importJob(id: $id) { status error
  progress { rowsRead created failed skipped } } }"""
COLUMNS = {
    "companies": {
        "external_id": "Id",
        "name": "Name",
        "industry": "Industry",
        "size": "Employees",
        "address.country": "Country",
        "tags": "Tags",
    },
    "deals": {
        "external_id": "Deal ID",
        "owner": "Sales agent",
        "product": "Product",
        "stage": "Stage",
        "engaged_at": "Engaged",
        "close_date": "Closed",
        "amount": "Value",
        "custom.region": "Region",
    },
}


def write_csv(path: Path, kind: str, rows: int) -> None:
    """The rows `bench/import/sinks.py` sends, as a file's columns."""
    columns = COLUMNS[kind]
    row_of: Callable[[int, bool], dict[str, Any]] = company_row if kind == "companies" else deal_row
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(columns.values())
        for n in range(rows):
            values = row_of(n, False)
            cells = []
            for field in columns:
                value = values.get(field, "")
                cells.append(";".join(value) if isinstance(value, list) else value)
            writer.writerow(cells)


class Services:
    """The services as processes on free ports, stopped at the end."""

    def __init__(
        self,
        infra: InfraStack,
        logs: Path,
        batch_rows: int,
        cprofile: Path | None = None,
        commands_only: bool = False,
    ) -> None:
        self.cprofile = cprofile
        self.commands_only = commands_only
        self.ports = {name: free_port() for name in SERVICES}
        self.env = {
            **os.environ,
            "PYTHONPATH": python_path(),
            "MONGODB_URI": infra.mongodb_uri,
            "NATS_URL": infra.nats_url,
            "CRM_DB_PREFIX": "bench",
            "LOG_LEVEL": "WARNING",
        }
        if batch_rows:
            self.env["IMPORT_BATCH_ROWS"] = str(batch_rows)
        for name, port in self.ports.items():
            self.env[f"{name.upper()}_PORT"] = str(port)
            self.env[f"{name.upper()}_HOST"] = "127.0.0.1"
        self.logs = logs
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    def start(self) -> None:
        for name in SERVICES:
            log = self.logs / f"{name}.log"
            command = [sys.executable, "-m", f"crm_{name}"]
            if self.cprofile is not None:
                # The profile is written when the service exits on the stop's SIGTERM.
                self.cprofile.mkdir(parents=True, exist_ok=True)
                out = self.cprofile / f"{name}.prof"
                profiled = Path(__file__).resolve().parent / "profiled.py"
                command = [sys.executable, str(profiled), str(out), f"crm_{name}"]
                if self.commands_only:
                    command.append("--commands-only")
            process = spawn(command, log, env=self.env, cwd=ROOT)
            self.processes[name] = process
            wait_http_ok(f"{self.url(name)}/ready", process, log, 120.0)

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    def pid(self, name: str) -> int:
        return self.processes[name].pid

    def stop(self) -> None:
        for process in self.processes.values():
            process.terminate()
        for process in self.processes.values():
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()


class PeakMemory:
    """The peak resident memory of some processes, sampled every 0.2 s."""

    def __init__(self, pids: dict[str, int]) -> None:
        self._processes = {name: psutil.Process(pid) for name, pid in pids.items()}
        self.peak = dict.fromkeys(pids, 0)
        self._task: asyncio.Task[None] | None = None

    async def _sample(self) -> None:
        while True:
            for name, process in self._processes.items():
                self.peak[name] = max(self.peak[name], process.memory_info().rss)
            await asyncio.sleep(0.2)

    def __enter__(self) -> PeakMemory:
        self._task = asyncio.get_running_loop().create_task(self._sample())
        return self

    def __exit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()


def manifest_of(path: Path) -> contract.UploadManifest:
    digest = hashlib.sha256()
    with path.open("rb") as source:
        for chunk in iter(lambda: source.read(1 << 20), b""):
            digest.update(chunk)
    return contract.UploadManifest(
        file_name=path.name, size=path.stat().st_size, sha256=digest.hexdigest()
    )


async def upload(http: httpx.AsyncClient, base: str, path: Path) -> str:
    """The file to the import service as the gateway forwards an upload: a manifest it
    signed (name, size, SHA-256), then the bytes."""
    manifest = manifest_of(path)
    signed = orjson.dumps(manifest.wire())
    token = _gateway_keys().mint(audience=contract.UPLOAD_AUDIENCE, context=ADMIN, body=signed)
    headers = {
        RPC_HEADER_ASSERTION: token,
        contract.UPLOAD_MANIFEST_HEADER: base64.urlsafe_b64encode(signed).decode(),
    }

    body = await asyncio.to_thread(path.read_bytes)  # a few MB: the gateway spools them too
    stored = await http.post(f"{base}{contract.UPLOAD_PATH}", content=body, headers=headers)
    stored.raise_for_status()
    return str(stored.json()["uploadId"])


async def run_job(client: GraphQLClient, upload_id: str, kind: str) -> tuple[float, dict[str, Any]]:
    job = (await client.data(CREATE, {"f": upload_id, "t": kind.upper()}))["createImport"]
    mapping = {"target": kind, "fields": COLUMNS[kind]}
    if kind == "deals":
        mapping["currency"] = "USD"
    await client.data(MAP, {"id": job["id"], "m": mapping})
    started = time.monotonic()
    await client.data(START, {"id": job["id"]})
    while True:
        found = (await client.data(JOB, {"id": job["id"]}))["importJob"]
        if found["status"] not in ("QUEUED", "RUNNING"):
            return time.monotonic() - started, found
        await asyncio.sleep(0.25)


async def settled(
    client: AsyncMongoClient[Any], kind: str, rows: int, deadline: float = 900.0
) -> float:
    """Seconds until the owner published every event of the import and, for companies,
    the deals service holds a fact for each (its consumer of `company.created`)."""
    started = time.monotonic()
    owner = client[f"bench_{OWNER[kind]}"]
    while await owner["import_batches"].count_documents({"_outbox_pending": True}):
        if time.monotonic() - started > deadline:
            return float("nan")
        await asyncio.sleep(0.5)
    if kind == "companies":
        facts = client["bench_deals"]["company_facts"]
        while await facts.estimated_document_count() < rows:
            if time.monotonic() - started > deadline:
                return float("nan")
            await asyncio.sleep(0.5)
    return time.monotonic() - started


class Spy:
    """py-spy sampling some processes while a phase runs (collapsed stacks)."""

    def __init__(self, pids: dict[str, int], out: Path | None, name: str) -> None:
        self._pids, self._out, self._name = pids, out, name
        self._spies: list[subprocess.Popen[bytes]] = []

    def __enter__(self) -> Spy:
        spy = Path(sys.executable).parent / "py-spy"
        if self._out is None or not spy.exists():
            return self
        self._out.mkdir(parents=True, exist_ok=True)
        for service, pid in self._pids.items():
            target = self._out / f"{self._name}-{service}.txt"
            command = [str(spy), "record", "--pid", str(pid), "--format", "raw", "-o", str(target)]
            self._spies.append(
                subprocess.Popen(
                    [*command, "--rate", "50", "--nonblocking"],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
        return self

    def __exit__(self, *exc: object) -> None:
        for spy in self._spies:
            spy.send_signal(2)  # SIGINT: py-spy writes what it sampled and exits
        for spy in self._spies:
            try:
                spy.wait(60)
            except subprocess.TimeoutExpired:
                spy.kill()


async def go_profile(metrics_url: str, seconds: int) -> bytes:
    """FerretDB's CPU profile (Go's pprof, on its debug address) over `seconds`."""
    url = metrics_url.replace("/debug/metrics", f"/debug/pprof/profile?seconds={seconds}")
    async with httpx.AsyncClient(timeout=seconds + 30, trust_env=False) as http:
        return (await http.get(url)).content


async def bench(
    infra: InfraStack,
    services: Services,
    kinds: list[str],
    sizes: list[int],
    tmp: Path,
    spy: Path | None = None,
    pprof_seconds: int = 25,
    timeline_dir: Path | None = None,
) -> None:
    db_pid = next(s for s in infra.servers if s.name == "ferretdb").process.pid
    nats_pid = next(s for s in infra.servers if s.name == "nats").process.pid
    pids = {name: services.pid(name) for name in SERVICES}
    mongo: AsyncMongoClient[Any] = AsyncMongoClient(infra.mongodb_uri, tz_aware=True)
    auth = gateway_auth("imports", ADMIN.workspace_id, ADMIN.subject, "admin")
    async with httpx.AsyncClient(timeout=600) as http:
        client = GraphQLClient(http, auth, f"{services.url('imports')}/graphql")
        try:
            for kind in kinds:
                for rows in sizes:
                    raw = await raw_rate(infra.mongodb_uri, f"raw_{kind}", kind, rows, False)
                    path = tmp / f"{kind}-{rows}.csv"
                    write_csv(path, kind, rows)
                    upload_id = await upload(http, services.url("imports"), path)
                    owner = OWNER[kind]
                    meter = cpu.Meter(
                        db_pid, pids["imports"], pids[owner], pids["deals"], pids["tasks"]
                    )
                    metrics_url = f"http://{os.environ['CRM_FERRETDB_DEBUG_ADDR']}/debug/metrics"
                    before = await ferret_requests.requests(metrics_url)
                    sampled = {"imports": pids["imports"], owner: pids[owner]}
                    profiled = None
                    if spy is not None:
                        profiled = asyncio.create_task(go_profile(metrics_url, pprof_seconds))
                    staged = {"database": db_pid, "nats": nats_pid, **pids}
                    track = timeline.Timeline(
                        staged, (timeline_dir or tmp) / f"{kind}-{rows}.timeline"
                    )
                    with PeakMemory(pids) as memory, meter, Spy(sampled, spy, f"{kind}-{rows}"):
                        with track:
                            seconds, job = await run_job(client, upload_id, kind)
                        after = await settled(mongo, kind, rows)
                    commands = ferret_requests.report(
                        before, await ferret_requests.requests(metrics_url), rows
                    )
                    if spy is not None and profiled is not None:
                        profile = await profiled
                        await asyncio.to_thread(spy.mkdir, parents=True, exist_ok=True)
                        await asyncio.to_thread((spy / f"{kind}-{rows}.pprof").write_bytes, profile)
                    if job["status"] != "COMPLETED" or job["progress"]["created"] != rows:
                        raise SystemExit(f"{kind} {rows}: {job}")
                    rate = rows / seconds
                    python, db, imports, owner_cpu, deals, tasks = (
                        s * 1000 / rows for s in meter.seconds
                    )
                    mb = {name: peak / 1e6 for name, peak in memory.peak.items()}
                    print(
                        f"{kind:>9} {rows:>7} rows: job {rate:6.0f} rows/s ({seconds:6.1f} s),"
                        f" raw insert_many {raw:6.0f} rows/s, ratio {rate / raw:4.2f};"
                        f" events published and consumed {after:5.1f} s after;"
                        f" file {path.stat().st_size / 1e6:.1f} MB\n"
                        f"{'':>17} peak RSS MB: imports {mb['imports']:.0f}, {owner}"
                        f" {mb[owner]:.0f}"
                        + (f", deals {mb['deals']:.0f}" if owner != "deals" else "")
                        + "\n"
                        f"{'':>17} CPU s per 1,000 rows: database {db:.2f}, imports"
                        f" {imports:.2f}, {owner} {owner_cpu:.2f}"
                        + (f", deals {deals:.2f}" if owner != "deals" else "")
                        + f"; tasks {tasks:.2f} (bench {python:.2f})\n"
                        f"{'':>17} {commands}"
                        + (f"\n{'':>17} {track.summary()}" if timeline_dir else ""),
                        flush=True,
                    )
                    path.unlink()
        finally:
            await mongo.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--records", default="companies,deals", help="companies, deals")
    parser.add_argument(
        "--batch-rows", type=int, default=0, help="IMPORT_BATCH_ROWS (default: the service's)"
    )
    parser.add_argument("--spy", type=Path, help="profile FerretDB (and services) into DIR")
    parser.add_argument("--pprof-seconds", type=int, default=25)
    parser.add_argument(
        "--timeline",
        type=Path,
        help="CPU of each process second by second during the job: DIR/<kind>-<rows>.timeline,"
        " and a summary (mean cores, share of seconds a core busy)",
    )
    parser.add_argument(
        "--cprofile",
        type=Path,
        help="run each service under cProfile: DIR/<service>.prof, and its database commands"
        " by collection and filter shape: DIR/<service>.prof.commands",
    )
    parser.add_argument(
        "--commands-only", action="store_true", help="with --cprofile: the commands, no profile"
    )
    args = parser.parse_args()
    sizes = [max(1, min(int(s), 200_000)) for s in args.sizes.split(",")]
    kinds = [k for k in args.records.split(",") if k in COLUMNS]
    if args.timeline is not None:
        args.timeline.mkdir(parents=True, exist_ok=True)
    # FerretDB's request counters (`/debug/metrics`): the services' statements by command.
    os.environ.setdefault("CRM_FERRETDB_DEBUG_ADDR", f"127.0.0.1:{free_port()}")
    with tempfile.TemporaryDirectory(prefix="crm-bench-") as tmp:
        os.environ["CRM_DATA_DIR"] = tmp  # credentials of this run only
        infra = InfraStack(Path(tmp), free_port(), free_port()).start()
        services = Services(infra, Path(tmp), args.batch_rows, args.cprofile, args.commands_only)
        try:
            services.start()
            asyncio.run(
                bench(
                    infra,
                    services,
                    kinds,
                    sizes,
                    Path(tmp),
                    args.spy,
                    args.pprof_seconds,
                    args.timeline,
                )
            )
        finally:
            services.stop()
            infra.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
