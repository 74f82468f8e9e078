"""Deals benchmark (issue 3): pipelineBoard over the imported 8,800 deals (p50/p99), the
lists of one company (`deals(filter: {companyId})`) and of one contact (`Contact.deals`
through `_entities`), and moveDeal throughput, each against the equivalent raw driver
reads/writes on the same FerretDB in the same run, printed as ratios; plus the memory of
the read index (bytes per deal).

    .venv/bin/python bench/deals/run.py [--boards 10] [--moves 100] [--concurrency 4]
        [--moves-only]

Starts its own FerretDB + NATS (127.0.0.1, free ports, temporary directory) and the deals
service as a subprocess, imports the shared dataset, measures, and stops everything. Every
phase is bounded in count and time.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import os
import signal
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
for sub in ("libs", "services/deals", "gateway", "bench/import"):
    sys.path.insert(0, str(ROOT / sub))
os.environ.setdefault("JWT_SECRET", "bench-secret-" + "x" * 40)

import ferret_requests  # noqa: E402
import httpx  # noqa: E402
import orjson  # noqa: E402
import psutil  # noqa: E402
from pymongo import AsyncMongoClient  # noqa: E402

from crm_deals.config import OUTBOX_COLLECTIONS  # noqa: E402
from crm_deals.events.publish import encode  # noqa: E402
from crm_deals.importer import run as import_deals  # noqa: E402
from crm_deals.importer import slug  # noqa: E402
from crm_deals.store.index_entry import ANALYTICS_FIELDS, PROJECTION  # noqa: E402
from crm_deals.store.indexed import deal_index  # noqa: E402
from crm_deals.store.mongo import MongoBackend  # noqa: E402
from crm_gateway.lean_transport import LeanTransport  # noqa: E402
from crm_kit.assertions import KeyRing  # noqa: E402
from crm_kit.context import RequestContext  # noqa: E402
from crm_kit.devstack import InfraStack, free_port  # noqa: E402
from crm_kit.graphql_http import ASSERTION_HEADER  # noqa: E402
from crm_kit.profile import FERRETDB  # noqa: E402
from crm_kit.records import MongoSource  # noqa: E402
from crm_kit.rpc import READ, Endpoint, start_rpc_service  # noqa: E402
from crm_kit.testing import gateway_auth  # noqa: E402
from crm_kit.writer import DocumentWriter  # noqa: E402

DATASET = ROOT.parent / "shared" / "data" / "maven-crm-sales-opportunities"
DATASET = DATASET / "sales_pipeline.csv"
WORKSPACE = "bench"
DATABASE = "crm_deals_bench"
PHASE_TIMEOUT = 600.0
SERVICE_LOG = Path(tempfile.gettempdir()) / "crm-bench-deals-service.log"
failures: list[str] = []
BOARD = """query($p: ID) { pipelineBoard(pipelineId: $p) { columns {
  stage { key name probability } count totalAmount weightedAmount
  deals(first: 20) { edges { node { id title amount } } pageInfo { hasNextPage } totalCount }
} } }"""
MOVE = (
    """mutation($id: ID!, $s: String!) { moveDeal(id: $id, stageKey: $s) { id stage { key } } }"""
)
VIEW = """query($id: ID!) { deal(id: $id) { id title stage { key } } }"""
BY_COMPANY = """query($c: ID!) { deals(filter: {companyId: $c}, first: 20) { totalCount
  edges { node { id title amount stage { key } } } pageInfo { hasNextPage } } }"""
BY_CONTACT = """query($r: [_Any!]!) { _entities(representations: $r) { ... on Contact {
  deals(first: 20) { totalCount edges { node { id title amount stage { key } } } } } } }"""
FORECAST = """query($p: ID) { forecast(pipelineId: $p, from: "2016-10-01", to: "2018-01-01") {
  months { month closed commitForecast bestCaseForecast weightedForecast
    categories { category count amount weightedAmount } }
  undated { categories { category count amount } } } }"""
ANALYTICS = """query($p: ID) { pipelineAnalytics(pipelineId: $p) { created won lost winRate
  medianSalesCycleDays averageWonAmount stages { key entered advanced lost stillThere
  conversionRate winRate medianDaysInStage p75DaysInStage } } }"""
SCORECARDS = """query($p: ID) { ownerScorecards(pipelineId: $p) { ownerId openCount openAmount
  weightedOpenAmount wonCount wonAmount lostCount winRate averageWonAmount
  medianSalesCycleDays staleOpen openWithoutNextStep } }"""
# The contact the benchmark puts on every deal of one company (the dataset has none).
CONTACT = "ct-bench"


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


async def timed(n: int, call: Callable[[], Awaitable[Any]]) -> list[float]:
    latencies = []
    for _ in range(n):
        start = time.perf_counter()
        await call()
        latencies.append(time.perf_counter() - start)
    return latencies


async def throughput(
    items: list[str], concurrency: int, call: Callable[[str], Awaitable[Any]]
) -> float:
    queue = list(items)

    async def worker() -> None:
        while queue:
            await call(queue.pop())

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return len(items) / (time.perf_counter() - start)


async def ferretdb_requests(metrics_url: str) -> float:
    """FerretDB's count of the commands it served (all clients): deltas per operation."""
    return float(sum((await ferret_requests.requests(metrics_url)).values()))


