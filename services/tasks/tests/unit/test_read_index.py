"""The tasks read index (`store/indexed.py`): the embedded database's read model serves lists,
counts, open counts and analytics summaries as the database would (the same filters and
orders, evaluated by the kit over the summaries), pages walked by cursor included; it
hears every write through the write path's hooks (read-your-writes, its own events
expected), heals an entry that fell behind its task, falls back to the database when a
load fails, and stays small."""

from __future__ import annotations

import asyncio
import random
import tracemalloc
from datetime import timedelta
from typing import Any

import pytest

from crm_contracts import tasks as contract
from crm_kit.memory_db import MemoryDatabase
from crm_tasks.domain.queries import TaskFilter, TaskOrder
from crm_tasks.domain.task import (
    ACTIVE_STATUSES,
    ORDER_FIELDS,
    PRIORITIES,
    STATUSES,
    Task,
    TaskCreated,
    TaskSource,
)
from crm_tasks.events.publish import encode
from crm_tasks.store.indexed import IndexedStore
from crm_tasks.store.memory import memory_store
from crm_tasks.store.port import TasksStore

from .conftest import T0

PEOPLE = ["ann", "bob", "cy", "dee", None]
TEAMS = ["t1", "t2", None]
CONTACTS = ["c1", "c2", "c3", None]
KINDS = ["manual", "playbook", "rule"]
# What the lists ask for: each kind of condition, alone and combined.
FILTERS = [
    TaskFilter(),
    TaskFilter(assignee_id="ann"),
    TaskFilter(assignee_id="bob", statuses=ACTIVE_STATUSES),
    TaskFilter(team_id="t1", overdue=True),
    TaskFilter(contact_ids=["c1", "c3"]),
    TaskFilter(statuses=["done"], source_kind="playbook"),
    TaskFilter(overdue=False),
    TaskFilter(due_after=T0 - timedelta(days=2), due_before=T0 + timedelta(days=1)),
    TaskFilter(created_from=T0 - timedelta(days=10), created_to=T0 - timedelta(days=3)),
    TaskFilter(assignee_id="cy", team_id="t2", overdue=False, statuses=["open", "done"]),
]


def random_task(rng: random.Random, i: int, workspace: str = "w1") -> Task:
    created = T0 - timedelta(hours=rng.randrange(0, 24 * 20))
    due = None if rng.random() < 0.2 else T0 + timedelta(hours=rng.randrange(-24 * 5, 24 * 5))
    status = rng.choice(STATUSES)
    done = status == "done"
    completed = created + timedelta(hours=rng.randrange(1, 100)) if done else None
    return Task(
        id=f"t{i:04d}",
        workspace_id=workspace,
        title=f"task {i}",
        type=rng.choice(["call", "email", "todo"]),
        created_at=created,
        idem_key=f"manual:{i}",
        status=status,
        priority=rng.choice(PRIORITIES),
        source=TaskSource(kind=rng.choice(KINDS)),
        due_at=due,
        assignee_id=rng.choice(PEOPLE),
        team_id=rng.choice(TEAMS),
        contact_id=rng.choice(CONTACTS),
        # A few equal sort values, so pages break ties by id.
        updated_at=created + timedelta(hours=rng.randrange(0, 3)),
        completed_at=completed,
        on_time=(completed <= due if due else True) if done else None,
        reminder_sent=True,
        overdue_sent=True,
    )


async def seeded(n: int, seed: int) -> tuple[MemoryDatabase, TasksStore, IndexedStore]:
    """The same database as on MongoDB and with the read index."""
    rng = random.Random(seed)
    db = MemoryDatabase(encode=encode)
    plain = memory_store(db)
    await plain.for_workspace("w1").add_tasks([random_task(rng, i) for i in range(n)])
    await plain.for_workspace("w2").add_tasks([random_task(rng, 9999, "w2")])
    indexed = memory_store(db, workarounds=True)
    assert isinstance(indexed, IndexedStore)
    return db, plain, indexed


