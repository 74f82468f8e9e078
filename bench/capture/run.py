"""Benchmark: capture, end to end, against its peers in the same run.

Starts its own FerretDB + NATS (temporary directory, free ports) and the contacts, deals
and capture services and the gateway as processes, then measures:

- messages/s from SMTP to the timeline: `--messages` distinct messages sent to the capture
  door over `--connections` SMTP connections, counted until all are on the contact's
  timeline (through the gateway); peers: the same kind of messages uploaded with
  `captureEmail` through the gateway, and interactions typed in with `logInteraction`
  through the gateway (no capture at all: the floor);
- visits/s at the tracking door through the gateway (`POST /t/c`, `--visits` page views
  of visitors viewing 5 pages each, `--concurrency` at once); peer: the same reports sent
  straight to the capture service, signed as the gateway signs them (the proxy's cost).

Prints figures and ratios; bounded by `--time-limit` seconds per phase; everything on
127.0.0.1 and stopped at the end.

    .venv/bin/python bench/capture/run.py [--messages 200] [--connections 4]
        [--visits 2000] [--concurrency 16] [--time-limit 120]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import smtplib
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ("libs", "services/contacts", "services/deals", "services/tasks", "services/capture",
           "gateway", "cli")  # fmt: skip
for sub in SOURCES:
    sys.path.insert(0, str(ROOT / sub))
os.environ.setdefault("JWT_SECRET", "bench-secret-" + "x" * 40)

import httpx  # noqa: E402
import orjson  # noqa: E402

from crm_contracts import capture as contract  # noqa: E402
from crm_contracts.streams import RPC_HEADER_ASSERTION  # noqa: E402
from crm_kit.assertions import KeyRing  # noqa: E402
from crm_kit.auth import issue_token  # noqa: E402
from crm_kit.context import RequestContext  # noqa: E402
from crm_kit.devstack import InfraStack, free_port, wait_http_ok  # noqa: E402

WORKSPACE = "bench"
MESSAGE = (
    "From: Ann Archer <ann@acme.example>\r\nTo: Rita Rep <rita@ourco.example>\r\n"
    "Subject: Bench message {n}\r\nMessage-ID: <bench-{run}-{n}@acme.example>\r\n"
    "Date: Mon, 02 Mar 2026 09:00:00 +0000\r\nMIME-Version: 1.0\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n\r\n"
    "Hi Rita, here is question number {n} about the rollout plan.\r\n"
)
BROWSER = {"user-agent": "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128"}


@dataclass
class Figure:
    name: str
    count: int
    seconds: float
    latencies: list[float]

    @property
    def rate(self) -> float:
        return self.count / self.seconds if self.seconds else 0.0

    def pct(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000 if ordered else 0.0

    def row(self) -> str:
        return (
            f"{self.name:<44} {self.count:>6} {self.rate:>9.1f} "
            f"{self.pct(0.5):>8.1f} {self.pct(0.99):>8.1f}"
        )


class Stack:
    def __init__(self, infra: InfraStack, logs: Path) -> None:
        self.infra = infra
        self.ports = {n: free_port() for n in ("contacts", "deals", "capture", "gateway")}
        self.smtp_port = free_port()
        self.env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(str(ROOT / s) for s in SOURCES),
            "MONGODB_URI": infra.mongodb_uri,
            "NATS_URL": infra.nats_url,
            "CRM_DB_PREFIX": "bench",
            "LOG_LEVEL": "WARNING",
            "GATEWAY_LOG_LEVEL": "WARNING",
            "CAPTURE_SMTP_PORT": str(self.smtp_port),
            "CAPTURE_IMAP_POLL_SECONDS": "3600",
            # One machine sends everything: the per-address limit would measure itself.
            "CAPTURE_TRACK_PER_IP_PER_MINUTE": "100000000",
            "CAPTURE_TRACK_PER_SITE_PER_SECOND": "100000000",
            # Likewise the gateway's admission (one client token, one address).
            "GATEWAY_RATE_PER_IP": "0",
            "GATEWAY_TRACKING_RATE_PER_IP": "0",
            "GATEWAY_RATE_PER_TOKEN": "0",
            "GATEWAY_MAX_IN_FLIGHT": "0",
            "METRICS_PORT": "0",  # never collide with a running stack's metrics ports
        }
        for name, port in self.ports.items():
            self.env[f"{name.upper()}_PORT"] = str(port)
            self.env[f"{name.upper()}_HOST"] = "127.0.0.1"
            if name != "gateway":
                self.env[f"SUBGRAPH_{name.upper()}_URL"] = f"http://127.0.0.1:{port}/graphql"
        self.logs = logs
        self.processes: list[subprocess.Popen[bytes]] = []

    @property
    def gateway(self) -> str:
        return f"http://127.0.0.1:{self.ports['gateway']}"

    @property
    def capture(self) -> str:
        return f"http://127.0.0.1:{self.ports['capture']}"

    def start(self) -> None:
        for name in ("contacts", "deals", "capture", "gateway"):
            log = self.logs / f"{name}.log"
            process = subprocess.Popen(
                [sys.executable, "-m", f"crm_{name}"], env=self.env, cwd=ROOT,
                stdout=log.open("ab"), stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
            self.processes.append(process)
            path = "/health" if name == "gateway" else "/ready"
            wait_http_ok(f"http://127.0.0.1:{self.ports[name]}{path}", process, log, 90.0)

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.terminate()
        for process in self.processes:
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()


class Gateway:
    def __init__(self, base: str) -> None:
        token = issue_token(WORKSPACE, "rita", ["admin"])
        self.http = httpx.AsyncClient(
            base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=60,
            limits=httpx.Limits(max_connections=64),
        )  # fmt: skip

    async def data(self, query: str, variables: dict | None = None) -> dict:
        answer = await self.http.post("/graphql", json={"query": query, "variables": variables})
        body = answer.json()
        if body.get("errors"):
            raise RuntimeError(body["errors"])
        return dict(body["data"])

    async def timeline_count(self, contact_id: str) -> int:
        data = await self.data(
            "query($id: ID!) { contact(id: $id) { interactions(first: 1) { totalCount } } }",
            {"id": contact_id},
        )
        return int(data["contact"]["interactions"]["totalCount"])


async def wait_for_count(gateway: Gateway, contact_id: str, count: int, deadline: float) -> float:
    while time.monotonic() < deadline:
        if await gateway.timeline_count(contact_id) >= count:
            return time.monotonic()
        await asyncio.sleep(0.1)
    raise TimeoutError(f"fewer than {count} interactions on the timeline before the deadline")


def send_smtp(port: int, inbound: str, messages: list[str], latencies: list[float]) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=60) as client:
        for message in messages:
            started = time.perf_counter()
            client.sendmail("rita@ourco.example", [inbound], message)
            latencies.append(time.perf_counter() - started)


async def smtp_phase(
    stack: Stack, gateway: Gateway, contact: str, inbound: str, args: argparse.Namespace
) -> tuple[Figure, Figure]:
    run = uuid.uuid4().hex[:8]
    before = await gateway.timeline_count(contact)
    messages = [MESSAGE.format(n=n, run=run) for n in range(args.messages)]
    groups = [messages[i :: args.connections] for i in range(args.connections)]
    latencies: list[float] = []
    started = time.monotonic()
    await asyncio.gather(
        *(asyncio.to_thread(send_smtp, stack.smtp_port, inbound, group, latencies)
          for group in groups)
    )  # fmt: skip
    accepted = time.monotonic()
    done = await wait_for_count(gateway, contact, before + args.messages, started + args.time_limit)
    return (
        Figure("SMTP accepted (captured before 250)", args.messages, accepted - started, latencies),
        Figure("SMTP -> on the timeline (gateway)", args.messages, done - started, []),
    )


async def concurrent(
    count: int, concurrency: int, time_limit: float, call: Callable[[int], Awaitable[None]]
) -> tuple[float, list[float], int]:
    latencies: list[float] = []
    counter = iter(range(count))
    deadline = time.monotonic() + time_limit

    async def worker() -> None:
        for n in counter:
            if time.monotonic() > deadline:
                return
            started = time.perf_counter()
            await call(n)
            latencies.append(time.perf_counter() - started)

    started = time.monotonic()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.monotonic() - started, latencies, len(latencies)


async def upload_phase(gateway: Gateway, contact: str, args: argparse.Namespace) -> Figure:
    run = uuid.uuid4().hex[:8]
    before = await gateway.timeline_count(contact)
    query = "mutation($raw: String!) { captureEmail(raw: $raw) { duplicate } }"

    async def upload(n: int) -> None:
        await gateway.data(query, {"raw": MESSAGE.format(n=n, run=run)})

    started = time.monotonic()
    _, latencies, count = await concurrent(args.messages, args.connections, args.time_limit, upload)
    done = await wait_for_count(gateway, contact, before + count, started + args.time_limit)
    return Figure("captureEmail upload -> on the timeline", count, done - started, latencies)


async def typed_phase(gateway: Gateway, contact: str, args: argparse.Namespace) -> Figure:
    query = """mutation($c: ID!, $s: String!) { logInteraction(input: {kind: EMAIL,
      contactId: $c, subject: $s}) { id } }"""

    async def typed(n: int) -> None:
        await gateway.data(query, {"c": contact, "s": f"Typed {n}"})

    seconds, latencies, count = await concurrent(
        args.messages, args.connections, args.time_limit, typed
    )
    return Figure("logInteraction typed in (peer: no capture)", count, seconds, latencies)


async def visits_phase(
    base: str, site: str, args: argparse.Namespace, *, name: str, signed: bool
) -> Figure:
    keys = KeyRing.from_env("gateway") if signed else None
    anonymous = RequestContext("public", "anonymous:browser", frozenset())
    visitors = [uuid.uuid4().hex for _ in range(max(1, args.visits // 5))]
    async with httpx.AsyncClient(
        base_url=base, timeout=30, limits=httpx.Limits(max_connections=args.concurrency)
    ) as http:

        async def view(n: int) -> None:
            report = {"k": site, "t": "view", "v": visitors[n % len(visitors)],
                      "u": f"https://shop.example/page/{n % 7}", "ti": f"Page {n % 7}"}  # fmt: skip
            body = orjson.dumps(report)
            if keys is None:
                answer = await http.post("/t/c", content=body, headers=BROWSER)
            else:
                hit = contract.ForwardedHit(
                    browser=contract.BrowserInfo(ip="127.0.0.1", user_agent=BROWSER["user-agent"]),
                    body=body.decode(),
                )
                envelope = orjson.dumps(hit.wire())
                token = keys.mint(audience=contract.TRACKING_AUDIENCE, context=anonymous,
                                  body=envelope)  # fmt: skip
                answer = await http.post(
                    contract.TRACKING_COLLECT_PATH, content=envelope,
                    headers={RPC_HEADER_ASSERTION: token},
                )  # fmt: skip
            if answer.status_code != 204:
                raise RuntimeError(f"{answer.status_code}: {answer.text}")

        seconds, latencies, count = await concurrent(
            args.visits, args.concurrency, args.time_limit, view
        )
    return Figure(name, count, seconds, latencies)


async def bench(stack: Stack, args: argparse.Namespace) -> list[Figure]:
    gateway = Gateway(stack.gateway)
    try:
        settings = await gateway.data(
            """mutation { updateCaptureSettings(input: {internalDomains: ["ourco.example"]})
                 { inboundAddress } }"""
        )
        inbound = settings["updateCaptureSettings"]["inboundAddress"]
        made = await gateway.data(
            'mutation { createContact(input: {firstName: "Ann", email: "ann@acme.example"}) '
            "{ id } }"
        )
        contact = made["createContact"]["id"]
        site = (await gateway.data(
            'mutation { createTrackingSite(input: {name: "bench"}) { id } }'
        ))["createTrackingSite"]["id"]  # fmt: skip
        # Warm every path once (connections, caches) before measuring.
        await asyncio.to_thread(
            send_smtp, stack.smtp_port, inbound, [MESSAGE.format(n=-1, run="warm")], []
        )
        await wait_for_count(gateway, contact, 1, time.monotonic() + 60)
        figures = [*await smtp_phase(stack, gateway, contact, inbound, args)]
        figures.append(await upload_phase(gateway, contact, args))
        figures.append(await typed_phase(gateway, contact, args))
        door, peer = "visits at the door (gateway /t/c)", "visits straight to capture (peer)"
        figures.append(await visits_phase(stack.gateway, site, args, name=door, signed=False))
        figures.append(await visits_phase(stack.capture, site, args, name=peer, signed=True))
        return figures
    finally:
        await gateway.http.aclose()


def report(figures: list[Figure], args: argparse.Namespace) -> None:
    print(
        f"capture benchmark: {args.messages} messages over {args.connections} SMTP connections, "
        f"{args.visits} page views at concurrency {args.concurrency}; FerretDB (SQLite), "
        f"{os.cpu_count()} CPUs, every service a process on this machine"
    )
    print(f"{'path':<44} {'n':>6} {'per s':>9} {'p50 ms':>8} {'p99 ms':>8}")
    for figure in figures:
        print(figure.row())
    by = {f.name: f for f in figures}

    def ratio(a: str, b: str) -> None:
        top, bottom = by[a], by[b]
        value = top.rate / bottom.rate if bottom.rate else 0.0
        print(f"ratio {a} / {b}: {value:.2f}x")

    ratio("SMTP -> on the timeline (gateway)", "captureEmail upload -> on the timeline")
    ratio("SMTP -> on the timeline (gateway)", "logInteraction typed in (peer: no capture)")
    ratio("visits at the door (gateway /t/c)", "visits straight to capture (peer)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=200, help="per mail phase (max 5000)")
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--visits", type=int, default=2000, help="page views (max 50000)")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--time-limit", type=float, default=120.0, help="seconds per phase")
    args = parser.parse_args()
    args.messages = max(1, min(args.messages, 5000))
    args.visits = max(1, min(args.visits, 50000))
    args.connections = max(1, min(args.connections, 16))
    args.concurrency = max(1, min(args.concurrency, 64))
    with tempfile.TemporaryDirectory(prefix="crm-bench-") as tmp:
        os.environ["CRM_DATA_DIR"] = tmp  # credentials of this run only
        infra = InfraStack(Path(tmp), free_port(), free_port()).start()
        stack = Stack(infra, Path(tmp))
        try:
            stack.start()
            figures = asyncio.run(bench(stack, args))
        finally:
            stack.stop()
            infra.stop()
    report(figures, args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
