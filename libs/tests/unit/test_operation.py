"""A keyed operation (`crm_kit.operation`) on the in-memory database: a request run again
inside the same operation lands on what its first run wrote, whatever the first run
managed before it stopped. (The same on FerretDB, both profiles, through the kit's writer:
tests/integration/test_keyed_writes.py.)"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from bson import ObjectId

from crm_kit.clock import utcnow
from crm_kit.ids import is_id, new_id
from crm_kit.memory_db import MemoryDatabase
from crm_kit.operation import KEPT_MARKERS, Operation, keep_markers, operation_bound
from crm_kit.records import Duplicate

from ..support.keyed import bump_twice, count_and_tag, create_thing, finish, rename_then_bump
from ..support.things import THING, THINGS, Thing, encode

STARTED = datetime(2026, 3, 1, 12, 30, 15, 123000, tzinfo=UTC)


def _operation(token: str = "a" * 32) -> Operation:
    return Operation(token=token, started_at=STARTED)


@pytest.fixture
def db() -> MemoryDatabase:
    return MemoryDatabase(encode=encode)


def test_ids_and_now_are_derived_inside_an_operation_and_random_outside() -> None:
    with operation_bound(_operation()):
        first = [new_id() for _ in range(3)]
        pinned = utcnow()
    with operation_bound(_operation()):
        again = [new_id() for _ in range(3)]
    with operation_bound(_operation("b" * 32)):
        other = new_id()
    assert first == again and len(set(first)) == 3
    assert all(is_id(i) for i in first) and other not in first
    # Time-ordered as any ObjectId: the operation's start, to the second.
    assert ObjectId(first[0]).generation_time == STARTED.replace(microsecond=0)
    assert pinned == STARTED
    assert new_id() not in first and utcnow() != STARTED


def test_a_document_keeps_only_the_newest_markers() -> None:
    markers: list[str] = []
    for n in range(KEPT_MARKERS + 5):
        markers = keep_markers(markers, f"m{n}")
    assert len(markers) == KEPT_MARKERS
    assert markers[0] == "m5" and markers[-1] == f"m{KEPT_MARKERS + 4}"


async def test_a_second_run_of_a_create_writes_nothing_and_answers_the_same(
    db: MemoryDatabase,
) -> None:
    things = db.records(THING, "w1")
    with operation_bound(_operation()):
        made = await create_thing(things, "Ada")
    with operation_bound(_operation()):
        again = await create_thing(things, "Ada")
    assert again == made
    assert await things.count() == 1
    assert len(db.outbox) == 1  # its event once
    # Outside the operation the same insert is a duplicate, as ever.
    with pytest.raises(Duplicate):
        await things.insert(Thing(made.id, "w1", "Other"))


async def test_a_second_run_does_not_apply_an_update_again(db: MemoryDatabase) -> None:
    things = db.records(THING, "w1")
    await things.insert(Thing("t1", "w1", "Ada", score=0))
    with operation_bound(_operation()):
        first = await bump_twice(things, "t1")
    with operation_bound(_operation()):
        second = await bump_twice(things, "t1")
    stored = (await things.get(["t1"]))[0]
    assert stored.score == 2 and first.score == 2
    # The second run answers with what is stored, not with 2 more on top of it.
    assert second.score == 2
    # Another operation is another request: it applies.
    with operation_bound(_operation("c" * 32)):
        await bump_twice(things, "t1")
    assert (await things.get(["t1"]))[0].score == 4


async def test_a_run_that_finds_its_first_change_made_keeps_the_count_in_step(
    db: MemoryDatabase,
) -> None:
    """The first run renamed (then stopped before its bump); the second run finds the name
    already right, so its rename writes nothing: its bump must still be applied once."""
    things = db.records(THING, "w1")
    await things.insert(Thing("t1", "w1", "Ada", score=0))
    with operation_bound(_operation()):
        await rename_then_bump(things, "t1", "Ada L", bump=False)
    with operation_bound(_operation()):
        await rename_then_bump(things, "t1", "Ada L", bump=True)
    with operation_bound(_operation()):
        await rename_then_bump(things, "t1", "Ada L", bump=True)
    stored = (await things.get(["t1"]))[0]
    assert (stored.name, stored.score) == ("Ada L", 1)


async def test_events_of_a_keyed_write_have_ids_derived_from_the_write(
    db: MemoryDatabase,
) -> None:
    things = db.records(THING, "w1")
    await things.insert(Thing("t1", "w1", "Ada", score=0))
    with operation_bound(_operation()):
        await rename_then_bump(things, "t1", "Ada L", bump=False)
    ids = [event.id for event in db.outbox]
    other = MemoryDatabase(encode=encode)
    await other.records(THING, "w1").insert(Thing("t1", "w1", "Ada", score=0))
    with operation_bound(_operation()):
        await rename_then_bump(other.records(THING, "w1"), "t1", "Ada L", bump=False)
    assert [event.id for event in other.outbox] == ids
    assert THINGS in db.collections


async def test_partial_updates_and_upserts_run_twice_apply_once(db: MemoryDatabase) -> None:
    things = db.records(THING, "w1")
    await things.insert(Thing("t1", "w1", "Ada", score=0))
    for _ in range(2):
        with operation_bound(_operation()):
            await count_and_tag(things, "t1", "x")
    first, log = await things.get(["t1", "t1-log"])
    assert (first.score, first.tags, log.tags) == (1, ["x"], ["x"])
    with operation_bound(_operation("d" * 32)):  # another request applies
        await count_and_tag(things, "t1", "y")
    first, log = await things.get(["t1", "t1-log"])
    assert (first.score, first.tags, log.tags) == (2, ["x", "y"], ["x", "y"])


async def test_a_refusing_change_made_by_the_first_run_answers_the_record(
    db: MemoryDatabase,
) -> None:
    """The first run saved the change (then died before storing its result): the retry
    is not refused by the change's own check, it answers the record as saved."""
    things = db.records(THING, "w1")
    await things.insert(Thing("t1", "w1", "Ada", score=0))
    with operation_bound(_operation()):
        first = await finish(things, "t1")
    with operation_bound(_operation()):
        again = await finish(things, "t1")
    assert first is not None and again is not None
    assert again.name == first.name == "Ada (done)"
    with operation_bound(_operation("e" * 32)), pytest.raises(ValueError):
        await finish(things, "t1")  # another request: refused, as it should be