def by_command(before: Counter[str], after: Counter[str], moves: int) -> str:
    """FerretDB's commands per move by command (every client: the relay's included)."""
    delta = after - before
    ranked = sorted(delta, key=lambda name: -delta[name])
    return ", ".join(f"{name} {delta[name] / moves:.2f}" for name in ranked)


def cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system


def move_cpu_line(service: list[float], raw: list[float]) -> str:
    """CPU ms per move of (service, FerretDB, this client), the service's moves and the raw."""
    return (
        f"CPU ms per moveDeal: service {service[0]:.2f}, FerretDB {service[1]:.2f}, client "
        f"{service[2]:.2f}; per raw move: FerretDB {raw[1]:.2f}, client (driver) {raw[2]:.2f}"
    )


def unseen_line(moves: float, raw: float, requests: float) -> str:
    return (
        f"moveDeal of deals nobody viewed (read by `_id`): {moves:.1f}/s, {moves / raw:.2f}x "
        f"raw; FerretDB requests per move {requests:.1f}"
    )


async def wait_ready(
    http: httpx.AsyncClient, process: subprocess.Popen, timeout: float = 60
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"deals service exited with {process.returncode}")
        with contextlib.suppress(httpx.HTTPError):
            if (await http.get("/ready")).status_code == 200:
                return
        await asyncio.sleep(0.2)
    raise TimeoutError("deals service not ready")


