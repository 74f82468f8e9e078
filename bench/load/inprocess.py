"""Every list, count and search of `lists.py`, called in process through each service's
whole ASGI app (the gate: body, assertion, shape limits; GraphQL execution; the JSON
answer), without uvicorn and without a network: the CPU seconds per request of the
subgraph's own code, which the machine's load does not move much (issue 14, item 2).

    .venv/bin/python bench/load/inprocess.py [--requests 1000] [--profile out.prof]
        [--only contacts,deals,tasks] [--deals 3000] [--moves 0]

Each service runs on the in-memory store with the embedded database's workarounds (the
read indexes serving the lists and holding whole documents checked against change logs,
as on FerretDB; the logs' slots in memory), filled through its own mutations with a
workspace the size of the demo's contacts and a few thousand deals and tasks. Per query
it prints the CPU milliseconds per request (`time.process_time()` around N calls, the
gateway's assertions minted before the clock starts) beside `{ __typename }`'s.
`--profile` writes one cProfile of every timed call (for `pstats`)."""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import random
import sys
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
for sub in ("libs", "services/contacts", "services/deals", "services/tasks"):
    sys.path.insert(0, str(ROOT / sub))
sys.path.insert(0, str(HERE))

import orjson  # noqa: E402
from lists import ListQuery, list_queries  # noqa: E402
from pymongo.errors import DuplicateKeyError  # noqa: E402
from starlette.applications import Starlette  # noqa: E402

from crm_kit.change_log import ChangeLog, Journal, journal_writes  # noqa: E402
from crm_kit.graphql_http import ASSERTION_HEADER  # noqa: E402
from crm_kit.graphql_prepared import PreparedOperations  # noqa: E402
from crm_kit.memory_db import MemoryDatabase  # noqa: E402
from crm_kit.settings import Settings  # noqa: E402
from crm_kit.testing import GraphQLClient, gateway_auth, running_app  # noqa: E402

WORKSPACE = "demo"
OWNERS = [f"rep-{n}" for n in range(10)]
PREPARED_FOR = PreparedOperations.prepared_for
Asgi = Callable[[dict[str, Any], Any, Any], Awaitable[None]]


class MemorySlots:
    """A change log's slots in memory (`crm_kit.change_log.SlotCollection`): with them the
    read indexes hold whole documents, as on FerretDB, instead of reading every row."""

    def __init__(self) -> None:
        self.docs: dict[str, dict[str, Any]] = {}

    async def insert_one(self, document: dict[str, Any]) -> None:
        if document["_id"] in self.docs:
            raise DuplicateKeyError("duplicate _id")
        self.docs[document["_id"]] = dict(document)

    async def insert_many(self, documents: list[dict[str, Any]], ordered: bool = True) -> None:
        # One writer here: no slot is ever taken twice.
        for document in documents:
            await self.insert_one(document)

    async def find_one(self, filter: Mapping[str, Any]) -> dict[str, Any] | None:
        return self.docs.get(filter["_id"])

    async def update_one(
        self, filter: Mapping[str, Any], update: Mapping[str, Any], upsert: bool = False
    ) -> None:
        doc = self.docs.setdefault(filter["_id"], {"_id": filter["_id"], "n": 0})
        doc["n"] = max(doc["n"], update["$max"]["n"])

    async def delete_one(self, filter: Mapping[str, Any]) -> None:
        self.docs.pop(filter["_id"], None)


def journal_of(db: MemoryDatabase) -> Journal:
    def journal(collection: str) -> ChangeLog:
        changes = ChangeLog(MemorySlots())
        journal_writes(db.hooks, changes, collection)
        return changes

    return journal


def contacts_app() -> Starlette:
    from crm_contacts.app import create_app
    from crm_contacts.config import AUDIT
    from crm_contacts.events.publish import encode
    from crm_contacts.store.assemble import contacts_store

    db = MemoryDatabase(encode=encode, audit=AUDIT)
    store = contacts_store(db, db.hooks, workarounds=True, journal=journal_of(db))
    return create_app(Settings(service="contacts"), store=store)


def deals_app() -> Starlette:
    from crm_deals.app import create_app
    from crm_deals.config import AUDIT, DEALS
    from crm_deals.events.publish import encode
    from crm_deals.store.assemble import deals_store
    from crm_deals.store.memory import MemoryBackend
    from crm_deals.store.model_cache import ModelCache

    db = MemoryDatabase(encode=encode, audit=AUDIT)
    changes = journal_of(db)(DEALS)
    store = deals_store(
        db, MemoryBackend(db), ModelCache(), db.hooks, workarounds=True, changes=changes
    )
    return create_app(Settings(service="deals"), store=store)


def tasks_app() -> Starlette:
    from crm_tasks.app import create_app
    from crm_tasks.config import AUDIT
    from crm_tasks.events.publish import encode
    from crm_tasks.store.assemble import tasks_store

    db = MemoryDatabase(encode=encode, audit=AUDIT)
    store = tasks_store(db, db.hooks, workarounds=True, journal=journal_of(db))
    return create_app(Settings(service="tasks"), store=store, run_scheduler=False)


