"""The tasks read index (`store/indexed.py`) answers exactly what the store answers:
randomized tasks, every `TaskFilter` field, every ordering both ways, pages walked by
cursor, totals, open counts and analytics rows; writes through it are read back at once,
and an entry that fell behind its document heals on fetch."""

from __future__ import annotations

import asyncio
import random
import tracemalloc
from datetime import timedelta
from typing import Any

import pytest

from crm_tasks.domain.model import ACTIVE_STATUSES, STATUSES, Task, TaskSource
from crm_tasks.store.codec import PRIORITY_RANK
from crm_tasks.store.indexed import IndexedTasksStore, task_index
from crm_tasks.store.memory import MemoryTasksStore
from crm_tasks.store.protocol import NO_DUE, SORT_FIELDS, TaskFilter, TaskPageRequest

from .conftest import T0

PEOPLE = ["ann", "bob", "cy", "dee", None]
TEAMS = ["t1", "t2", None]
CONTACTS = ["c1", "c2", "c3", None]
KINDS = ["manual", "playbook", "rule"]


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
        priority=rng.choice(list(PRIORITY_RANK)),
        source=TaskSource(kind=rng.choice(KINDS)),
        due_at=due,
        assignee_id=rng.choice(PEOPLE),
        team_id=rng.choice(TEAMS),
        contact_id=rng.choice(CONTACTS),
        deal_id=rng.choice(["d1", "d2", None]),
        # A few equal sort values, so pages break ties by id.
        updated_at=created + timedelta(hours=rng.randrange(0, 3)),
        completed_at=completed,
        on_time=(completed <= due if due else True) if done else None,
    )


def random_filter(rng: random.Random) -> TaskFilter:
    flt = TaskFilter()
    if rng.random() < 0.3:
        flt.assignee_id = rng.choice(PEOPLE[:-1])
    if rng.random() < 0.2:
        flt.team_id = rng.choice(TEAMS[:-1])
    if rng.random() < 0.3:
        flt.statuses = rng.sample(STATUSES, rng.randrange(1, 4))
    if rng.random() < 0.2:
        flt.due_before = T0 + timedelta(hours=rng.randrange(-48, 48))
    if rng.random() < 0.2:
        flt.due_after = T0 + timedelta(hours=rng.randrange(-96, 24))
    if rng.random() < 0.25:
        flt.overdue = rng.random() < 0.5
    if rng.random() < 0.2:
        flt.contact_ids = rng.sample(CONTACTS[:-1], rng.randrange(1, 3))
    if rng.random() < 0.2:
        flt.source_kind = rng.choice(KINDS)
    if rng.random() < 0.15:
        flt.created_from = T0 - timedelta(days=rng.randrange(5, 20))
    if rng.random() < 0.15:
        flt.created_to = T0 - timedelta(days=rng.randrange(0, 10))
    return flt


async def seeded(n: int, seed: int) -> tuple[MemoryTasksStore, IndexedTasksStore]:
    rng = random.Random(seed)
    plain = MemoryTasksStore()
    for i in range(n):
        await plain.for_workspace("w1").insert_task(random_task(rng, i), [])
    await plain.for_workspace("w2").insert_task(random_task(rng, 9999, "w2"), [])
    return plain, IndexedTasksStore(plain, task_index(plain))


def cursor_of(task: Task, field: str) -> tuple[Any, str]:
    if field == "due_at":
        return (task.due_at or NO_DUE, task.id)
    if field == "priority_rank":
        return (PRIORITY_RANK[task.priority], task.id)
    return (getattr(task, field), task.id)