async def bench(stack: InfraStack, args: argparse.Namespace) -> None:
    env_common = [
        "--mongodb-uri",
        stack.mongodb_uri,
        "--database",
        DATABASE,
        "--nats-url",
        stack.nats_url,
    ]
    out = io.StringIO()
    # A stand-in for the contacts service: every account is company `co-<slug>`, so the
    # deals carry companies to list by.
    nc = await stack.connect_nats()

    async def find_by_name(caller: RequestContext, payload: dict[str, Any]) -> dict[str, str]:
        return {name: f"co-{slug(name)}" for name in payload["names"]}

    contacts = await start_rpc_service(
        nc,
        service="contacts-bench",
        version="0.0.1",
        description="bench stand-in",
        endpoints=[
            Endpoint(
                "company-find-by-name",
                "rpc.contacts.company.find_by_name",
                find_by_name,
                "n",
                roles=READ,
            )
        ],
        keys=KeyRing.from_env("contacts"),
    )
    started = time.perf_counter()
    try:
        code = await import_deals(
            ["deals", str(DATASET), "--workspace", WORKSPACE, *env_common],
            out,
            io.StringIO(),
        )
    finally:
        await contacts.stop()
        await nc.close()
    import_seconds = time.perf_counter() - started
    if code != 0:
        raise RuntimeError(f"import failed:\n{out.getvalue()}")
    print(
        f"import: 8,800 rows in {import_seconds:.1f}s (incl. publishing 8,800 deal.created events)"
    )

    client = AsyncMongoClient(stack.mongodb_uri, tz_aware=True)
    deals = client[DATABASE]["deals"]
    company, contact_ids = await prepare_lists(deals)
    index_bytes, indexed = await index_memory(client)
    print(
        f"read index: {indexed:,} deals, {index_bytes / 1e6:.2f} MB "
        f"({index_bytes / max(indexed, 1):.0f} bytes per deal, tracemalloc)"
    )
    lean = {k: v for k, v in PROJECTION.items() if k not in ANALYTICS_FIELDS}
    lean_bytes, _ = await index_memory(client, lean)
    print(
        f"  of which the analytics fields (category, created, next step, compact history): "
        f"{(index_bytes - lean_bytes) / max(indexed, 1):.0f} bytes per deal "
        f"(without them: {lean_bytes / max(indexed, 1):.0f})"
    )

    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(str(ROOT / p) for p in ("libs", "services/deals")),
        "DEALS_HOST": "127.0.0.1",
        "DEALS_PORT": str(port),
        "MONGODB_URI": stack.mongodb_uri,
        "NATS_URL": stack.nats_url,
        "DEALS_DB": DATABASE,
        "LOG_LEVEL": "WARNING",
    }
    command = [sys.executable, "-m", "crm_deals"]
    if args.service_cprofile:
        env["SERVICE_CPROFILE"] = args.service_cprofile
        command = [sys.executable, str(ROOT / "bench" / "deals" / "service_profile.py")]
    process = subprocess.Popen(  # noqa: ASYNC220 - started once, before any measurement
        command,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=SERVICE_LOG.open("wb"),
    )
    # Signed as the gateway signs (the service accepts nothing else).
    auth = gateway_auth("deals", WORKSPACE, "bench", "admin")
    try:
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}", timeout=120, auth=auth
        ) as http:
            await wait_ready(http, process)

            async def board() -> None:
                body = (
                    await http.post(
                        "/graphql",
                        json={"query": BOARD, "variables": {"p": f"{WORKSPACE}:default"}},
                    )
                ).json()
                assert not body.get("errors"), body["errors"]
                assert sum(c["count"] for c in body["data"]["pipelineBoard"]["columns"]) == 8800

            scope = {
                "workspace_id": WORKSPACE,
                "pipeline_id": f"{WORKSPACE}:default",
                "deleted_at": None,
            }
            stages = [
                "prospecting",
                "qualification",
                "engaging",
                "proposal",
                "negotiation",
                "won",
                "lost",
            ]

            async def raw_scan() -> None:
                # The least a client of the raw driver reads to draw the board here.
                await deals.find(scope, {"_outbox": 0, "_outbox_pending": 0}).to_list()

            async def raw_board() -> None:
                async def group(name: str, expr: Any) -> list:
                    cursor = await deals.aggregate(
                        [
                            {"$match": scope},
                            {
                                "$group": {
                                    "_id": {"s": "$stage_key", "c": "$currency"},
                                    name: {"$sum": expr},
                                }
                            },
                        ]
                    )
                    return await cursor.to_list()

                async def column(stage: str) -> list:
                    cursor = (
                        deals.find({**scope, "stage_key": stage})
                        .sort([("amount_minor", -1), ("_id", -1)])
                        .limit(21)
                    )
                    return await cursor.to_list()

                await asyncio.gather(
                    group("n", 1), group("a", "$amount_minor"), group("w", "$weighted_minor")
                )
                await asyncio.gather(*(column(s) for s in stages))

            if args.moves_only:
                # A running service has its read index loaded: every move refreshes it.
                await http.post("/graphql", json={"query": "{ deals(first: 1) { totalCount } }"})
            else:
                print("service ready; measuring pipelineBoard ...")
                rss_before = rss_bytes(process.pid)
                started = time.perf_counter()
                await board()  # the first board loads the index (one projected scan)
                first_board = time.perf_counter() - started
                rss_after = rss_bytes(process.pid)
                await raw_scan()
                before = await ferretdb_requests(args.metrics_url)
                service_board = await asyncio.wait_for(timed(args.boards, board), PHASE_TIMEOUT)
                board_requests = (await ferretdb_requests(args.metrics_url) - before) / args.boards
                raw_scan_lat = await asyncio.wait_for(timed(args.boards, raw_scan), PHASE_TIMEOUT)
                raw_board_lat = await asyncio.wait_for(timed(args.boards, raw_board), PHASE_TIMEOUT)

                print("measuring lists ...")

                async def by_company() -> None:
                    body = (
                        await http.post(
                            "/graphql",
                            json={"query": BY_COMPANY, "variables": {"c": company}},
                        )
                    ).json()
                    assert not body.get("errors"), body["errors"]
                    assert body["data"]["deals"]["totalCount"] == len(contact_ids)

                async def by_contact() -> None:
                    reps = [{"__typename": "Contact", "id": CONTACT}]
                    body = (
                        await http.post(
                            "/graphql",
                            json={"query": BY_CONTACT, "variables": {"r": reps}},
                        )
                    ).json()
                    assert not body.get("errors"), body["errors"]
                    found = body["data"]["_entities"][0]["deals"]
                    assert found["totalCount"] == len(contact_ids)

                async def raw_list(field: str, value: str) -> None:
                    # One find of the deals, newest first: the total and the first page.
                    query = {"workspace_id": WORKSPACE, field: value, "deleted_at": None}
                    cursor = deals.find(query, {"_outbox": 0, "_outbox_pending": 0})
                    await cursor.sort([("_id", -1)]).to_list()

                company_lat = await asyncio.wait_for(timed(args.boards, by_company), PHASE_TIMEOUT)
                raw_company_lat = await asyncio.wait_for(
                    timed(args.boards, lambda: raw_list("company_id", company)), PHASE_TIMEOUT
                )
                contact_lat = await asyncio.wait_for(timed(args.boards, by_contact), PHASE_TIMEOUT)
                raw_contact_lat = await asyncio.wait_for(
                    timed(args.boards, lambda: raw_list("contact_ids", CONTACT)), PHASE_TIMEOUT
                )

                print("measuring analytics ...")

                def analytics_call(query: str) -> Callable[[], Awaitable[None]]:
                    async def call() -> None:
                        body = (
                            await http.post(
                                "/graphql",
                                json={"query": query, "variables": {"p": f"{WORKSPACE}:default"}},
                            )
                        ).json()
                        assert not body.get("errors"), body["errors"]

                    return call

                analytics_lat = {}
                for name, query in (
                    ("forecast", FORECAST),
                    ("pipelineAnalytics", ANALYTICS),
                    ("ownerScorecards", SCORECARDS),
                ):
                    analytics_lat[name] = await asyncio.wait_for(
                        timed(args.boards, analytics_call(query)), PHASE_TIMEOUT
                    )
                # The raw equivalent: one find of the pipeline's deals with their histories.
                raw_analytics_lat = await asyncio.wait_for(
                    timed(args.boards, raw_scan), PHASE_TIMEOUT
                )

            print("measuring moveDeal ...")
            engaging = [
                d["_id"]
                async for d in deals.find(
                    {"workspace_id": WORKSPACE, "stage_key": "engaging"}, {"_id": 1}
                ).limit(3 * args.moves)
            ]
            mine, theirs = engaging[: args.moves], engaging[args.moves : 2 * args.moves]
            unseen = engaging[2 * args.moves : 3 * args.moves]

            lean = LeanTransport()
            url = f"http://127.0.0.1:{port}/graphql"

            async def move(deal_id: str) -> None:
                payload = {"query": MOVE, "variables": {"id": deal_id, "s": "qualification"}}
                if args.client == "httpx":
                    body = (await http.post("/graphql", json=payload)).json()
                else:
                    # As the gateway sends a subgraph fetch (`SubgraphClient.send`, its headers):
                    # the body encoded once, its assertion minted for it, one POST on a
                    # kept-alive connection of the gateway's own transport.
                    sent = orjson.dumps(payload)
                    headers = {
                        "content-type": "application/json",
                        "accept": "application/json",
                        ASSERTION_HEADER: auth.assertion(sent),
                    }
                    _, content = await lean.post(url, headers, sent, idempotent=False)
                    body = orjson.loads(content)
                if body.get("errors"):
                    failures.append(str(body["errors"][0].get("extensions")))

            async def raw_move(deal_id: str) -> None:
                doc = await deals.find_one({"_id": deal_id})
                await deals.update_one(
                    {"_id": deal_id},
                    {
                        "$set": {
                            "stage_key": "qualification",
                            "rev": doc["rev"] + 1,
                            "stage_probability": 25,
                        },
                        "$push": {
                            "stage_history": {"from_stage": "engaging", "to_stage": "qualification"}
                        },
                    },
                )

            # CPU seconds of each process (service, FerretDB, this client) per move: unlike
            # throughput, they hardly move with what else runs on the machine.
            processes = (
                psutil.Process(process.pid),
                psutil.Process(stack.servers[0].process.pid),
                psutil.Process(),
            )
            # A user moves a deal they see (on the board, on its page): the service then
            # holds it whole in its read index and the move reads nothing by `_id`. Viewed
            # once each here, untimed; the moves of deals nobody viewed are measured after.
            for deal_id in mine:
                await http.post("/graphql", json={"query": VIEW, "variables": {"id": deal_id}})
            before_commands = await ferret_requests.requests(args.metrics_url)
            if args.service_cprofile:
                process.send_signal(signal.SIGUSR1)
            cpu = [cpu_seconds(p) for p in processes]
            service_moves = await asyncio.wait_for(
                throughput(mine, args.concurrency, move), PHASE_TIMEOUT
            )
            # The relay's publishing and clean-up of the moves' events count too.
            await asyncio.sleep(2)
            # Before the metrics are fetched: that fetch is this process's and FerretDB's
            # CPU too (~0.1-0.2 ms a move of 200 for this process; the runs before
            # 2026-12-08 counted it).
            move_cpu = [
                (cpu_seconds(p) - c) * 1000 / len(mine) for p, c in zip(processes, cpu, strict=True)
            ]
            if args.service_cprofile:
                process.send_signal(signal.SIGUSR2)
            after_commands = await ferret_requests.requests(args.metrics_url)
            move_requests = (after_commands - before_commands).total() / len(mine)
            move_commands = by_command(before_commands, after_commands, len(mine))
            before = await ferretdb_requests(args.metrics_url)
            unseen_moves = await asyncio.wait_for(
                throughput(unseen, args.concurrency, move), PHASE_TIMEOUT
            )
            await asyncio.sleep(2)
            unseen_requests = (await ferretdb_requests(args.metrics_url) - before) / len(unseen)
            cpu = [cpu_seconds(p) for p in processes]
            raw_moves = await asyncio.wait_for(
                throughput(theirs, args.concurrency, raw_move), PHASE_TIMEOUT
            )
            raw_cpu = [
                (cpu_seconds(p) - c) * 1000 / len(theirs)
                for p, c in zip(processes, cpu, strict=True)
            ]
            await lean.aclose()
    finally:
        process.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(10)
        if process.poll() is None:
            process.kill()
        await client.close()

    def ms(value: float) -> str:
        return f"{value * 1000:8.1f} ms"

    print()
    if args.moves_only:
        print(
            f"moveDeal throughput: service {service_moves:.1f}/s, raw driver {raw_moves:.1f}/s, "
            f"service/raw {service_moves / raw_moves:.2f}x; FerretDB requests per moveDeal "
            f"(its events' relay included): {move_requests:.1f}, per raw move: 2"
        )
        print(f"FerretDB commands per moveDeal: {move_commands}")
        print(move_cpu_line(move_cpu, raw_cpu))
        total, raw_total = sum(move_cpu), sum(raw_cpu[1:])
        print(
            f"CPU ms per move over the processes: {total:.2f} against the raw move's "
            f"{raw_total:.2f} ({raw_total / total:.2f}x); client: {args.client}"
        )
        print(unseen_line(unseen_moves, raw_moves, unseen_requests))
        print(f"load average: {' '.join(f'{n:.2f}' for n in os.getloadavg())}")
        if failures:
            print(f"moveDeal failures: {len(failures)} (first: {failures[0]}; log: {SERVICE_LOG})")
        return
    print(f"{'metric':42} {'service':>12} {'raw driver':>12} {'service/raw':>12}")
    for baseline, raw in (("1 find", raw_scan_lat), ("3 $group+7 finds", raw_board_lat)):
        for label, q in (("p50", 50), ("p99", 99)):
            s, r = percentile(service_board, q), percentile(raw, q)
            name = f"pipelineBoard {label} vs raw {baseline}"
            print(f"{name:42} {ms(s):>12} {ms(r):>12} {s / r:11.2f}x")
    for name, service_lat, raw in (
        ("deals(companyId)", company_lat, raw_company_lat),
        ("Contact.deals", contact_lat, raw_contact_lat),
    ):
        for label, q in (("p50", 50), ("p99", 99)):
            s, r = percentile(service_lat, q), percentile(raw, q)
            print(
                f"{name + ' ' + label + ' vs raw 1 find':42} {ms(s):>12} {ms(r):>12} {s / r:11.2f}x"
            )
    for name, lat in analytics_lat.items():
        for label, q in (("p50", 50), ("p99", 99)):
            s, r = percentile(lat, q), percentile(raw_analytics_lat, q)
            print(
                f"{name + ' ' + label + ' vs raw 1 find':42} {ms(s):>12} {ms(r):>12} {s / r:11.2f}x"
            )
    print(
        f"{'moveDeal throughput (moves/s)':42} {service_moves:12.1f} {raw_moves:12.1f} "
        f"{service_moves / raw_moves:11.2f}x"
    )
    print(
        f"FerretDB requests per pipelineBoard: {board_requests:.1f}; per moveDeal (its "
        f"events' relay included): {move_requests:.1f}; per raw move: 2"
    )
    print(move_cpu_line(move_cpu, raw_cpu))
    print(unseen_line(unseen_moves, raw_moves, unseen_requests))
    print(f"load average: {' '.join(f'{n:.2f}' for n in os.getloadavg())}")
    print(f"\nfirst pipelineBoard (loads the index: one projected scan): {ms(first_board)}")
    if rss_before and rss_after:
        print(
            f"service RSS before/after that load: {rss_before / 1e6:.1f} / {rss_after / 1e6:.1f} MB"
        )
    print(f"lists: company {company!r} and contact {CONTACT!r}, {len(contact_ids)} deals each")
    if failures:
        print(f"moveDeal failures: {len(failures)} (first: {failures[0]}; log: {SERVICE_LOG})")
    print(
        f"\nboards and lists: {args.boards} sequential requests each; moves: {args.moves} "
        f"distinct deals, concurrency {args.concurrency}; raw board = one find of the "
        "pipeline's deals, or the 3 $group + 7 column finds a direct implementation issues; "
        "raw list = one find of the company's / contact's deals, newest first; "
        "raw move = find_one + update_one($set, $push) by _id. With few samples p99 is the max."
    )


