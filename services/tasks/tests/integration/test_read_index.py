"""The tasks read index across instances on a real FerretDB + NATS: two tasks apps on the
same database and NATS see each other's writes within a bounded wait (`myTasks`,
`tasks(filter)` with `totalCount`, `Contact.tasks`), the playbook consumer's tasks show up
in lists, and a restarted instance rebuilds from a scan."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest
from nats.js import JetStreamContext

from crm_kit.settings import Settings
from crm_kit.testing import GraphQLClient, eventually, gateway_auth, running_app
from crm_tasks.app import create_app
from crm_tasks.events import examples

from .conftest import publish

pytestmark = pytest.mark.integration

WS = "ws-index"


@pytest.fixture
def settings(infra: Any, db_name: str) -> Settings:
    """The read index is the embedded database's (the profile `auto` detects `ferretdb`);
    on MongoDB every instance reads the database itself."""
    return Settings(
        service="tasks",
        mongodb_uri=infra.mongodb_uri,
        database=db_name,
        nats_url=infra.nats_url,
        outbox_sweep_seconds=0.5,
        max_deliveries=5,
        database_profile="auto",
    )


CREATE = """mutation($input: CreateTaskInput!) { createTask(input: $input) { id } }"""
COMPLETE = """mutation($id: ID!) { completeTask(id: $id) { id status } }"""
MY_TASKS = "{ myTasks { id status } }"
BY_ASSIGNEE = """query($a: ID!, $s: TaskStatus) { tasks(filter: {assigneeId: $a, status: $s}) {
  totalCount edges { node { id } } } }"""
CONTACT_TASKS = """query($reps: [_Any!]!) { _entities(representations: $reps) {
  ... on Contact { id tasks { id } } } }"""


@contextlib.asynccontextmanager
async def instance(settings: Settings, subject: str = "alice") -> AsyncIterator[dict[str, Any]]:
    app = create_app(settings)
    async with running_app(app) as http:
        yield {
            "client": GraphQLClient(http, gateway_auth("tasks", WS, subject, "admin")),
            "app": app,
        }


async def my_ids(client: GraphQLClient) -> list[str]:
    return [t["id"] for t in (await client.data(MY_TASKS))["myTasks"]]


async def assigned(client: GraphQLClient, who: str, status: str | None = None) -> tuple[int, set]:
    found = (await client.data(BY_ASSIGNEE, {"a": who, "s": status}))["tasks"]
    return found["totalCount"], {e["node"]["id"] for e in found["edges"]}


async def test_writes_on_one_instance_reach_the_other(
    settings: Settings, js: JetStreamContext
) -> None:
    async with instance(settings) as a, instance(settings) as b:
        assert await my_ids(b["client"]) == []  # b's index loaded (empty workspace)
        assert b["app"].state.index.scans(WS) <= 1  # 0: empty at the warm-up, no scan
        created = await a["client"].data(
            CREATE,
            {
                "input": {
                    "title": "Call back",
                    "type": "CALL",
                    "assigneeId": "alice",
                    "contactId": "c-9",
                    "dueAt": "2020-01-01T00:00:00Z",
                }
            },
        )
        task_id = created["createTask"]["id"]
        assert await my_ids(a["client"]) == [task_id]  # read-your-writes on a

        async def on_b() -> bool:
            return await my_ids(b["client"]) == [task_id] and await assigned(
                b["client"], "alice"
            ) == (1, {task_id})

        await eventually(on_b, timeout=10)
        reps = {"reps": [{"__typename": "Contact", "id": "c-9"}]}
        entities = (await b["client"].data(CONTACT_TASKS, reps))["_entities"]
        assert [t["id"] for t in entities[0]["tasks"]] == [task_id]

        await a["client"].data(COMPLETE, {"id": task_id})

        async def completed_on_b() -> bool:
            return await my_ids(b["client"]) == [] and await assigned(
                b["client"], "alice", "DONE"
            ) == (1, {task_id})

        await eventually(completed_on_b, timeout=10)
        assert b["app"].state.index.scans(WS) <= 1  # events, not rescans

        # A page re-reads changed documents, so b can answer right before the completion's
        # event reaches it; the event still arrives.
        async def both_events_on_b() -> bool:
            return bool(b["app"].state.feed.received >= 2)

        await eventually(both_events_on_b, timeout=10)


async def test_playbook_tasks_show_in_lists_and_a_restart_rebuilds(
    settings: Settings, js: JetStreamContext
) -> None:
    async with instance(settings, "owner-1") as a:
        assert await my_ids(a["client"]) == []
        await publish(js, examples.stage_changed(deal_id="d-idx", workspace=WS))

        async def listed() -> list[str]:
            ids = await my_ids(a["client"])
            return ids if len(ids) >= 2 else []

        playbook = await eventually(listed, timeout=15)
        assert (await assigned(a["client"], "owner-1"))[0] == len(playbook)
        # Written while no instance of b runs: a restart scans them in.
        extra = await a["client"].data(
            CREATE, {"input": {"title": "Later", "type": "TODO", "assigneeId": "owner-1"}}
        )
        async with instance(settings, "owner-1") as b:
            ids = await my_ids(b["client"])
            assert set(ids) == {*playbook, extra["createTask"]["id"]}
            assert b["app"].state.index.scans(WS) <= 1


DEAL_TASKS = """query($reps: [_Any!]!) { _entities(representations: $reps) {
  ... on Deal { id open: tasks(status: OPEN) { id } all: tasks { id status } } } }"""


async def test_a_fetchs_deal_references_answer_their_tasks_across_instances(
    settings: Settings,
) -> None:
    """A board's fetch of deal references (their tasks read together before the fields
    ask) answers on another instance what was written on the first, completions included."""
    async with instance(settings) as a, instance(settings) as b:
        made: dict[str, list[str]] = {}
        for n, deal in enumerate(("d-1", "d-2", "d-3")):
            for k in range(n + 1):
                created = await a["client"].data(
                    CREATE,
                    {
                        "input": {
                            "title": f"step {k}",
                            "assigneeId": "alice",
                            "dealId": deal,
                            "dueAt": f"2030-01-0{k + 1}T00:00:00Z",
                        }
                    },
                )
                made.setdefault(deal, []).append(created["createTask"]["id"])
        done = made["d-3"][0]
        await a["client"].data(COMPLETE, {"id": done})
        reps = {"reps": [{"__typename": "Deal", "id": d} for d in ("d-3", "d-0", "d-1", "d-2")]}
        expected = [
            {
                "id": "d-3",
                "open": [{"id": i} for i in made["d-3"][1:]],
                "all": [{"id": done, "status": "DONE"}]
                + [{"id": i, "status": "OPEN"} for i in made["d-3"][1:]],
            },
            {"id": "d-0", "open": [], "all": []},
            {
                "id": "d-1",
                "open": [{"id": made["d-1"][0]}],
                "all": [{"id": made["d-1"][0], "status": "OPEN"}],
            },
            {
                "id": "d-2",
                "open": [{"id": i} for i in made["d-2"]],
                "all": [{"id": i, "status": "OPEN"} for i in made["d-2"]],
            },
        ]
        assert (await a["client"].data(DEAL_TASKS, reps))["_entities"] == expected

        async def on_b() -> bool:
            return bool((await b["client"].data(DEAL_TASKS, reps))["_entities"] == expected)

        await eventually(on_b, timeout=10)