async def walk(store: Any, flt: TaskFilter, field: str, descending: bool, size: int) -> list[str]:
    """Every page by cursor, as the `tasks` connection walks them."""
    seen: list[str] = []
    after = None
    for _ in range(400):
        page = TaskPageRequest(field, descending, after, size)
        found = await store.for_workspace("w1").find_tasks(flt, T0, page)
        seen += [t.id for t in found]
        if len(found) < size:
            return seen
        after = cursor_of(found[-1], field)
    raise AssertionError("pages did not end")


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_index_answers_what_the_store_answers(seed: int) -> None:
    plain, indexed = await seeded(300, seed)
    rng = random.Random(seed * 7)
    ws_plain, ws_indexed = plain.for_workspace("w1"), indexed.for_workspace("w1")
    for round_ in range(40):
        flt = random_filter(rng)
        assert await ws_indexed.count_tasks(flt, T0) == await ws_plain.count_tasks(flt, T0)
        field = rng.choice(SORT_FIELDS)
        descending = rng.random() < 0.5
        size = rng.choice([5, 13, 40, 500])
        assert await walk(indexed, flt, field, descending, size) == await walk(
            plain, flt, field, descending, size
        ), (flt, field, descending, size)
        unpaged = {t.id for t in await ws_plain.find_tasks(flt, T0)}
        assert {t.id for t in await ws_indexed.find_tasks(flt, T0)} == unpaged
        assert {r.id for r in await ws_indexed.task_rows(flt, T0)} == unpaged
        members = rng.sample(PEOPLE[:-1], 3)
        assert await ws_indexed.open_counts(members) == await ws_plain.open_counts(members)
        if round_ % 5 == 0:  # writes through the index are visible at once
            target = f"t{rng.randrange(300):04d}"
            changes = {
                "status": rng.choice(STATUSES),
                "assignee_id": rng.choice(PEOPLE),
                "due_at": T0 + timedelta(hours=rng.randrange(-30, 30)),
                "priority": rng.choice(list(PRIORITY_RANK)),
            }
            await ws_indexed.update_task(target, changes, lambda _: [])
    assert task_index_scans(indexed) == 1


def task_index_scans(store: IndexedTasksStore) -> int:
    return store.index.scans("w1")


async def test_my_tasks_order_matches_the_store() -> None:
    plain, indexed = await seeded(200, 11)
    for person in PEOPLE[:-1]:
        flt = TaskFilter(assignee_id=person, statuses=ACTIVE_STATUSES)
        page = TaskPageRequest(sort_field="due_at", limit=500)
        results = []
        for store in (plain, indexed):
            found = await store.for_workspace("w1").find_tasks(flt, T0, page)
            found.sort(key=lambda t: (not t.is_overdue(T0), t.due_at or NO_DUE, t.id))
            results.append([t.id for t in found])
        assert results[0] == results[1] and results[0]


async def test_writes_through_the_index_and_a_stale_entry_heals() -> None:
    plain, indexed = await seeded(50, 5)
    ws = indexed.for_workspace("w1")
    assert await ws.count_tasks(TaskFilter(assignee_id="zed"), T0) == 0  # loaded
    new = random_task(random.Random(0), 500)
    new.assignee_id = "zed"
    await ws.insert_task(new, [])
    await ws.insert_tasks([(random_task(random.Random(1), 501), [])])
    assert [t.id for t in await ws.find_tasks(TaskFilter(assignee_id="zed"), T0)] == ["t0500"]
    assert await ws.count_tasks(TaskFilter(), T0) == 52
    # Another replica reassigned t0500 behind this index's back (its event not applied).
    plain.tasks["t0500"]["assignee_id"] = "yan"
    page = TaskPageRequest(sort_field="created_at", limit=10)
    assert await ws.find_tasks(TaskFilter(assignee_id="zed"), T0, page) == []  # healed
    assert await ws.count_tasks(TaskFilter(assignee_id="yan"), T0) == 1
    assert await ws.open_counts(["zed"]) == {}


async def test_a_failed_load_falls_back_to_the_store() -> None:
    plain, _ = await seeded(20, 6)

    class Broken(MemoryTasksStore):
        def for_workspace(self, workspace_id: str) -> Any:
            inner = super().for_workspace(workspace_id)

            async def scan() -> Any:
                raise RuntimeError("database down")
                yield  # pragma: no cover

            inner.index_docs = scan  # type: ignore[method-assign]
            return inner

    broken = Broken()
    broken.tasks = plain.tasks
    failing = IndexedTasksStore(broken, task_index(broken)).for_workspace("w1")
    flt = TaskFilter(statuses=ACTIVE_STATUSES)
    assert await failing.count_tasks(flt, T0) == await plain.for_workspace("w1").count_tasks(
        flt, T0
    )


def entry_bytes(n: int) -> float:
    """Bytes per task of a loaded index (what `bench/tasks` measures on FerretDB)."""

    async def load() -> float:
        _, indexed = await seeded(n, 9)
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        await indexed.index.entries("w1")
        after = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
        return (after - before) / n

    return asyncio.run(load())


def test_entries_stay_small() -> None:
    # Not a timing: a guard that the entry did not grow a large field by accident.
    assert entry_bytes(2000) < 1500