async def prepare_lists(deals: Any) -> tuple[str, list[str]]:
    """The company with the most deals, and a contact put on each of them (by `_id`)."""
    counts: dict[str, list[str]] = {}
    async for doc in deals.find({"workspace_id": WORKSPACE}, {"company_id": 1}):
        if doc.get("company_id"):
            counts.setdefault(doc["company_id"], []).append(doc["_id"])
    company, ids = max(counts.items(), key=lambda item: len(item[1]))
    for deal_id in ids:
        await deals.update_one({"_id": deal_id}, {"$set": {"contact_ids": [CONTACT]}})
    return company, ids


async def index_memory(
    client: AsyncMongoClient, projection: dict[str, int] | None = None
) -> tuple[int, int]:
    """Bytes the read index holds for the workspace, measured in this process (with a
    narrower scan projection, the entries lack what it leaves out)."""
    writer = DocumentWriter(
        client[DATABASE], profile=FERRETDB, outbox_collections=OUTBOX_COLLECTIONS, encode=encode
    )
    index = deal_index(
        MongoSource(writer), MongoBackend(writer), projection=list(projection or PROJECTION)
    )
    tracemalloc.start()
    try:
        before = tracemalloc.take_snapshot()
        data = await index.entries(WORKSPACE)
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    assert data is not None
    grown = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
    return grown, len(data)