async def fill_contacts(gql: GraphQLClient, pools: SimpleNamespace, rng: random.Random) -> None:
    pools.companies, pools.contacts = [], []
    names = ["Anna", "Brian", "Carla", "Dan", "Elena", "Frank", "Gina", "Hans", "Ivana", "Jan"]
    for n in range(85):
        made = await gql.data(
            "mutation($i: CreateCompanyInput!) { createCompany(input: $i) { id } }",
            {"i": {"name": f"Company {n:03}", "industry": "software", "ownerId": OWNERS[n % 10]}},
        )
        pools.companies.append(made["createCompany"]["id"])
    for n in range(170):
        made = await gql.data(
            "mutation($i: CreateContactInput!) { createContact(input: $i) { id } }",
            {
                "i": {
                    "firstName": rng.choice(names),
                    "lastName": f"{rng.choice(names)}son{n}",
                    "email": f"person{n}@example.com",
                    "companyId": pools.companies[n % 85],
                    "ownerId": OWNERS[n % 10],
                }
            },
        )
        pools.contacts.append(made["createContact"]["id"])
    for n in range(510):
        await gql.data(
            "mutation($i: LogInteractionInput!) { logInteraction(input: $i) { id } }",
            {"i": {"kind": "NOTE", "contactId": pools.contacts[n % 170], "summary": f"note {n}"}},
        )


async def fill_deals(
    gql: GraphQLClient, pools: SimpleNamespace, count: int, moves: int = 0
) -> None:
    stages = [
        {"key": key, "name": key.title(), "probability": p}
        for key, p in (("prospecting", 10), ("engaging", 40), ("won", 100), ("lost", 0))
    ]
    stages[2]["forecastCategory"] = "CLOSED_WON"
    stages[3]["forecastCategory"] = "CLOSED_LOST"
    made = await gql.data(
        "mutation($i: CreatePipelineInput!) { createPipeline(input: $i) { id } }",
        {"i": {"name": "Sales", "stages": stages[:2]}},
    )
    pools.pipeline_id = made["createPipeline"]["id"]
    products = ["GTX Basic", "GTX Pro", "MG Special", "GTK 500"]
    for n in range(count):
        made = await gql.data(
            "mutation($i: CreateDealInput!) { createDeal(input: $i) { id } }",
            {
                "i": {
                    "title": f"{products[n % 4]} for account {n}",
                    "amount": str(1000 + n % 97 * 37),
                    "pipelineId": pools.pipeline_id,
                    "stageKey": "engaging" if n % 3 else "prospecting",
                    "ownerId": OWNERS[n % 10],
                }
            },
        )
        # Stage histories as long as the demo's: each deal moved back and forth.
        deal_id, stage = made["createDeal"]["id"], "engaging" if n % 3 else "prospecting"
        for _ in range(moves):
            stage = "prospecting" if stage == "engaging" else "engaging"
            await gql.data(
                "mutation($d: ID!, $s: String!) { moveDeal(id: $d, stageKey: $s) { id } }",
                {"d": deal_id, "s": stage},
            )


async def fill_tasks(gql: GraphQLClient, count: int) -> None:
    for n in range(count):
        await gql.data(
            "mutation($i: CreateTaskInput!) { createTask(input: $i) { id } }",
            {
                "i": {
                    "title": f"Call back {n}",
                    "assigneeId": OWNERS[n % 10],
                    # A third overdue (the clock is real: in the past), the rest ahead.
                    "dueAt": "2020-01-01T09:00:00Z" if n % 3 == 0 else "2099-01-01T09:00:00Z",
                }
            },
        )


