"""`taskChanged` and `notificationReceived` over the live transport, fed by the service's own
JetStream events: filters (and a task leaving one), notifications only for their recipient."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from nats.js import JetStreamContext
from starlette.applications import Starlette

from crm_kit.live_testing import LiveStream
from crm_kit.settings import Settings
from crm_kit.testing import GraphQLClient, gateway_auth, running_app
from crm_tasks.app import create_app

pytestmark = pytest.mark.integration

CHANGES = """
subscription($a: String) {
  taskChanged(assigneeId: $a) { kind taskId changedFields task { title assigneeId } }
}
"""
NOTIFICATIONS = """
subscription { notificationReceived { reason title taskId task { title } } }
"""
CREATE = """
mutation($t: String!, $a: ID, $r: DateTime) {
  createTask(input: {title: $t, assigneeId: $a, remindAt: $r}) { id }
}
"""
REASSIGN = "mutation($id: ID!, $a: ID!) { updateTask(id: $id, input: {assigneeId: $a}) { id } }"


@pytest.fixture
async def app(settings: Settings, js: JetStreamContext) -> AsyncIterator[Starlette]:
    application = create_app(settings)
    async with running_app(application) as http:
        application.state.http = http
        yield application


def client(app: Starlette, subject: str = "alice", workspace: str = "w1") -> GraphQLClient:
    return GraphQLClient(app.state.http, gateway_auth("tasks", workspace, subject, "rep"))


async def _create(app: Starlette, title: str, assignee: str, **more: Any) -> str:
    data = await client(app).data(CREATE, {"t": title, "a": assignee, **more})
    return str(data["createTask"]["id"])


async def test_an_assignee_filter_reports_a_task_leaving_it_once(app: Starlette) -> None:
    stream = await LiveStream.open(app, "tasks", CHANGES, {"a": "bob"}, roles="rep")
    try:
        task = await _create(app, "Call", "bob")
        await _create(app, "Not bob's", "carol")
        await client(app).data(REASSIGN, {"id": task, "a": "carol"})
        await client(app).data(REASSIGN, {"id": task, "a": "dave"})  # gone: not reported
        last = await _create(app, "Email", "bob")
        got = [(await stream.result())["data"]["taskChanged"] for _ in range(3)]
        # In order per task; two tasks' events may reach the stream in either order (each
        # document's outbox is relayed on its own).
        assert [c["kind"] for c in got if c["taskId"] == task] == ["CREATED", "UPDATED"]
        assert [c["kind"] for c in got if c["taskId"] == last] == ["CREATED"]
        left = next(c for c in got if c["kind"] == "UPDATED")
        assert left["changedFields"] == ["assigneeId"]
        # `task` is the task as read when the result is made: by then it is dave's.
        assert left["task"]["assigneeId"] in ("carol", "dave")
        email = next(c for c in got if c["taskId"] == last)
        assert email["task"] == {"title": "Email", "assigneeId": "bob"}
    finally:
        await stream.close()


async def test_notifications_reach_their_recipient_only(app: Starlette) -> None:
    alice = await LiveStream.open(app, "tasks", NOTIFICATIONS, subject="alice", roles="rep")
    bob = await LiveStream.open(app, "tasks", NOTIFICATIONS, subject="bob", roles="rep")
    elsewhere = await LiveStream.open(
        app, "tasks", NOTIFICATIONS, subject="alice", workspace="w2", roles="rep"
    )
    try:
        past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
        task = await _create(app, "Renewal", "alice", r=past)
        # The reminder comes from the scheduler's pass over the task index, which follows
        # the stream: on a busy machine that can take more than the default 10 s.
        got = [(await alice.result(30))["data"]["notificationReceived"] for _ in range(2)]
        assert [(n["reason"], n["taskId"]) for n in got] == [
            ("ASSIGNMENT", task),
            ("REMINDER", task),
        ]
        assert got[1]["task"] == {"title": "Renewal"}
        # Bob's first notification is his own; alice's never reached him.
        mine = await _create(app, "For bob", "bob")
        first = (await bob.result())["data"]["notificationReceived"]
        assert (first["reason"], first["taskId"]) == ("ASSIGNMENT", mine)
        # Nor did anything of workspace w1 reach alice in w2.
        theirs = await client(app, "alice", "w2").data(CREATE, {"t": "w2 task", "a": "alice"})
        first = (await elsewhere.result())["data"]["notificationReceived"]
        assert first["taskId"] == theirs["createTask"]["id"]
    finally:
        for stream in (alice, bob, elsewhere):
            await stream.close()
