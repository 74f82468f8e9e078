"""The list phase of `bench/tasks/run.py`, after the load: `myTasks`, `tasks(filter:
{assigneeId})` with `totalCount`, and `Contact.tasks` through the service (served by its
read index) vs the raw driver running the same filter on the same FerretDB in the same
run (what the service did before the index: FerretDB's SQLite backend scans the whole
collection for any filter but `{_id}`); and the read index's bytes per task, measured
with tracemalloc around loading the same workspace in this process.

The contact's tasks come from playbooks of deals whose primary contact it is (`seed`:
stage changes published as in the load), as the service makes them without asking the
contacts service, which the benchmark does not run (a `createTask` naming a contact asks
it whether the contact exists). What is timed is the reading of them."""

from __future__ import annotations

import asyncio
import time
import tracemalloc
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from pymongo import AsyncMongoClient

from crm_kit.profile import FERRETDB
from crm_kit.testing import gateway_auth
from crm_kit.writer import DocumentWriter
from crm_tasks.config import OUTBOX_COLLECTIONS
from crm_tasks.events.publish import encode
from crm_tasks.store.indexed import IndexedStore
from crm_tasks.store.mongo import mongo_store

MY_TASKS = "{ myTasks { id title dueAt status } }"
BY_ASSIGNEE = """query($a: ID!) { tasks(filter: {assigneeId: $a}, first: 20) {
  totalCount edges { node { id title dueAt status } } } }"""
CONTACT_TASKS = """query($reps: [_Any!]!) { _entities(representations: $reps) {
  ... on Contact { id tasks { id title dueAt status } } } }"""
ACTIVE = ["open", "in_progress"]
CONTACT = "c-bench"
# Deals whose primary contact is CONTACT, each with one stage change (its playbook's tasks
# name the contact).
CONTACT_DEALS = 7
SEED_SECONDS = 60


def _ms(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))] * 1000, 2)


async def _timed(samples: int, call: Any) -> list[float]:
    took: list[float] = []
    for _ in range(samples):
        start = time.perf_counter()
        await call()
        took.append(time.perf_counter() - start)
    return took


async def list_phase(
    base_url: str,
    mongodb_uri: str,
    database: str,
    workspace: str,
    owner: str,
    member: str,
    samples: int,
    seed: Callable[[str, int], Awaitable[int]],
) -> dict[str, Any]:
    """`seed(contact, deals)` publishes a stage change for each of that many deals of the
    contact and returns how many tasks they make."""

    def client(subject: str) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=base_url, auth=gateway_auth("tasks", workspace, subject, "admin"), timeout=60
        )

    mongo: AsyncMongoClient = AsyncMongoClient(mongodb_uri, tz_aware=True)
    tasks = mongo[database]["tasks"]
    rows: list[dict[str, Any]] = []
    try:
        async with client(owner) as as_owner:

            async def gql(http: httpx.AsyncClient, query: str, variables: Any = None) -> Any:
                body = await http.post("/graphql", json={"query": query, "variables": variables})
                data = body.json()
                assert not data.get("errors"), data["errors"]
                return data["data"]

            reps = {"reps": [{"__typename": "Contact", "id": CONTACT}]}
            expected = await seed(CONTACT, CONTACT_DEALS)
            deadline = time.perf_counter() + SEED_SECONDS
            while True:
                contact = await gql(as_owner, CONTACT_TASKS, reps)
                if len(contact["_entities"][0]["tasks"]) >= expected:
                    break
                if time.perf_counter() > deadline:
                    raise TimeoutError(f"the contact's {expected} playbook tasks did not appear")
                await asyncio.sleep(0.1)
            my = await gql(as_owner, MY_TASKS)
            listed = await gql(as_owner, BY_ASSIGNEE, {"a": member})
            sizes = {
                "myTasks": len(my["myTasks"]),
                "assignee_total": listed["tasks"]["totalCount"],
                "contact_tasks": len(contact["_entities"][0]["tasks"]),
            }

            scoped = {"workspace_id": workspace}
            mine = {**scoped, "assignee_id": owner, "status": {"$in": ACTIVE}}
            theirs = {**scoped, "assignee_id": member}
            of_contact = {**scoped, "contact_id": CONTACT}

            async def raw_my() -> None:
                await tasks.find(mine).sort([("due_sort", 1), ("_id", 1)]).limit(500).to_list()

            async def raw_assignee() -> None:
                await tasks.find(theirs).sort([("due_sort", 1), ("_id", 1)]).limit(21).to_list()
                await tasks.count_documents(theirs)

            async def raw_contact() -> None:
                await tasks.find(of_contact).to_list()

            cases = [
                ("myTasks", lambda: gql(as_owner, MY_TASKS), raw_my),
                (
                    "tasks(filter: {assigneeId}) + totalCount",
                    lambda: gql(as_owner, BY_ASSIGNEE, {"a": member}),
                    raw_assignee,
                ),
                ("Contact.tasks", lambda: gql(as_owner, CONTACT_TASKS, reps), raw_contact),
            ]
            for name, service_call, raw_call in cases:
                service = await _timed(samples, service_call)
                raw = await _timed(samples, raw_call)
                rows.append(
                    {
                        "name": name,
                        "service_p50_ms": _ms(service, 50),
                        "service_p99_ms": _ms(service, 99),
                        "raw_p50_ms": _ms(raw, 50),
                        "raw_p99_ms": _ms(raw, 99),
                        "ratio_p50": round(_ms(service, 50) / max(_ms(raw, 50), 1e-6), 3),
                        "ratio_p99": round(_ms(service, 99) / max(_ms(raw, 99), 1e-6), 3),
                    }
                )

        # The index's memory: the same workspace loaded in this process.
        writer = DocumentWriter(
            mongo[database], profile=FERRETDB, outbox_collections=OUTBOX_COLLECTIONS, encode=encode
        )
        store = mongo_store(writer)
        assert isinstance(store, IndexedStore)
        index = store.index
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        start = time.perf_counter()
        entries = await index.entries(workspace)
        load_seconds = time.perf_counter() - start
        held = tracemalloc.get_traced_memory()[0] - before
        tracemalloc.stop()
        count = len(entries) if entries is not None else 0
        return {
            "lists": rows,
            "sizes": sizes,
            "index_tasks": count,
            "index_bytes_per_task": round(held / max(count, 1)),
            "index_load_ms": round(load_seconds * 1000, 1),
            "samples": samples,
        }
    finally:
        await mongo.close()


def print_lists(result: dict[str, Any]) -> None:
    sizes = result["sizes"]
    print(
        f"lists ({result['samples']} samples each; myTasks returns {sizes['myTasks']}, "
        f"the assignee has {sizes['assignee_total']} tasks, the contact "
        f"{sizes['contact_tasks']}); raw = the same filter with the driver on the same FerretDB"
    )
    print(
        f"{'query':42} {'svc p50':>9} {'svc p99':>9} {'raw p50':>9} {'raw p99':>9} "
        f"{'p50 x':>7} {'p99 x':>7}"
    )
    for r in result["lists"]:
        print(
            f"{r['name']:42} {r['service_p50_ms']:>9} {r['service_p99_ms']:>9} "
            f"{r['raw_p50_ms']:>9} {r['raw_p99_ms']:>9} {r['ratio_p50']:>7} {r['ratio_p99']:>7}"
        )
    print(
        f"read index: {result['index_tasks']} tasks, {result['index_bytes_per_task']} B/task "
        f"(tracemalloc), one load {result['index_load_ms']} ms"
    )
