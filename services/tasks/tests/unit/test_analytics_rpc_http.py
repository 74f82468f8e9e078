"""Analytics, the NATS endpoint handlers, and the HTTP gate (no token, no data)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest

from crm_kit.context import RequestContext
from crm_kit.rpc import RpcError
from crm_kit.settings import Settings
from crm_kit.testing import Clock, gateway_auth
from crm_tasks.app import create_app
from crm_tasks.entrypoints.rpc import endpoints
from crm_tasks.events import examples
from crm_tasks.usecases.scope import scopes

from .conftest import T0, FakeStore, Inbound

ANALYTICS = """query($from: DateTime!, $to: DateTime!, $by: AnalyticsGroupBy!) {
  taskAnalytics(from: $from, to: $to, groupBy: $by) {
    groups { key created completed completionRate overdue medianSecondsToComplete }
    total { created completed overdue medianSecondsToComplete }
    playbooks { dealsOnTime dealsOnTimeWon winRateOnTime dealsLate dealsLateWon winRateLate } } }"""


async def test_task_analytics_groups_and_playbook_effectiveness(
    caller: Any, inbound: Inbound, clock: Clock
) -> None:
    # Deal A: playbook done on time, won. Deal B: playbook task late, lost. Deal C: won, late.
    for deal in ("A", "B", "C"):
        await inbound.deliver(
            examples.stage_changed(
                deal_id=deal,
                changed_at=T0,
                playbook=[{"key": "k", "title": "Call", "type": "call", "dueOffsetDays": 1}],
            )
        )
    listed = await caller.data("{ tasks { edges { node { id dealId } } } }")
    tasks = {e["node"]["dealId"]: e["node"]["id"] for e in listed["tasks"]["edges"]}
    complete = "mutation($id: ID!) { completeTask(id: $id) { onTime } }"
    clock.advance(hours=2)
    assert (await caller.data(complete, {"id": tasks["A"]}))["completeTask"]["onTime"] is True
    clock.advance(days=2)
    assert (await caller.data(complete, {"id": tasks["C"]}))["completeTask"]["onTime"] is False
    await inbound.deliver(examples.deal_closed(deal_id="A", won=True, at=clock.now))
    await inbound.deliver(examples.deal_closed(deal_id="B", won=False, at=clock.now))
    await inbound.deliver(examples.deal_closed(deal_id="C", won=True, at=clock.now))
    await caller.data('mutation { createTask(input: {title: "mine", type: EMAIL}) { id } }')
    variables = {
        "from": (T0 - timedelta(days=1)).isoformat(),
        "to": (T0 + timedelta(days=30)).isoformat(),
        "by": "TYPE",
    }
    result = (await caller.data(ANALYTICS, variables))["taskAnalytics"]
    by_type = {g["key"]: g for g in result["groups"]}
    assert by_type["call"]["created"] == 3
    assert by_type["call"]["completed"] == 2
    assert by_type["call"]["completionRate"] == pytest.approx(2 / 3)
    # C completed late; B was cancelled when lost (not overdue).
    assert by_type["call"]["overdue"] == 1
    assert by_type["call"]["medianSecondsToComplete"] == pytest.approx((2 * 3600 + 50 * 3600) / 2)
    assert by_type["email"]["created"] == 1
    assert result["total"]["created"] == 4
    assert result["playbooks"] == {
        "dealsOnTime": 1,
        "dealsOnTimeWon": 1,
        "winRateOnTime": 1.0,
        "dealsLate": 2,
        "dealsLateWon": 1,
        "winRateLate": 0.5,
    }
    variables["by"] = "ASSIGNEE"
    result = (await caller.data(ANALYTICS, variables))["taskAnalytics"]
    assert {g["key"]: g["created"] for g in result["groups"]} == {"owner-1": 3, "alice": 1}


async def test_analytics_rejects_an_empty_range(caller: Any) -> None:
    error = await caller.error(
        ANALYTICS, {"from": T0.isoformat(), "to": T0.isoformat(), "by": "TEAM"}
    )
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "to"}


async def test_rpc_create_and_list_open(store: FakeStore, clock: Clock) -> None:
    handlers = {e.name: e.handler for e in endpoints(scopes(store.store, clock))}
    alice = RequestContext("w1", "alice", frozenset({"rep"}))
    created = await handlers["task-create"](
        alice,
        {
            "title": "Send contract",
            "type": "email",
            "dueAt": "2026-03-04T10:00:00Z",
            "assigneeId": "bob",
            "dealId": "d1",
            "idempotencyKey": "k1",
        },
    )
    assert created["status"] == "open" and created["assigneeId"] == "bob"
    # The creator is the caller the (verified) assertion names, never a body field.
    [stored] = await store.for_workspace("w1").get_tasks([created["id"]])
    assert stored.created_by == "alice"
    again = await handlers["task-create"](alice, {"title": "Send contract", "idempotencyKey": "k1"})
    assert again["id"] == created["id"]
    listed = await handlers["task-list-open"](alice, {"dealId": "d1"})
    assert [t["id"] for t in listed["tasks"]] == [created["id"]]
    other = RequestContext("w2", "alice", frozenset({"rep"}))
    assert (await handlers["task-list-open"](other, {"dealId": "d1"}))["tasks"] == []
    for payload, code in [
        ({"title": "x", "createdBy": "mallory"}, "BAD_REQUEST"),
        ({"title": ""}, "BAD_REQUEST"),
        ({"title": "x", "type": "fax"}, "BAD_REQUEST"),
        ({"title": "x", "dueAt": "tomorrow"}, "BAD_REQUEST"),
        ({"title": "x", "teamId": "0" * 24}, "NOT_FOUND"),
    ]:
        with pytest.raises(RpcError) as caught:
            await handlers["task-create"](alice, payload)
        assert caught.value.code == code
    with pytest.raises(RpcError) as caught:
        await handlers["task-list-open"](alice, {"dealId": "d1", "contactId": "c1"})
    assert caught.value.code == "BAD_REQUEST"


async def test_http_requires_a_token(store: FakeStore) -> None:
    app = create_app(Settings(service="tasks"), store=store.store)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        body = {"query": "{ myTasks { id } }"}
        refused = await http.post("/graphql", json=body)
        assert refused.status_code == 401
        assert refused.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
        bad = await http.post("/graphql", json=body, headers={"Authorization": "Bearer x.y.z"})
        assert bad.status_code == 401
        ok = await http.post("/graphql", json=body, auth=gateway_auth("tasks", "w1", "bob", "rep"))
        assert ok.json() == {"data": {"myTasks": []}}
        create = {
            "query": 'mutation { createTask(input: {title: "x", type: CALL, '
            'dueAt: "2026-03-04T10:00:00Z", assigneeId: "bob", dealId: "d1"}) { id status } }'
        }
        made = await http.post(
            "/graphql", json=create, auth=gateway_auth("tasks", "w1", "bob", "rep")
        )
        assert made.json()["data"]["createTask"]["status"] == "OPEN"
        assert (await http.get("/health")).json() == {"status": "ok"}