@dataclass
class Call:
    """One POST to `/graphql` as ASGI messages, the gateway's assertion minted ahead."""

    body: bytes
    headers: list[tuple[bytes, bytes]]

    async def __call__(self, app: Asgi) -> tuple[int, bytes]:
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": "/graphql",
            "raw_path": b"/graphql",
            "query_string": b"",
            "root_path": "",
            "headers": self.headers,
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 8000),
        }
        delivered = False

        async def receive() -> dict[str, Any]:
            nonlocal delivered
            if delivered:
                return {"type": "http.disconnect"}
            delivered = True
            return {"type": "http.request", "body": self.body, "more_body": False}

        status = 0
        parts: list[bytes] = []

        async def send(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                parts.append(message.get("body", b""))

        await app(scope, receive, send)
        return status, b"".join(parts)


def signed_call(item: ListQuery, subject: str) -> Call:
    body = orjson.dumps({"query": item.query, "variables": item.variables})
    token = gateway_auth(item.service, WORKSPACE, subject, "admin").assertion(body)
    headers = [
        (b"host", b"test"),
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (ASSERTION_HEADER.encode(), token.encode()),
    ]
    return Call(body, headers)


def through_strawberry(on: bool) -> None:
    """Every operation executed by Strawberry's `Schema.execute` (the path before
    `crm_kit.graphql_prepared`), or from prepared documents again."""
    if on:
        PreparedOperations.prepared_for = lambda *_: None  # type: ignore[method-assign, assignment]
    else:
        PreparedOperations.prepared_for = PREPARED_FOR  # type: ignore[method-assign]


async def measure(
    app: Asgi,
    item: ListQuery,
    subject: str,
    requests: int,
    profiler: cProfile.Profile | None,
    compare: bool,
) -> tuple[float, float | None]:
    """CPU milliseconds per request over `requests` calls (after a few untimed ones),
    and with `compare` the same through Strawberry, in alternating blocks."""
    call = signed_call(item, subject)
    first: bytes | None = None
    for strawberry in (True, False) if compare else (False,):
        through_strawberry(strawberry)
        for _ in range(20):
            status, content = await call(app)
            if status != 200 or b'"errors"' in content:
                raise SystemExit(f"{item.service} {item.name}: HTTP {status} {content[:300]!r}")
        # Both paths answer the same bytes.
        if first is not None and content != first:
            raise SystemExit(f"{item.service} {item.name}: answers differ: {content[:300]!r}")
        first = content
    # Minted within the same second, as the gateway's are per caller and body: the gate's
    # verified-assertion cache sees what it sees under the load benchmark.
    spent = {False: 0.0, True: 0.0}
    block = 50
    for n in range(0, requests, block):
        for strawberry in (False, True) if compare else (False,):
            through_strawberry(strawberry)
            started = time.process_time()
            if profiler is not None and not strawberry:
                profiler.enable()
            for _ in range(min(block, requests - n)):
                await call(app)
            if profiler is not None:
                profiler.disable()
            spent[strawberry] += time.process_time() - started
    through_strawberry(False)
    before = spent[True] * 1000 / requests if compare else None
    return spent[False] * 1000 / requests, before


async def run(
    requests: int, only: set[str], deals: int, profile: str | None, compare: bool, moves: int = 0
) -> None:
    rng = random.Random(14)
    pools = SimpleNamespace(
        # Ids of another service's lists stand in when only some services run.
        contacts=["c-none"],
        companies=["c-none"],
        owners=OWNERS,
        pipeline_id="",
    )
    apps = {"contacts": contacts_app(), "deals": deals_app(), "tasks": tasks_app()}
    profiler = cProfile.Profile() if profile else None
    fills = {
        "contacts": lambda gql: fill_contacts(gql, pools, rng),
        "deals": lambda gql: fill_deals(gql, pools, deals, moves),
        "tasks": lambda gql: fill_tasks(gql, deals // 4),
    }
    results: list[tuple[ListQuery, float, float | None]] = []
    for service, app in apps.items():
        if service not in only:
            continue
        async with running_app(app) as http:
            filled = time.perf_counter()
            await fills[service](GraphQLClient(http, gateway_auth(service, WORKSPACE, "admin")))
            print(f"{service}: filled in {time.perf_counter() - filled:.1f} s", flush=True)
            for item in list_queries(pools):  # type: ignore[arg-type]
                if item.service == service:
                    per, before = await measure(app, item, OWNERS[0], requests, profiler, compare)
                    results.append((item, per, before))
                    print(f"  {item.name:24} {per:6.3f} ms CPU/req", flush=True)
    print(f"\n== in process, {requests} requests each, CPU ms per request")
    print(f"load average: {' '.join(f'{n:.2f}' for n in os.getloadavg())}")
    print(f"{'service':9} {'query':24} {'CPU ms':>7} {'-floor':>7}", end="")
    print(f" {'Strawberry':>10} {'ratio':>6}" if compare else "")
    floor = 0.0
    for item, per, before in results:
        if item.query == "{ __typename }":
            floor = per
        line = f"{item.service:9} {item.name:24} {per:7.3f} {per - floor:+7.3f}"
        if before is not None:
            line += f" {before:10.3f} {per / before:6.2f}"
        print(line)
    if compare:
        print("(Strawberry: the same requests through Strawberry's Schema.execute, in")
        print(" alternating blocks of 50; ratio: prepared / Strawberry)")
    if profiler is not None and profile:
        profiler.dump_stats(profile)
        print(f"profile written to {profile}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=1000, help="timed calls per query")
    parser.add_argument("--deals", type=int, default=3000, help="deals made (tasks: a quarter)")
    parser.add_argument("--only", default="contacts,deals,tasks", help="services to measure")
    parser.add_argument("--profile", help="write a cProfile of the timed calls here")
    parser.add_argument(
        "--compare",
        action="store_true",
        help="each query also through Strawberry's Schema.execute, alternating",
    )
    parser.add_argument("--moves", type=int, default=0, help="stage moves of each deal made")
    args = parser.parse_args()
    only = set(args.only.split(","))
    asyncio.run(run(args.requests, only, args.deals, args.profile, args.compare, args.moves))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
