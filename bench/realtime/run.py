"""Realtime benchmark: 1,000 concurrent subscribers on one gateway process.

Prints, for each gateway measured, the time from a deal move to the event at each
subscriber (p50, p99, max over every move x subscriber) and the gateway's memory per
subscriber (its process tree's RSS with the subscribers open, minus before, divided by
their number).

1. **This platform** (`real`): FerretDB, NATS, the services and this gateway as in
   production (tokens, assertions), started by the bench on free ports. Every subscriber
   is a different user of one workspace, subscribed over SSE to
   `dealChanged(pipelineId) { kind dealId toStage { key } deal { title company { name } } }`
   (deals streams it, contacts fills `company`: one `_entities` call per subscriber per
   event). A move is `moveDeal` through the gateway, timed from just before it is sent.
2. **Fake subgraphs** (`fakes`): Hive Gateway cannot be configured with this platform's
   subgraphs (they accept only this gateway's Ed25519 assertions bound to each body, which
   Hive cannot make), so it is measured against the bench's own fakes
   (`fake_live.py`: deals streams `dealChanged` over SSE, contacts resolves `Company`),
   and so is this gateway in the same run (auth off: the fakes check nothing), with the
   same selection. A move is a POST to the fake's `/move`.

    python bench/realtime/run.py                    # both, 1,000 subscribers
    python bench/realtime/run.py --only fakes --subscribers 200 --moves 10

Everything listens on 127.0.0.1 and stops by itself (bounded moves and timeouts). Hive
Gateway is installed from npm into bench/.peers by bench/gateway/run.py's installer.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path[:0] = [str(REPO / p) for p in ("libs", "gateway", "bench/gateway")]

from run import (  # noqa: E402  (bench/gateway/run.py)
    PEERS_DIR,
    compose,
    install_peers,
    start,
    stop,
)

from crm_gateway.subscriptions.upstream import Stream, open_stream  # noqa: E402
from crm_kit.devstack import InfraStack, free_port  # noqa: E402
from crm_kit.paths import python_path  # noqa: E402

SUBSCRIPTION = """
subscription($p: ID) {
  dealChanged(pipelineId: $p) { kind dealId deal { title company { name } } }
}
"""
LOCAL_SUBSCRIPTION = """
subscription($p: ID) { dealChanged(pipelineId: $p) { kind dealId deal { title } } }
"""
REAL_SUBSCRIPTION = """
subscription($p: ID) {
  dealChanged(pipelineId: $p) { kind dealId toStage { key } deal { title company { name } } }
}
"""


@dataclass
class Subscriber:
    stream: Stream
    arrivals: list[float] = field(default_factory=list)
    task: asyncio.Task[None] | None = None

    async def read(self, kinds: tuple[str, ...]) -> None:
        async for event in self.stream.events(idle_timeout=600):
            if event.event == "next":
                data = (event.json() or {}).get("data") or {}
                change = data.get("dealChanged") or {}
                if change.get("kind") in kinds:
                    self.arrivals.append(time.perf_counter())


def rss_kb(pid: int) -> int:
    """Resident memory of a process and its descendants (node may fork)."""
    total, stack = 0, [pid]
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError):
                stat = Path(f"/proc/{entry}/stat").read_text()
                children.setdefault(int(stat.rsplit(")", 1)[1].split()[1]), []).append(int(entry))
    while stack:
        p = stack.pop()
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        stack.extend(children.get(p, []))
    return total


async def open_subscribers(
    url: str,
    n: int,
    query: str,
    variables: dict[str, Any],
    headers_of: Callable[[int], dict[str, str]],
    kinds: tuple[str, ...],
) -> list[Subscriber]:
    body = orjson.dumps({"query": query, "variables": variables})
    subscribers: list[Subscriber] = []
    gate = asyncio.Semaphore(50)

    async def one(i: int) -> None:
        async with gate:
            opened = await open_stream(
                url, headers_of(i), body, connect_timeout=10.0, answer_timeout=30.0
            )
            if not isinstance(opened, Stream):
                raise RuntimeError(f"subscriber {i}: HTTP {opened.status} {opened.body[:300]!r}")
            subscriber = Subscriber(opened)
            subscriber.task = asyncio.ensure_future(subscriber.read(kinds))
            subscribers.append(subscriber)

    await asyncio.gather(*(one(i) for i in range(n)))
    return subscribers


async def measure_moves(
    subscribers: list[Subscriber],
    moves: int,
    move: Callable[[], Coroutine[Any, Any, None]],
    timeout: float = 120.0,
) -> tuple[list[float], int]:
    """Latencies (ms) of every move at every subscriber; how many arrivals were missing."""
    latencies: list[float] = []
    missing = 0
    for k in range(moves):
        t0 = time.perf_counter()
        await move()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and any(len(s.arrivals) <= k for s in subscribers):  # noqa: ASYNC110 - polls many subscribers
            await asyncio.sleep(0.01)
        for s in subscribers:
            if len(s.arrivals) > k:
                latencies.append((s.arrivals[k] - t0) * 1000)
            else:
                missing += 1
        await asyncio.sleep(0.2)
    return latencies, missing


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(p * len(s)))] if s else float("nan")


@dataclass
class Figures:
    name: str
    subscribers: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    missing: int
    kb_per_subscriber: float
    baseline_mb: float


def figures(name: str, n: int, lat: list[float], missing: int, before: int, after: int) -> Figures:
    return Figures(
        name,
        n,
        round(pct(lat, 0.5), 1),
        round(pct(lat, 0.99), 1),
        round(max(lat) if lat else float("nan"), 1),
        missing,
        round((after - before) / n, 1),
        round(before / 1024, 1),
    )


async def upstreams(metrics_url: str) -> int:
    async with httpx.AsyncClient() as http:
        text = (await http.get(metrics_url)).text
    found = re.search(r"^crm_gateway_subscription_upstreams_open (\d+)", text, re.M)
    return int(found.group(1)) if found else -1


async def wait_http(url: str, proc: subprocess.Popen[bytes], seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    async with httpx.AsyncClient() as http:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"{url}: process exited")
            with contextlib.suppress(httpx.HTTPError):
                if (await http.get(url)).status_code < 500:
                    return
            await asyncio.sleep(0.2)
    raise RuntimeError(f"{url} did not answer")


# --- 1. this platform, real subgraphs -------------------------------------------------------

GATEWAY_ENV = {
    "GATEWAY_RATE_PER_IP": "0",
    "GATEWAY_RATE_PER_TOKEN": "0",
    "GATEWAY_MAX_IN_FLIGHT": "0",
    "GATEWAY_AUTH_LOCK_AFTER": "0",
    "GATEWAY_MAX_SUBSCRIPTIONS_PER_CALLER": "0",
    "GATEWAY_LOG_LEVEL": "WARNING",
}


async def bench_real(args: argparse.Namespace, logs: Path) -> Figures:
    from crm_kit.auth import issue_token

    data = Path(tempfile.mkdtemp(prefix="crm-bench-rt-"))
    os.environ["CRM_DATA_DIR"] = str(data)
    os.environ.setdefault("JWT_SECRET", "bench-secret-" + "x" * 40)
    infra = InfraStack(data / "servers", free_port(), free_port()).start()
    ports = {name: free_port() for name in ("contacts", "deals", "tasks", "gateway")}
    metrics_port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": python_path(),
        "MONGODB_URI": infra.mongodb_uri,
        "NATS_URL": infra.nats_url,
        "LOG_LEVEL": "WARNING",
        "OUTBOX_SWEEP_SECONDS": "0.5",
        **GATEWAY_ENV,
    }
    for name, port in ports.items():
        env[f"{name.upper()}_PORT"] = str(port)
        if name != "gateway":
            env[f"SUBGRAPH_{name.upper()}_URL"] = f"http://127.0.0.1:{port}/graphql"
    procs: dict[str, subprocess.Popen[bytes]] = {}
    subscribers: list[Subscriber] = []
    try:
        for name in ports:
            # Only the gateway's metrics are read (its open subgraph streams); the others off,
            # so that nothing collides with a running stack's metrics ports.
            metrics = str(metrics_port) if name == "gateway" else "off"
            procs[name] = start(
                [sys.executable, "-m", f"crm_{name}"],
                {**env, "METRICS_PORT": metrics},
                logs / f"{name}.log",
            )
        for name, port in ports.items():
            path = "/health" if name == "gateway" else "/ready"
            await wait_http(f"http://127.0.0.1:{port}{path}", procs[name])
        url = f"http://127.0.0.1:{ports['gateway']}/graphql"
        workspace = "bench-rt"
        admin = {"Authorization": f"Bearer {issue_token(workspace, 'admin', ['admin'])}"}
        async with httpx.AsyncClient(timeout=30) as http:

            async def gql(query: str, variables: dict[str, Any] | None = None) -> Any:
                body = {"query": query, "variables": variables or {}}
                answer = (await http.post(url, json=body, headers=admin)).json()
                if answer.get("errors"):
                    raise RuntimeError(answer["errors"])
                return answer["data"]

            company = (await gql('mutation { createCompany(input: {name: "Initech"}) { id } }'))[
                "createCompany"
            ]["id"]
            deal = (
                await gql(
                    'mutation($c: ID!) { createDeal(input: {title: "Printers", amount: '
                    '"10.00", currency: "USD", companyId: $c}) { id pipeline { id } } }',
                    {"c": company},
                )
            )["createDeal"]
            tokens = [issue_token(workspace, f"user{i}", ["rep"]) for i in range(args.subscribers)]
            gateway_pid = procs["gateway"].pid
            await asyncio.sleep(1.0)
            before = rss_kb(gateway_pid)
            subscribers = await open_subscribers(
                url,
                args.subscribers,
                REAL_SUBSCRIPTION if args.selection == "cross" else LOCAL_SUBSCRIPTION,
                {"p": deal["pipeline"]["id"]},
                lambda i: {"Authorization": f"Bearer {tokens[i]}"},
                ("MOVED",),
            )
            metrics = f"http://127.0.0.1:{metrics_port}/metrics"
            deadline = time.monotonic() + 120
            while await upstreams(metrics) < args.subscribers and time.monotonic() < deadline:  # noqa: ASYNC110 - polls the metrics
                await asyncio.sleep(0.2)
            await asyncio.sleep(1.0)
            after = rss_kb(gateway_pid)
            stages = ["qualification", "prospecting"]

            async def move(k: list[int] = [0]) -> None:  # noqa: B006 - a counter
                stage = stages[k[0] % 2]
                k[0] += 1
                await gql(
                    "mutation($d: ID!, $s: String!) { moveDeal(id: $d, stageKey: $s) { id } }",
                    {"d": deal["id"], "s": stage},
                )

            latencies, missing = await measure_moves(subscribers, args.moves, move)
        return figures("crm (real subgraphs)", args.subscribers, latencies, missing, before, after)
    finally:
        for s in subscribers:
            if s.task is not None:
                s.task.cancel()
            s.stream.close()
        for proc in reversed(list(procs.values())):
            stop(proc)
        infra.stop()


# --- 2. this gateway and Hive Gateway over fake subgraphs ----------------------------------


async def bench_fakes(args: argparse.Namespace, logs: Path) -> list[Figures]:
    base = args.port_base
    contacts_port, deals_port = base + 1, base + 2
    fakes = start(
        [sys.executable, str(HERE / "fake_live.py"), "--ports", f"{contacts_port},{deals_port}"],
        {"PYTHONPATH": python_path()},
        logs / "fakes.log",
    )
    out: list[Figures] = []
    try:
        deals_url = f"http://127.0.0.1:{deals_port}"
        await wait_http(f"http://127.0.0.1:{contacts_port}/graphql", fakes)
        supergraph = logs / "supergraph.graphql"
        compose(
            {
                "contacts": (
                    f"http://127.0.0.1:{contacts_port}/graphql",
                    HERE / "fake_sdl" / "contacts.graphql",
                ),
                "deals": (f"{deals_url}/graphql", HERE / "fake_sdl" / "deals.graphql"),
            },
            supergraph,
        )
        for kind in args.gateways.split(","):
            if kind == "hive":
                try:
                    install_peers()
                except (subprocess.SubprocessError, OSError) as error:
                    print(f"  hive: not installed ({error})")
                    continue
            port = base + 10 + len(out)
            cmd, env = _gateway(kind, supergraph, port)
            proc = start(cmd, env, logs / f"{kind}.log")
            subscribers: list[Subscriber] = []
            try:
                await wait_http(f"http://127.0.0.1:{port}/graphql?query=%7B__typename%7D", proc)
                await asyncio.sleep(1.0)
                before = rss_kb(proc.pid)
                subscribers = await open_subscribers(
                    f"http://127.0.0.1:{port}/graphql",
                    args.subscribers,
                    SUBSCRIPTION if args.selection == "cross" else LOCAL_SUBSCRIPTION,
                    {},
                    lambda _: {},
                    ("MOVED",),
                )
                async with httpx.AsyncClient() as http:
                    deadline = time.monotonic() + 120
                    while time.monotonic() < deadline:
                        opened = (await http.post(f"{deals_url}/move", content=b"{}")).json()
                        # A probe move: every subscriber must be open at the fake first.
                        if opened["subscribers"] >= args.subscribers:
                            break
                        if all(s.task is not None and s.task.done() for s in subscribers):
                            raise RuntimeError("every subscription ended; see the logs")
                        await asyncio.sleep(0.5)
                    # Every subscriber has the probe's event before the timed moves start.
                    deadline = time.monotonic() + 120
                    while time.monotonic() < deadline:
                        if all(s.arrivals for s in subscribers):
                            break
                        await asyncio.sleep(0.05)
                    for s in subscribers:
                        s.arrivals.clear()
                    after = rss_kb(proc.pid)

                    async def move() -> None:
                        await http.post(f"{deals_url}/move", content=b"{}")

                    latencies, missing = await measure_moves(subscribers, args.moves, move)
                out.append(
                    figures(f"{kind} (fakes)", args.subscribers, latencies, missing, before, after)
                )
            except (RuntimeError, OSError, httpx.HTTPError) as error:
                print(f"  {kind}: {error}")
            finally:
                for s in subscribers:
                    if s.task is not None:
                        s.task.cancel()
                    s.stream.close()
                stop(proc)
    finally:
        stop(fakes)
    return out


def _gateway(kind: str, supergraph: Path, port: int) -> tuple[list[str], dict[str, str]]:
    if kind == "crm":
        env = {
            "PYTHONPATH": python_path(),
            "GATEWAY_PORT": str(port),
            "SUPERGRAPH_PATH": str(supergraph),
            "GATEWAY_AUTH": "off",
            "METRICS_PORT": "off",  # never collide with a running stack's metrics port
            **GATEWAY_ENV,
        }
        return [sys.executable, "-m", "crm_gateway"], env
    hive = PEERS_DIR / "node_modules" / "@graphql-hive" / "gateway" / "dist" / "bin.js"
    cmd = ["node", str(hive), "supergraph", str(supergraph), "--host", "127.0.0.1"]
    return [*cmd, "--port", str(port), "--fork", "1"], {"NODE_ENV": "production"}


def report(rows: list[Figures]) -> None:
    print(
        f"\n{'gateway':<24}{'subs':>6}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}"
        f"{'missed':>8}{'KB/sub':>9}{'base MB':>9}"
    )
    for r in rows:
        print(
            f"{r.name:<24}{r.subscribers:>6}{r.p50_ms:>9}{r.p99_ms:>9}{r.max_ms:>9}"
            f"{r.missing:>8}{r.kb_per_subscriber:>9}{r.baseline_mb:>9}"
        )
    fakes = {r.name.split()[0]: r for r in rows if "fakes" in r.name}
    if "crm" in fakes and "hive" in fakes:
        crm, hive = fakes["crm"], fakes["hive"]
        print(
            f"\nover the fakes, Hive / crm: p50 x{hive.p50_ms / crm.p50_ms:.2f}, "
            f"p99 x{hive.p99_ms / crm.p99_ms:.2f}, "
            f"memory per subscriber x{hive.kb_per_subscriber / max(crm.kb_per_subscriber, 0.1):.2f}"
        )


async def run(args: argparse.Namespace) -> list[Figures]:
    logs = Path(tempfile.mkdtemp(prefix="bench-realtime-"))
    print(
        f"{args.subscribers} subscribers, {args.moves} moves, {args.selection} selection; "
        f"logs in {logs}",
        flush=True,
    )
    rows: list[Figures] = []
    if args.only in (None, "real"):
        print("-- this platform, real subgraphs", flush=True)
        rows.append(await bench_real(args, logs))
    if args.only in (None, "fakes"):
        print("-- this gateway and Hive Gateway over fake subgraphs", flush=True)
        rows += await bench_fakes(args, logs)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--subscribers", type=int, default=1000)
    parser.add_argument("--moves", type=int, default=20)
    parser.add_argument("--only", choices=["real", "fakes"])
    parser.add_argument("--gateways", default="crm,hive", help="over the fakes")
    parser.add_argument("--port-base", type=int, default=4300)
    parser.add_argument(
        "--selection",
        choices=["cross", "local"],
        default="cross",
        help="cross: the deal and its company (from contacts) per event; local: deal only",
    )
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    rows = asyncio.run(run(args))
    report(rows)
    if args.json:
        Path(args.json).write_text(json.dumps([r.__dict__ for r in rows], indent=2))


if __name__ == "__main__":
    main()
