"""The Mongo adapter on FerretDB: mapping, scoping, uniqueness, keyset pages, claims."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from crm_tasks.domain.model import Condition, Rule, RuleRun, Task, TaskSource, Team
from crm_tasks.events.publish import overdue_events, task_created
from crm_tasks.store.mongo import MongoTasksStore
from crm_tasks.store.protocol import DuplicateKey, TaskFilter, TaskPageRequest

pytestmark = pytest.mark.integration
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
async def store(infra: Any, db_name: str) -> AsyncIterator[MongoTasksStore]:
    client: AsyncMongoClient = AsyncMongoClient(infra.mongodb_uri, tz_aware=True)
    store = MongoTasksStore(client[db_name])
    await store.ensure_indexes()
    yield store
    await client.close()


def make_task(n: int, **fields: Any) -> Task:
    task_id = f"{n:024x}"
    return Task(
        **{
            "id": task_id,
            "workspace_id": "w1",
            "title": f"t{n}",
            "type": "call",
            "created_at": NOW,
            "updated_at": NOW,
            "idem_key": f"manual:{task_id}",
            "reminder_sent": True,
            "overdue_sent": True,
            **fields,
        }
    )


async def test_round_trip_scoping_and_idempotency_key(store: MongoTasksStore) -> None:
    w1, w2 = store.for_workspace("w1"), store.for_workspace("w2")
    task = make_task(1, source=TaskSource("playbook", "k", None, "sc"), idem_key="playbook:sc:k")
    task.due_at = NOW + timedelta(days=1)
    await w1.insert_task(task, [task_created(task)])
    assert await w1.get_task(task.id) == task
    assert await w2.get_task(task.id) is None
    with pytest.raises(DuplicateKey):
        await w1.insert_task(make_task(2, idem_key="playbook:sc:k"), [])
    assert await w1.get_task_by_idem("playbook:sc:k") == task
    # The same key in another workspace is another task.
    await w2.insert_task(make_task(3, workspace_id="w2", idem_key="playbook:sc:k"), [])
    found = await w1.find_tasks(TaskFilter(source_kind="playbook", deal_ids=None), NOW)
    assert [t.id for t in found] == [task.id]


async def test_conditional_update_and_filters(store: MongoTasksStore) -> None:
    w1 = store.for_workspace("w1")
    await w1.insert_task(make_task(1, due_at=NOW - timedelta(hours=1), deal_id="d1"), [])
    await w1.insert_task(make_task(2, due_at=NOW + timedelta(hours=1), deal_id="d1"), [])
    await w1.insert_task(make_task(3, deal_id="d2", assignee_id="bob"), [])
    updated = await w1.update_task(
        f"{1:024x}", {"status": "in_progress"}, lambda t: [], expect={"status": "open"}
    )
    assert updated is not None and updated.status == "in_progress" and updated.version == 1
    stale = await w1.update_task(
        f"{1:024x}", {"status": "done"}, lambda t: [], expect={"status": "open"}
    )
    assert stale is None
    overdue = await w1.find_tasks(TaskFilter(overdue=True), NOW)
    assert [t.title for t in overdue] == ["t1"]
    not_overdue = await w1.find_tasks(TaskFilter(overdue=False), NOW)
    assert sorted(t.title for t in not_overdue) == ["t2", "t3"]
    assert await w1.count_tasks(TaskFilter(deal_ids=["d1"]), NOW) == 2
    assert await w1.open_counts(["bob", "amy"]) == {"bob": 1}
    # Keyset pages by due date, undated last.
    page1 = await w1.find_tasks(TaskFilter(), NOW, TaskPageRequest("due_at", False, None, 2))
    assert [t.title for t in page1] == ["t1", "t2"]
    after = (page1[-1].due_at, page1[-1].id)
    page2 = await w1.find_tasks(TaskFilter(), NOW, TaskPageRequest("due_at", False, after, 2))
    assert [t.title for t in page2] == ["t3"]


async def test_round_robin_counter_and_team_name_unique(store: MongoTasksStore) -> None:
    w1 = store.for_workspace("w1")
    team = Team("a" * 24, "w1", "SDR", ["x", "y"], created_at=NOW)
    await w1.insert_team(team)
    with pytest.raises(DuplicateKey):
        await w1.insert_team(Team("b" * 24, "w1", "SDR", ["z"], created_at=NOW))
    counters = [await w1.reserve_round_robin(team, None) for _ in range(3)]
    assert counters == [1, 2, 3]
    keyed = await w1.reserve_round_robin(team, "playbook:sc:k")
    again = await w1.reserve_round_robin(team, "playbook:sc:k")
    assert keyed == again == 4


async def test_rules_and_one_run_per_event(store: MongoTasksStore) -> None:
    w1 = store.for_workspace("w1")
    rule = Rule(
        "c" * 24, "w1", "r", "deal_won", [Condition("deal.tags", "in", {"a.b": ["$x"]})], []
    )
    await w1.insert_rule(rule)
    assert (await w1.get_rule(rule.id)).conditions[0].value == {"a.b": ["$x"]}  # type: ignore[union-attr]
    run = RuleRun("d" * 24, "w1", rule.id, "e1", "t", "running", NOW)
    assert await w1.start_run(run) is None
    again = await w1.start_run(RuleRun("e" * 24, "w1", rule.id, "e1", "t", "running", NOW))
    assert again is not None and again.id == run.id
    run.outcome = "succeeded"
    assert await w1.finish_run(run, []) is True
    assert await w1.finish_run(run, []) is False
    assert [r.outcome for r in await w1.list_runs(rule.id, None, 10)] == ["succeeded"]


async def test_claims_fire_once(store: MongoTasksStore) -> None:
    w1 = store.for_workspace("w1")
    await w1.insert_task(make_task(1, due_at=NOW, overdue_sent=False), [])
    await w1.insert_task(make_task(2, due_at=NOW + timedelta(hours=1), overdue_sent=False), [])
    await w1.insert_task(make_task(3, due_at=NOW, overdue_sent=False, status="done"), [])
    first = await store.claim_overdue(NOW, 10, overdue_events)
    assert [t.title for t in first] == ["t1"]
    assert first[0].overdue_sent is True
    assert await store.claim_overdue(NOW, 10, overdue_events) == []
    # Even a pass that missed the flag (a stale read, a lost update) cannot fire twice.
    w1_task = await w1.get_task(f"{1:024x}")
    assert w1_task is not None
    await store._db["tasks"].update_one({"_id": w1_task.id}, {"$set": {"overdue_sent": False}})
    await w1.update_task(w1_task.id, {"overdue_sent": False}, lambda t: [])
    assert await store.claim_overdue(NOW, 10, overdue_events) == []


async def test_round_robin_slots_are_unique_under_concurrency(
    infra: Any, db_name: str, store: MongoTasksStore
) -> None:
    """FerretDB loses concurrent `$inc`s; the slot inserts must not lose or repeat turns."""
    team = Team("f" * 24, "w1", "SDR", ["x"])
    await store.for_workspace("w1").insert_team(team)
    other_client: AsyncMongoClient = AsyncMongoClient(infra.mongodb_uri, tz_aware=True)
    try:
        replicas = [
            store.for_workspace("w1"),
            MongoTasksStore(other_client[db_name]).for_workspace("w1"),
        ]
        picks = await asyncio.gather(
            *(replicas[i % 2].reserve_round_robin(team, None) for i in range(60)),
            *(replicas[i % 2].reserve_round_robin(team, "same-key") for i in range(10)),
        )
    finally:
        await other_client.close()
    positions = list(picks)
    assert sorted(positions[:60] + positions[60:61]) == list(range(1, 62))
    assert len(set(positions[60:])) == 1


async def test_deal_tasks_by_id_lists_backfill_and_locked_updates(
    store: MongoTasksStore, infra: Any, db_name: str
) -> None:
    w1, w2 = store.for_workspace("w1"), store.for_workspace("w2")
    await asyncio.gather(*(w1.insert_task(make_task(n, deal_id="d1"), []) for n in range(1, 4)))
    await w2.insert_task(make_task(9, workspace_id="w2", deal_id="d1"), [])
    found = await w1.find_tasks(TaskFilter(deal_ids=["d1"]), NOW)
    assert sorted(t.title for t in found) == ["t1", "t2", "t3"]
    # Moved to another deal: listed there, no longer found under the first one.
    await w1.update_task(f"{3:024x}", {"deal_id": "d2"}, lambda t: [])
    assert {t.title for t in await w1.find_tasks(TaskFilter(deal_ids=["d1"]), NOW)} == {
        "t1",
        "t2",
    }
    assert [t.title for t in await w1.find_tasks(TaskFilter(deal_ids=["d2"]), NOW)] == ["t3"]
    # Concurrent updates of one task in one process: none is lost.
    fields = ["title", "description", "company_id", "contact_id"]
    await asyncio.gather(
        *(w1.update_task(f"{1:024x}", {f: f"v-{f}"}, lambda t: []) for f in fields)
    )
    task = await w1.get_task(f"{1:024x}")
    assert task is not None and all(getattr(task, f) == f"v-{f}" for f in fields)
    assert task.version == len(fields)
    # Tasks written before the lists existed are listed once at start-up.
    client: AsyncMongoClient = AsyncMongoClient(infra.mongodb_uri, tz_aware=True)
    try:
        db = client[db_name]
        await db["deal_tasks"].delete_many({})
        await db["tasks_meta"].delete_many({})
        fresh = MongoTasksStore(db)
        await fresh.ensure_indexes()
        again = await fresh.for_workspace("w1").find_tasks(TaskFilter(deal_ids=["d1"]), NOW)
        assert sorted(t.title for t in again) == ["t2", "v-title"]
    finally:
        await client.close()