def rss_bytes(pid: int) -> int:
    with contextlib.suppress(OSError), open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt  # runs the clean-up (`finally`) on SIGTERM as on Ctrl-C


def main() -> int:
    signal.signal(signal.SIGTERM, _interrupt)
    sys.stdout.reconfigure(line_buffering=True)  # progress lines show up as they happen
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--boards", type=int, default=10)
    parser.add_argument("--moves", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument(
        "--tmpfs", action="store_true", help="keep FerretDB's files in /dev/shm (no fsync cost)"
    )
    parser.add_argument(
        "--moves-only", action="store_true", help="skip the boards, lists and analytics"
    )
    parser.add_argument(
        "--client",
        choices=("gateway", "httpx"),
        default="gateway",
        help="how the moves are sent: as the gateway sends a subgraph fetch (its lean "
        "transport, one assertion minted per request) or through httpx's default transport "
        "(the client of the runs before 2026-12-08)",
    )
    parser.add_argument(
        "--service-cprofile",
        metavar="PATH",
        help="profile (cProfile, CPU time) the deals service over the viewed deals' moves "
        "and their relay's work, written to PATH (its overhead inflates that run's figures)",
    )
    args = parser.parse_args()
    args.boards = max(1, min(args.boards, 100))
    args.moves = max(1, min(args.moves, 500))
    if args.service_cprofile:  # the service runs elsewhere (its own working directory)
        args.service_cprofile = str(Path(args.service_cprofile).resolve())
    if not DATASET.exists():
        print(f"dataset not found: {DATASET}", file=sys.stderr)
        return 2
    base = "/dev/shm" if args.tmpfs and Path("/dev/shm").is_dir() else None
    with tempfile.TemporaryDirectory(prefix="crm-bench-deals-", dir=base) as tmp:
        # Credentials of this run only (the harness user stands in for contacts).
        os.environ["CRM_DATA_DIR"] = tmp
        debug_addr = f"127.0.0.1:{free_port()}"
        os.environ["CRM_FERRETDB_DEBUG_ADDR"] = debug_addr
        args.metrics_url = f"http://{debug_addr}/debug/metrics"
        stack = InfraStack(Path(tmp), free_port(), free_port(), harness=True).start()
        try:
            asyncio.run(bench(stack, args))
        finally:
            stack.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
