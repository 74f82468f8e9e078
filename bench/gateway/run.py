"""Gateway benchmark: this gateway vs Apollo Gateway vs Hive Gateway over the same subgraphs.

For each gateway it sends the unified pipeline query and a simple cross-subgraph query with
varying variables, then prints requests/s, p50/p99 latency and the gateway's CPU seconds per
1,000 requests (user+system time of the gateway's process tree), with ratios to this gateway.
It ends with this gateway's CPU per request as a fraction of each peer's against the
targets of issue 14.5 (at most 0.4x Apollo Gateway, 0.3x Hive Gateway), and the load average.

    python bench/gateway/run.py                  # real subgraphs if they answer, else fakes
    python bench/gateway/run.py --fake-subgraphs # always the in-repo fake subgraphs
    python bench/gateway/run.py --fake-subgraphs --port-base 5100  # beside another run

`--tracing on` has this gateway trace every request (OpenTelemetry, exported by OTLP to a
local sink that drops what it gets: `otlp_sink.py`); by default tracing is off, as in
`make run`.

This gateway runs as in production: it verifies a bearer token and signs each subgraph
request with an internal assertion (`--auth off` measures without both; `--assertion-cache
N` sets how many it reuses, 0 none). `assertions.py` beside this file measures what the
assertions cost alone. Its admission limits (rate per token and address, requests in
flight, bad-token lockout) are off by default, because a closed loop of a few clients
sending as fast as they can is what they exist to stop; `--limits default` keeps the
gateway's defaults (sized for 200 users behind one address) to see what they cost.
The real subgraphs accept only the gateway's assertions, which the reference gateways
cannot make: against them only this gateway is measured.

Everything listens on 127.0.0.1; every run is bounded by a request count and a time limit.
The reference gateways are installed from npm into bench/.peers (gitignored).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
PEERS_SRC = HERE / "peers"
PEERS_DIR = REPO / "bench" / ".peers"
COMPOSE = REPO / "gateway" / "compose" / "compose.mjs"
PYTHONPATH = "libs:services/contacts:services/deals:services/tasks:gateway"
sys.path.insert(0, str(REPO / "libs"))  # crm_kit: tokens for this gateway, signed discovery

REAL_PORTS = {"contacts": 4001, "deals": 4002, "tasks": 4003}
DEFAULT_PORT_BASE = 4100


def fake_ports(base: int) -> dict[str, int]:
    return {"contacts": base + 1, "deals": base + 2, "tasks": base + 3}


def gateway_ports(base: int) -> dict[str, int]:
    return {"crm": base + 10, "apollo": base + 11, "hive": base + 12}


PIPELINE_QUERY = """
query PipelineBoard($pipelineId: ID) {
  pipelineBoard(pipelineId: $pipelineId) {
    columns {
      stage { name }
      count
      totalAmount
      deals(first: 10) {
        edges {
          node {
            id
            title
            company { name }
            primaryContact {
              firstName
              lastName
              interactions(first: 3) { edges { node { kind subject } } }
            }
            tasks(status: OPEN) { title dueAt assigneeId }
          }
        }
      }
    }
  }
}
"""

DEAL_QUERY = """
query OneDeal($id: ID!) {
  deal(id: $id) {
    id
    title
    company { name }
    tasks(status: OPEN) { title }
  }
}
"""


# --- a lean HTTP/1.1 client: the load generator must cost less CPU than what it measures ---


class Conn:
    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
            "Content-Type: application/json\r\nAccept: application/json\r\n"
            + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
            + f"Content-Length: {len(body)}\r\n\r\n"
        )
        self.writer.write(head.encode() + body)
        assert self.reader is not None
        status_line = await self.reader.readline()
        status = int(status_line.split()[1])
        length = -1
        chunked = False
        close = False
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b""):
                break
            k, _, v = line.decode().partition(":")
            k = k.strip().lower()
            if k == "content-length":
                length = int(v)
            elif k == "transfer-encoding" and "chunked" in v.lower():
                chunked = True
            elif k == "connection" and "close" in v.lower():
                close = True
        if chunked:
            parts = []
            while True:
                size = int((await self.reader.readline()).strip().split(b";")[0], 16)
                if size == 0:
                    await self.reader.readline()
                    break
                parts.append(await self.reader.readexactly(size))
                await self.reader.readline()
            data = b"".join(parts)
        else:
            data = await self.reader.readexactly(length)
        if close:
            self.close()
        return status, data

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


@dataclass
class LoadResult:
    requests: int
    errors: int
    seconds: float
    latencies: list[float]
    cpu_seconds: float

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def pct(self, p: float) -> float:
        s = sorted(self.latencies)
        return s[min(len(s) - 1, int(p * len(s)))] * 1000 if s else float("nan")

    @property
    def cpu_per_1k(self) -> float:
        return self.cpu_seconds / self.requests * 1000 if self.requests else float("nan")


async def load(
    port: int,
    bodies: list[bytes],
    total: int,
    concurrency: int,
    time_limit: float,
    headers: dict[str, str],
    pid: int,
) -> LoadResult:
    latencies: list[float] = []
    errors = 0
    sent = 0
    deadline = time.perf_counter() + time_limit

    async def worker() -> None:
        nonlocal sent, errors
        conn = Conn("127.0.0.1", port)
        try:
            while sent < total and time.perf_counter() < deadline:
                body = bodies[sent % len(bodies)]
                sent += 1
                t0 = time.perf_counter()
                try:
                    status, data = await conn.post("/graphql", body, headers)
                    if status != 200 or b'"errors"' in data:
                        errors += 1
                except (OSError, asyncio.IncompleteReadError, ValueError):
                    errors += 1
                    conn.close()
                latencies.append(time.perf_counter() - t0)
        finally:
            conn.close()

    cpu0 = tree_cpu_seconds(pid)
    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - t0
    cpu = tree_cpu_seconds(pid) - cpu0
    return LoadResult(len(latencies), errors, elapsed, latencies, cpu)


# --- processes -----------------------------------------------------------------------------

CLK = os.sysconf("SC_CLK_TCK")


def _children() -> dict[int, list[int]]:
    out: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        out.setdefault(ppid, []).append(int(entry))
    return out


def tree_cpu_seconds(pid: int) -> float:
    """User+system CPU of a process and its live descendants (node may fork workers)."""
    kids = _children()
    total = 0.0
    stack = [pid]
    while stack:
        p = stack.pop()
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / CLK
        stack.extend(kids.get(p, []))
    return total


def start(cmd: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        cmd,
        cwd=REPO,
        env={**os.environ, **env},
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


async def wait_graphql(
    port: int,
    deadline_s: float,
    proc: subprocess.Popen | None = None,
    headers: dict[str, str] | None = None,
) -> bool:
    """Polls `{ __typename }` until it answers or the deadline passes."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            return False
        conn = Conn("127.0.0.1", port)
        try:
            status, _ = await conn.post("/graphql", b'{"query":"{ __typename }"}', headers or {})
            if status < 500:
                return True
        except (OSError, asyncio.IncompleteReadError, ValueError):
            pass
        finally:
            conn.close()
        await asyncio.sleep(0.1)
    return False


