"""Every list, count and search of contacts, deals and tasks at its own subgraph (issue 14,
item 2: p50 < 20 ms at 50 concurrent clients on the demo data), beside `{ __typename }`
at the same subgraph (the floor of its HTTP and GraphQL layers) measured in the same run:
each query runs for a fixed time with N concurrent clients, signed as the gateway signs.
Beside the latencies it prints the CPU milliseconds per request of the subgraph's process
and of FerretDB (psutil, the processes listening on their ports): on a machine loaded by
other work the latencies mostly measure the wait for a core, the CPU what a request costs."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
import psutil
from client import FAILURES, Poster
from measure import ms, percentile
from workload import Pools

from crm_kit.graphql_http import ASSERTION_HEADER
from crm_kit.testing import AsGateway, gateway_auth

WORKSPACE = "demo"


@dataclass(frozen=True)
class ListQuery:
    service: str
    name: str
    query: str
    variables: dict[str, Any]


def list_queries(pools: Pools) -> list[ListQuery]:
    contact, company, owner = pools.contacts[0], pools.companies[0], pools.owners[0]
    page = "totalCount edges { node { id } }"
    return [
        ListQuery("contacts", "__typename (floor)", "{ __typename }", {}),
        ListQuery("contacts", "contacts count", "{ contacts(first: 1) { totalCount } }", {}),
        ListQuery(
            "contacts",
            "contacts search",
            f"""query($t: String) {{ contacts(filter: {{text: $t}}, first: 25,
              orderBy: {{field: LAST_NAME, direction: ASC}}) {{ {page} }} }}""",
            {"t": "an"},
        ),
        ListQuery(
            "contacts",
            "contacts of a company",
            f"query($c: ID) {{ contacts(filter: {{companyId: $c}}, first: 25) {{ {page} }} }}",
            {"c": company},
        ),
        ListQuery(
            "contacts",
            "companies list",
            f"{{ companies(first: 25, orderBy: {{field: NAME, direction: ASC}}) {{ {page} }} }}",
            {},
        ),
        ListQuery(
            "contacts",
            "companies search",
            f"query($t: String) {{ companies(filter: {{text: $t}}, first: 25) {{ {page} }} }}",
            {"t": "co"},
        ),
        ListQuery(
            "contacts",
            "contact timeline",
            f"query($id: ID!) {{ contact(id: $id) {{ interactions(first: 10) {{ {page} }} }} }}",
            {"id": contact},
        ),
        ListQuery("deals", "__typename (floor)", "{ __typename }", {}),
        ListQuery("deals", "deals count", "{ deals(first: 1) { totalCount } }", {}),
        ListQuery(
            "deals",
            "deals of an owner",
            f"query($o: String) {{ deals(filter: {{ownerId: $o}}, first: 20) {{ {page} }} }}",
            {"o": owner},
        ),
        ListQuery(
            "deals",
            "deals search",
            f"query($t: String) {{ deals(filter: {{text: $t}}, first: 20) {{ {page} }} }}",
            {"t": "gtx"},
        ),
        ListQuery(
            "deals",
            "deals of a stage",
            f"""query($p: ID) {{ deals(filter: {{pipelineId: $p, stageKey: "engaging"}},
              first: 20, orderBy: {{field: AMOUNT, direction: DESC}}) {{ {page} }} }}""",
            {"p": pools.pipeline_id},
        ),
        ListQuery(
            "deals",
            "board (deals' own fields)",
            # The web's `Board` without what other subgraphs resolve (company names, tasks).
            """query($p: ID) { pipelineBoard(pipelineId: $p) { currency
              columns { stage { key name probability terminal rottingDays }
                count totalAmount weightedAmount
                deals(first: 20) { edges { node { id title amount currency ownerId stale
                  stageEnteredAt createdAt company { id } } }
                  pageInfo { hasNextPage endCursor } } } } }""",
            {"p": pools.pipeline_id},
        ),
        ListQuery("tasks", "__typename (floor)", "{ __typename }", {}),
        ListQuery(
            "tasks",
            "tasks of an assignee",
            f"query($a: ID) {{ tasks(filter: {{assigneeId: $a}}, first: 25) {{ {page} }} }}",
            {"a": owner},
        ),
        ListQuery(
            "tasks",
            "overdue open tasks",
            f"""{{ tasks(filter: {{overdue: true, statusIn: [OPEN, IN_PROGRESS]}}, first: 25)
              {{ {page} }} }}""",
            {},
        ),
        ListQuery("tasks", "myTasks", "{ myTasks { id } }", {}),
    ]


@dataclass
class ListResult:
    query: ListQuery
    latencies: list[float]
    errors: int
    # CPU milliseconds per request: the subgraph's process, FerretDB (None: not found).
    service_cpu: float | None
    database_cpu: float | None
    # The first failure seen (status and the start of the body, or the exception).
    first_error: str | None = None


def listening(port: int | None) -> psutil.Process | None:
    """The process listening on this TCP port of this machine (None: not found or not
    allowed to look)."""
    if port is None:
        return None
    try:
        for conn in psutil.net_connections(kind="tcp"):
            if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port:
                return psutil.Process(conn.pid) if conn.pid else None
    except (psutil.Error, OSError):
        return None
    return None


def _cpu(process: psutil.Process | None) -> float | None:
    if process is None:
        return None
    try:
        times = process.cpu_times()
    except psutil.Error:
        return None
    return times.user + times.system


def _per_request(before: float | None, after: float | None, requests: int) -> float | None:
    if before is None or after is None or not requests:
        return None
    return (after - before) * 1000 / requests


async def run_lists(
    urls: dict[str, str],
    pools: Pools,
    clients: int,
    seconds: float,
    database_port: int | None = None,
) -> list[ListResult]:
    results = []
    database = listening(database_port)
    services = {name: listening(httpx.URL(url).port) for name, url in urls.items()}
    owner = pools.owners[0]
    poster = Poster(clients, 30.0)
    try:
        for item in list_queries(pools):
            auth = gateway_auth(item.service, WORKSPACE, owner, "admin")
            body = orjson.dumps({"query": item.query, "variables": item.variables})
            url = urls[item.service]

            # Asked once untimed: the first ask after a start loads the read index and
            # holds the rows (a cost of the start, not of the list).
            with contextlib.suppress(*FAILURES):
                await poster.post(url, _signed(auth, body), body)
            latencies: list[float] = []
            failures: list[str] = []
            deadline = time.monotonic() + seconds
            service = services.get(item.service)
            cpu_before = _cpu(service), _cpu(database)
            clients_errors = await asyncio.gather(
                *(
                    _client(poster, url, auth, body, deadline, latencies, failures)
                    for _ in range(clients)
                )
            )
            cpu_after = _cpu(service), _cpu(database)
            n = len(latencies)
            results.append(
                ListResult(
                    item,
                    latencies,
                    sum(clients_errors),
                    _per_request(cpu_before[0], cpu_after[0], n),
                    _per_request(cpu_before[1], cpu_after[1], n),
                    failures[0] if failures else None,
                )
            )
    finally:
        await poster.aclose()
    return results


def _signed(auth: AsGateway, body: bytes) -> dict[str, str]:
    """Headers signed for this request, as the gateway signs each one."""
    return {"content-type": "application/json", ASSERTION_HEADER: auth.assertion(body)}


async def _client(
    poster: Poster,
    url: str,
    auth: AsGateway,
    body: bytes,
    deadline: float,
    latencies: list[float],
    failures: list[str],
) -> int:
    """One client asking until `deadline`; its latencies appended, its errors counted."""
    errors = 0
    while time.monotonic() < deadline:
        started = time.perf_counter()
        try:
            status, content = await poster.post(url, _signed(auth, body), body)
            failed = status != 200 or b'"errors"' in content
            if failed and not failures:
                failures.append(f"HTTP {status}: {content[:200]!r}")
        except FAILURES as exc:
            failed = True
            if not failures:
                failures.append(repr(exc)[:200])
        latencies.append(time.perf_counter() - started)
        errors += failed
    return errors


def print_lists(results: list[ListResult], clients: int) -> None:
    """Per query: p50 and p99, p50 over and above the floor (`{ __typename }` at the same
    subgraph in the same run), and CPU per request (service, FerretDB) beside the
    floor's."""
    print(f"\n== lists at the subgraphs, {clients} concurrent clients each")
    print(f"load average: {' '.join(f'{n:.2f}' for n in os.getloadavg())}")
    print(
        f"{'service':9} {'query':24} {'count':>6} {'p50 ms':>7} {'p99 ms':>7} "
        f"{'p50-floor':>9} {'p50/floor':>9} {'CPU ms/req':>10} {'-floor':>7} "
        f"{'DB ms/req':>9} {'err':>4}"
    )
    floor = 0.0
    floor_cpu: float | None = None
    for found in results:
        item, latencies = found.query, found.latencies
        p50 = percentile(latencies, 50)
        if item.query == "{ __typename }":
            floor, floor_cpu = p50, found.service_cpu
        ratio = p50 / floor if floor else float("nan")
        over = (
            found.service_cpu - floor_cpu
            if found.service_cpu is not None and floor_cpu is not None
            else None
        )
        print(
            f"{item.service:9} {item.name:24} {len(latencies):6} {ms(p50):>7} "
            f"{ms(percentile(latencies, 99)):>7} {ms(p50 - floor):>9} {ratio:9.2f} "
            f"{_figure(found.service_cpu):>10} {_figure(over):>7} "
            f"{_figure(found.database_cpu):>9} {found.errors:4}"
        )
    for found in results:
        if found.first_error is not None:
            print(f"first error of {found.query.name}: {found.first_error}")
    print("(CPU ms/req: the subgraph's process per request, -floor: above `{ __typename }`'s;")
    print(" DB ms/req: FerretDB's; '-' where the process was not found)")


def _figure(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"
