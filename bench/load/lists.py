"""Every list, count and search of contacts, deals and tasks at its own subgraph (issue 14,
item 2: p50 < 20 ms at 50 concurrent clients on the demo data), beside `{ __typename }`
at the same subgraph (the floor of its HTTP and GraphQL layers) measured in the same run:
each query runs for a fixed time with N concurrent clients, signed as the gateway signs."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
from measure import ms, percentile
from workload import Pools

from crm_kit.testing import gateway_auth

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


async def run_lists(
    urls: dict[str, str], pools: Pools, clients: int, seconds: float
) -> list[tuple[ListQuery, list[float], int]]:
    results = []
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    owner = pools.owners[0]
    async with httpx.AsyncClient(timeout=30, limits=limits, trust_env=False) as http:
        for item in list_queries(pools):
            auth = gateway_auth(item.service, WORKSPACE, owner, "admin")
            body = orjson.dumps({"query": item.query, "variables": item.variables})
            latencies: list[float] = []
            errors = 0
            deadline = time.monotonic() + seconds

            async def client(deadline: float = deadline) -> None:
                nonlocal errors
                while time.monotonic() < deadline:
                    started = time.perf_counter()
                    try:
                        response = await http.post(
                            urls[item.service],  # noqa: B023 - awaited within the loop
                            content=body,  # noqa: B023
                            auth=auth,  # noqa: B023
                            headers={"content-type": "application/json"},
                        )
                        failed = response.status_code != 200 or b'"errors"' in response.content
                    except httpx.HTTPError:
                        failed = True
                    latencies.append(time.perf_counter() - started)  # noqa: B023
                    errors += failed

            await asyncio.gather(*(client() for _ in range(clients)))
            results.append((item, latencies, errors))
    return results


def print_lists(results: list[tuple[ListQuery, list[float], int]], clients: int) -> None:
    print(f"\n== lists at the subgraphs, {clients} concurrent clients each")
    print(
        f"{'service':9} {'query':24} {'count':>6} {'p50 ms':>7} {'p99 ms':>7} "
        f"{'p50/floor':>9} {'err':>4}"
    )
    floor = 0.0
    for item, latencies, errors in results:
        p50 = percentile(latencies, 50)
        if item.query == "{ __typename }":
            floor = p50
        ratio = p50 / floor if floor else float("nan")
        print(
            f"{item.service:9} {item.name:24} {len(latencies):6} {ms(p50):>7} "
            f"{ms(percentile(latencies, 99)):>7} {ratio:9.2f} {errors:4}"
        )