def install_peers() -> None:
    PEERS_DIR.mkdir(parents=True, exist_ok=True)
    for f in ("package.json", "apollo.mjs"):
        shutil.copy(PEERS_SRC / f, PEERS_DIR / f)
    stamp = PEERS_DIR / "node_modules" / ".bench-installed"
    want = (PEERS_SRC / "package.json").read_text()
    if stamp.exists() and stamp.read_text() == want:
        return
    print("installing Apollo Gateway and Hive Gateway from npm into bench/.peers ...", flush=True)
    subprocess.run(
        ["npm", "install", "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=PEERS_DIR,
        check=True,
        timeout=900,
    )
    stamp.write_text(want)


def compose(subgraphs: dict[str, tuple[str, Path]], out: Path) -> None:
    args = ["node", str(COMPOSE), "--out", str(out)]
    for name, (url, path) in subgraphs.items():
        args += ["--subgraph", f"{name}={url}={path}"]
    subprocess.run(args, check=True, timeout=120, cwd=REPO)


# The crm gateway's admission limits turned off (`--limits off`).
NO_LIMITS = {
    "GATEWAY_RATE_PER_IP": "0",
    "GATEWAY_RATE_PER_TOKEN": "0",
    "GATEWAY_MAX_IN_FLIGHT": "0",
    "GATEWAY_AUTH_LOCK_AFTER": "0",
    "GATEWAY_MAX_COST": "10000000",
}


def gateway_command(
    kind: str, supergraph: Path, port: int, args: argparse.Namespace
) -> tuple[list[str], dict[str, str]]:
    if kind == "crm":
        env = {
            "PYTHONPATH": PYTHONPATH,
            "GATEWAY_PORT": str(port),
            "GATEWAY_HOST": "127.0.0.1",
            "SUPERGRAPH_PATH": str(supergraph),
            "GATEWAY_AUTH": args.auth,
            "GATEWAY_LOG_LEVEL": "WARNING",
            "METRICS_PORT": "0",  # never collide with a running stack's metrics port
        }
        if args.otlp_endpoint:
            # Every request traced (the default sampler), exported to the local sink.
            env["OTEL_EXPORTER_OTLP_ENDPOINT"] = args.otlp_endpoint
        if args.assertion_cache is not None:
            env["GATEWAY_ASSERTION_CACHE_SIZE"] = str(args.assertion_cache)
        if args.limits == "off":
            env.update(NO_LIMITS)
        return [sys.executable, "-m", "crm_gateway"], env
    if kind == "apollo":
        return ["node", str(PEERS_DIR / "apollo.mjs"), str(supergraph), str(port)], {
            "APOLLO_TELEMETRY_DISABLED": "true",
            "NODE_ENV": "production",
        }
    hive_bin = PEERS_DIR / "node_modules" / "@graphql-hive" / "gateway" / "dist" / "bin.js"
    return [
        "node",
        str(hive_bin),
        "supergraph",
        str(supergraph),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--fork",
        "1",
    ], {"NODE_ENV": "production"}


def normalize(data: bytes) -> Any:
    body = orjson.loads(data)
    return body.get("data")


async def bench_gateway(
    kind: str,
    supergraph: Path,
    queries: dict[str, list[bytes]],
    args: argparse.Namespace,
    headers: dict[str, str],
    logs: Path,
    reference: dict[str, Any],
) -> dict[str, LoadResult] | None:
    port = gateway_ports(args.port_base)[kind]
    cmd, env = gateway_command(kind, supergraph, port, args)
    proc = start(cmd, env, logs / f"{kind}.log")
    try:
        if not await wait_graphql(port, 90, proc, headers):
            print(f"  {kind}: did not start, see {logs / f'{kind}.log'}")
            return None
        out: dict[str, LoadResult] = {}
        for name, bodies in queries.items():
            conn = Conn("127.0.0.1", port)
            _, first = await conn.post("/graphql", bodies[0], headers)
            conn.close()
            data = normalize(first)
            if name in reference and data != reference[name]:
                print(f"  WARNING {kind} {name}: answer differs from crm gateway's")
            reference.setdefault(name, data)
            await load(port, bodies, args.warmup, args.concurrency, 60, headers, proc.pid)
            out[name] = await load(
                port, bodies, args.requests, args.concurrency, args.time_limit, headers, proc.pid
            )
        return out
    finally:
        stop(proc)


def print_table(results: dict[str, dict[str, LoadResult]]) -> None:
    queries = sorted({q for r in results.values() for q in r})
    for q in queries:
        print(f"\n== {q}")
        print(
            f"{'gateway':<10}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'CPU s/1k':>11}"
            f"{'errors':>8}{'req/s ratio':>13}{'CPU ratio':>11}"
        )
        base = results.get("crm", {}).get(q)
        for kind, per in results.items():
            r = per.get(q)
            if r is None:
                continue
            rr = r.rps / base.rps if base and base.rps else float("nan")
            cr = r.cpu_per_1k / base.cpu_per_1k if base and base.cpu_per_1k else float("nan")
            print(
                f"{kind:<10}{r.rps:>10.1f}{r.pct(0.5):>10.2f}{r.pct(0.99):>10.2f}"
                f"{r.cpu_per_1k:>11.3f}{r.errors:>8}{rr:>13.2f}{cr:>11.2f}"
            )
    print(
        "\nratios are relative to crm (this gateway): CPU ratio > 1 means the peer uses more "
        "CPU per request"
    )
    print_targets(results, queries)


# Issue 14.5: this gateway's CPU per request as a fraction of each peer's, on both queries.
CPU_TARGETS = {"apollo": 0.4, "hive": 0.3}


def print_targets(results: dict[str, dict[str, LoadResult]], queries: list[str]) -> None:
    """This gateway's CPU per 1,000 requests divided by each peer's (lower is better), with
    the target and the load average: on a shared machine only ratios within one run count."""
    base = results.get("crm", {})
    lines = []
    for q in queries:
        mine = base.get(q)
        for peer, target in CPU_TARGETS.items():
            theirs = results.get(peer, {}).get(q)
            if mine is None or theirs is None or not theirs.cpu_per_1k:
                continue
            frac = mine.cpu_per_1k / theirs.cpu_per_1k
            verdict = "met" if frac <= target else "NOT met"
            lines.append(f"  {q:<10}crm / {peer:<7}{frac:>6.2f}x   target <= {target}  {verdict}")
    if lines:
        print("\ncrm CPU per request as a fraction of each peer's (same run):")
        print("\n".join(lines))
    print(f"load average (1, 5, 15 min): {', '.join(f'{x:.2f}' for x in os.getloadavg())}")


async def start_fakes(ports: dict[str, int], logs: Path, procs: list[subprocess.Popen]) -> bool:
    """Starts the fake subgraphs (one process) and waits until each answers."""
    cmd = [sys.executable, str(HERE / "fake_subgraphs.py"), "--ports"]
    cmd.append(",".join(str(p) for p in ports.values()))
    procs.append(start(cmd, {}, logs / "fakes.log"))
    for p in ports.values():
        if not await wait_graphql(p, 30, procs[-1]):
            return False
    return True


def write_json(path: Path, results: dict[str, dict[str, LoadResult]]) -> None:
    figures = {
        kind: {
            q: {
                "rps": r.rps,
                "p50_ms": r.pct(0.5),
                "p99_ms": r.pct(0.99),
                "cpu_s_per_1k": r.cpu_per_1k,
                "errors": r.errors,
                "requests": r.requests,
            }
            for q, r in per_query.items()
        }
        for kind, per_query in results.items()
    }
    path.write_text(json.dumps(figures, indent=2))


async def amain(args: argparse.Namespace) -> int:
    logs = Path(tempfile.mkdtemp(prefix="bench-gateway-"))
    procs: list[subprocess.Popen] = []
    headers: dict[str, str] = {}
    try:
        use_fake = args.fake_subgraphs
        if not use_fake:
            up = [await wait_graphql(p, 2) for p in REAL_PORTS.values()]
            if not all(up):
                print("real subgraphs are not answering on 4001-4003: using --fake-subgraphs")
                use_fake = True
        if use_fake:
            ports = fake_ports(args.port_base)
            if not await start_fakes(ports, logs, procs):
                print("fake subgraphs did not start")
                return 1
            sdl = {n: HERE / "fake_sdl" / f"{n}.graphql" for n in ports}
        else:
            ports = REAL_PORTS
            sdl = {n: REPO / "services" / n / "schema.graphql" for n in ports}
        if args.auth == "on":
            from crm_kit.auth import issue_token

            headers["Authorization"] = "Bearer " + issue_token(args.workspace, "bench", ["admin"])
        supergraph = logs / "supergraph.graphql"
        compose(
            {n: (f"http://127.0.0.1:{p}/graphql", sdl[n]) for n, p in ports.items()}, supergraph
        )
        kinds = [k for k in args.gateways.split(",") if k]
        if not use_fake and kinds != ["crm"]:
            print("real subgraphs accept only this gateway's signed requests: measuring crm only")
            kinds = ["crm"]
        if any(k != "crm" for k in kinds) and not args.skip_install:
            install_peers()

        rng = random.Random(7)
        deal_ids = (
            [f"d{i}" for i in range(60)]
            if use_fake
            else await discover_deals(ports, args.workspace)
        )
        queries = {
            "pipeline": [orjson.dumps({"query": PIPELINE_QUERY, "variables": {}})],
            "deal": [
                orjson.dumps({"query": DEAL_QUERY, "variables": {"id": rng.choice(deal_ids)}})
                for _ in range(200)
            ],
        }
        results: dict[str, dict[str, LoadResult]] = {}
        reference: dict[str, Any] = {}
        print(
            f"subgraphs: {'fake' if use_fake else 'real'}; {args.requests} requests per "
            f"query, concurrency {args.concurrency}; crm gateway: auth {args.auth}, assertion "
            f"cache {'default' if args.assertion_cache is None else args.assertion_cache}, "
            f"limits {args.limits}; logs in {logs}",
            flush=True,
        )
        for kind in kinds:
            print(f"-- {kind}", flush=True)
            r = await bench_gateway(kind, supergraph, queries, args, headers, logs, reference)
            if r is not None:
                results[kind] = r
        print_table(results)
        if args.json:
            write_json(Path(args.json), results)
        return 0
    finally:
        for p in procs:
            stop(p)


async def discover_deals(ports: dict[str, int], workspace: str) -> list[str]:
    """Deal ids from the real deals subgraph, so the simple query hits existing deals
    (signed with the local gateway's development key, as the gateway would)."""
    import httpx

    from crm_kit.testing import gateway_auth

    q = "{ pipelineBoard { columns { deals(first: 20) { edges { node { id } } } } } }"
    async with httpx.AsyncClient(auth=gateway_auth("deals", workspace, "bench", "admin")) as c:
        response = await c.post(f"http://127.0.0.1:{ports['deals']}/graphql", json={"query": q})
    body = orjson.loads(response.content)
    ids = [
        e["node"]["id"]
        for c in ((body.get("data") or {}).get("pipelineBoard") or {}).get("columns", [])
        for e in c["deals"]["edges"]
    ]
    return ids or ["none"]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--fake-subgraphs",
        action="store_true",
        help="serve the in-repo fake subgraphs instead of the real services",
    )
    parser.add_argument("--gateways", default="crm,apollo,hive")
    parser.add_argument("--requests", type=int, default=2000, help="per gateway and query")
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--time-limit", type=float, default=90.0, help="seconds per load run")
    parser.add_argument("--skip-install", action="store_true")
    parser.add_argument("--workspace", default="demo")
    parser.add_argument(
        "--auth", choices=("on", "off"), default="on", help="crm gateway: verify and sign"
    )
    parser.add_argument(
        "--assertion-cache",
        type=int,
        default=None,
        help="crm gateway: assertions reused (0: none; default: the gateway's default)",
    )
    parser.add_argument(
        "--limits",
        choices=("off", "default"),
        default="off",
        help="crm gateway: admission limits off, or the gateway's defaults",
    )
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument(
        "--port-base",
        type=int,
        default=DEFAULT_PORT_BASE,
        help="fake subgraphs listen on base+1..3, the gateways on base+10..12 (default 4100)",
    )
    parser.add_argument(
        "--tracing",
        choices=("off", "on"),
        default="off",
        help="on: this gateway traces every request and exports by OTLP to a local sink",
    )
    args = parser.parse_args()
    args.otlp_endpoint = None
    if args.tracing == "off":
        sys.exit(asyncio.run(amain(args)))
    from otlp_sink import OtlpSink

    with OtlpSink() as sink:
        args.otlp_endpoint = sink.endpoint
        code = asyncio.run(amain(args))
    print(f"tracing on: {sink.exports} OTLP exports, {sink.bytes:,} bytes received by the sink")
    sys.exit(code)


if __name__ == "__main__":
    main()
