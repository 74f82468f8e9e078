"""A board's reference fetches at the subgraphs, in process: what the gateway asks the
contacts service for the cards' companies and the tasks service for their open tasks
(`_entities` with 140 representations), through each service's whole ASGI app, beside
`{ __typename }` (issue 14 items 1/2).

    .venv/bin/python bench/load/entities.py [--requests 300] [--cards 140] [--profile out.prof]

Both services on the in-memory store with the embedded database's workarounds, filled
through their own mutations (85 companies; 3 tasks on every seventh card's deal, one of
them done: the in-memory store copies the whole collection per query).
Prints the CPU milliseconds per request (`time.process_time()` around N calls) and a hash
of the answer, so two trees' runs (A/B) show they answer the same bytes."""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import hashlib
import os
import sys
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parent))

import inprocess
from lists import ListQuery

from crm_kit.testing import GraphQLClient, gateway_auth, running_app

COMPANIES = """query($representations: [_Any!]!) { _entities(representations: $representations)
  { ... on Company { id name } } }"""
TASKS = """query($representations: [_Any!]!) { _entities(representations: $representations)
  { ... on Deal { tasks(status: OPEN) { id } } } }"""


async def fill_tasks(gql: GraphQLClient, cards: int, labels: dict[str, str]) -> list[str]:
    deals = [f"{n:024x}" for n in range(cards)]
    # Few tasks in all: the in-memory store copies every task of the collection per
    # query, which would outweigh what is measured (the real store reads an index).
    for n, deal in enumerate(deals[::7]):
        for k in range(3):
            made = await gql.data(
                "mutation($i: CreateTaskInput!) { createTask(input: $i) { id } }",
                {
                    "i": {
                        "title": f"Step {k} of deal {n}",
                        "dealId": deal,
                        "assigneeId": inprocess.OWNERS[n % 10],
                        "dueAt": f"2099-01-{k + 1:02}T09:00:00Z",
                    }
                },
            )
            labels[made["createTask"]["id"]] = f"Step {k} of deal {n}"
            if k == 2:
                await gql.data(
                    "mutation($id: ID!) { completeTask(id: $id) { id } }",
                    {"id": made["createTask"]["id"]},
                )
    return deals


async def one(
    service: str,
    item: ListQuery,
    app: inprocess.Asgi,
    requests: int,
    profiler: cProfile.Profile | None,
    labels: dict[str, str],
) -> tuple[float, str]:
    status, content = await inprocess.signed_call(item, inprocess.OWNERS[0])(app)
    if status != 200 or b'"errors"' in content:
        raise SystemExit(f"{service} {item.name}: HTTP {status} {content[:300]!r}")
    per, _ = await inprocess.measure(app, item, inprocess.OWNERS[0], requests, profiler, False)
    text = content.decode()
    for generated, label in labels.items():
        text = text.replace(generated, label)
    return per, hashlib.sha256(text.encode()).hexdigest()[:12]


async def run(requests: int, cards: int, profile: str | None) -> None:
    profiler = cProfile.Profile() if profile else None
    pools = SimpleNamespace()
    rows: list[tuple[str, str, float, str]] = []
    # Generated ids by what they name, so that two runs' answers compare.
    labels: dict[str, str] = {}
    for service, make in (("contacts", inprocess.contacts_app), ("tasks", inprocess.tasks_app)):
        app = make()
        async with running_app(app) as http:
            gql = GraphQLClient(http, gateway_auth(service, inprocess.WORKSPACE, "admin"))
            if service == "contacts":
                await inprocess.fill_contacts(gql, pools, inprocess.random.Random(14))
                labels.update((c, f"company {n}") for n, c in enumerate(pools.companies))
                reps = [
                    {"__typename": "Company", "id": pools.companies[n % 85]} for n in range(cards)
                ]
                query = COMPANIES
            else:
                deals = await fill_tasks(gql, cards, labels)
                reps = [{"__typename": "Deal", "id": deal} for deal in deals]
                query = TASKS
            items = [
                ListQuery(service, "__typename (floor)", "{ __typename }", {}),
                ListQuery(service, f"_entities x{cards}", query, {"representations": reps}),
            ]
            for item in items:
                per, digest = await one(service, item, app, requests, profiler, labels)
                rows.append((service, item.name, per, digest))
                print(f"  {service:9} {item.name:20} {per:7.3f} ms CPU/req", flush=True)
    print(f"\n== in process, {requests} requests each, CPU ms per request")
    print(f"load average: {' '.join(f'{n:.2f}' for n in os.getloadavg())}")
    print(f"{'service':9} {'query':20} {'CPU ms':>7}  answer")
    for service, name, per, digest in rows:
        print(f"{service:9} {name:20} {per:7.3f}  {digest}")
    if profiler is not None and profile:
        profiler.dump_stats(profile)
        print(f"profile written to {profile}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=300, help="timed calls per query")
    parser.add_argument("--cards", type=int, default=140, help="representations per fetch")
    parser.add_argument("--profile", help="write a cProfile of the timed calls here")
    args = parser.parse_args()
    asyncio.run(run(args.requests, args.cards, args.profile))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