async def walk(store: TasksStore, where: TaskFilter, order: TaskOrder, size: int) -> list[str]:
    """Every page by cursor, as the `tasks` connection walks them."""
    seen: list[str] = []
    after = None
    for _ in range(400):
        page = await store.for_workspace("w1").list_tasks(where, T0, order, after, size)
        seen += [t.id for t in page.items]
        if not page.has_next:
            return seen
        last = page.items[-1]
        after = (last.sort_value(order.field), last.id)
    raise AssertionError("pages did not end")


@pytest.mark.parametrize("where", FILTERS, ids=range(len(FILTERS)))
async def test_the_index_answers_as_the_database(where: TaskFilter) -> None:
    _, plain, indexed = await seeded(150, 1)
    database, index = plain.for_workspace("w1"), indexed.for_workspace("w1")
    for field in ORDER_FIELDS:
        for descending in (False, True):
            order = TaskOrder(field, descending)
            expected = await walk(plain, where, order, 17)
            assert expected == await walk(indexed, where, order, 17), (field, descending)
            page = await index.list_tasks(where, T0, order, None, 7)
            assert page.total == len(expected)
    assert await index.count_tasks(where, T0) == await database.count_tasks(where, T0)
    summaries = sorted(s.id for s in await index.task_summaries(where, T0))
    assert summaries == sorted(s.id for s in await database.task_summaries(where, T0))
    members = ["ann", "bob", "zed"]
    assert await index.open_counts(members) == await database.open_counts(members)
    assert indexed.index.scans("w1") == 1  # served from memory after one load


async def test_writes_are_read_back_at_once_and_their_events_expected() -> None:
    db, plain, indexed = await seeded(50, 5)
    ws = indexed.for_workspace("w1")
    mine = TaskFilter(assignee_id="zed")
    assert await ws.count_tasks(mine, T0) == 0  # loaded
    new = random_task(random.Random(0), 500)
    new.assignee_id, new.status = "zed", "open"
    new.raise_event(TaskCreated(new))
    await ws.add_tasks([new])
    assert [t.id for t in await ws.find_tasks(mine, T0)] == ["t0500"]
    [event] = db.events_of_type(contract.TASK_CREATED)
    assert indexed.index.expected(event.id)  # the feed will not re-read it
    # A write through any store of this database reaches the index through the hooks.

    async def reassign(task: Task) -> bool:
        return bool(task.change({"assignee_id": "yan"}, at=T0))

    await plain.for_workspace("w1").change_task("t0500", reassign)
    assert await ws.count_tasks(mine, T0) == 0
    assert await ws.open_counts(["yan", "zed"]) == {"yan": 1}
    assert indexed.index.scans("w1") == 1


async def test_an_entry_behind_its_task_heals_on_fetch() -> None:
    db, _, indexed = await seeded(50, 6)
    ws = indexed.for_workspace("w1")
    target = (await ws.find_tasks(TaskFilter(assignee_id="ann"), T0))[0]
    # Another replica reassigned it behind this index's back (its event not applied yet).
    db.collections["tasks"][target.id]["assignee_id"] = "yan"
    order = TaskOrder("created_at")
    page = await ws.list_tasks(TaskFilter(assignee_id="ann"), T0, order, None, 100)
    assert target.id not in [t.id for t in page.items]  # re-read and selected again
    assert await ws.count_tasks(TaskFilter(assignee_id="yan"), T0) == 1


async def test_a_failed_load_falls_back_to_the_database() -> None:
    _, plain, indexed = await seeded(20, 7)

    async def broken(workspace: str) -> Any:
        raise RuntimeError("database down")
        yield  # pragma: no cover

    indexed.index._scan = broken  # type: ignore[method-assign]
    where = TaskFilter(statuses=ACTIVE_STATUSES)
    served = await indexed.for_workspace("w1").count_tasks(where, T0)
    assert served == await plain.for_workspace("w1").count_tasks(where, T0)
    assert indexed.index.scans("w1") == 0


def entry_bytes(n: int) -> float:
    """Bytes per task of a loaded index (what `bench/tasks` measures on FerretDB)."""

    async def load() -> float:
        _, _, indexed = await seeded(n, 9)
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        await indexed.index.entries("w1")
        after = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
        return (after - before) / n

    return asyncio.run(load())


def test_entries_stay_small() -> None:
    # Not a timing: a guard that the summary did not grow a large field by accident.
    assert entry_bytes(600) < 1500
