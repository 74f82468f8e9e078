"""`crm_kit.records` on the in-memory database: scoping, unique fields, versions, events,
read-modify-write, write hooks. (The same behaviour on FerretDB, in both database
profiles: tests/integration/test_records.py.)"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import pytest

from crm_kit.filters import ALL, Eq, In, stored_field
from crm_kit.memory_db import MemoryDatabase, select
from crm_kit.pagination import Order
from crm_kit.records import Duplicate, RecordType, Stale
from crm_kit.writer import Written

from ..support.things import THING, Thing, encode


@pytest.fixture
def db() -> MemoryDatabase:
    return MemoryDatabase(encode=encode)


async def test_records_are_scoped_to_their_workspace(db: MemoryDatabase) -> None:
    mine, theirs = db.records(THING, "w1"), db.records(THING, "w2")
    await mine.insert(Thing("a", "", "Ada"))
    await theirs.insert(Thing("b", "", "Ada"))  # unique per workspace only
    assert [t.id for t in await mine.get(["b", "a"])] == ["a"]
    assert await theirs.count() == 1
    stolen = Thing("a", "w2", "Eve")
    assert not await theirs.save(stolen)  # another workspace's record is not there
    assert (await mine.get(["a"]))[0].name == "Ada"
    assert [t.id for t in await db.records(THING, None).find()] == ["a", "b"]


async def test_unique_fields_and_ids_are_refused_with_the_holder(db: MemoryDatabase) -> None:
    things = db.records(THING, "w1")
    await things.insert(Thing("a", "w1", "Ada"))
    with pytest.raises(Duplicate) as refused:
        await things.insert(Thing("b", "w1", "ADA"))
    assert (refused.value.field, refused.value.existing_id) == ("name_key", "a")
    with pytest.raises(Duplicate) as same_id:
        await things.insert(Thing("a", "w1", "Other"))
    assert same_id.value.field == "_id"
    bob = Thing("b", "w1", "Bob")
    await things.insert(bob)
    bob.name = "ada"
    with pytest.raises(Duplicate):
        await things.save(bob)
    assert [
        t.id for t in await things.insert_many([Thing("c", "", "Cy"), Thing("d", "", "cy")])
    ] == ["d"]
    # Ordered: the insert stops at the refused one; those after it are not tried.
    stopped = await things.insert_many(
        [Thing("e", "", "Eve"), Thing("f", "", "cy"), Thing("g", "", "Gus")], ordered=True
    )
    assert [t.id for t in stopped] == ["f", "g"]
    assert sorted(t.id for t in await things.get(["e", "f", "g"])) == ["e"]


async def test_a_save_is_conditional_on_the_version_read_and_writes_the_events(
    db: MemoryDatabase,
) -> None:
    things = db.records(THING, "w1")
    await things.insert(Thing("a", "w1", "Ada"))
    first, second = await things.get(["a"]), await things.get(["a"])
    first[0].rename("Ada L")
    assert await things.save(first[0]) and first[0].version == 2
    assert first[0].pending_events == []  # written with it
    second[0].rename("Lost")
    assert not await things.save(second[0])
    assert [e.data["name"] for e in db.outbox] == ["Ada L"]


async def test_change_serialises_read_modify_writes_of_one_record(db: MemoryDatabase) -> None:
    things = db.records(THING, "w1")
    await things.insert(Thing("a", "w1", "t", score=0))

    async def bump(thing: Thing) -> bool:
        score = thing.score or 0
        await asyncio.sleep(0)  # other changes run meanwhile, and wait for the lock
        thing.score = score + 1
        return True

    await asyncio.gather(*(things.change("a", bump) for _ in range(10)))
    assert (await things.get(["a"]))[0].score == 10
    assert await things.change("missing", bump) is None


async def test_change_gives_up_when_it_keeps_losing(db: MemoryDatabase) -> None:
    things = db.records(THING, "w1")
    await things.insert(Thing("a", "w1", "t"))

    async def racing(thing: Thing) -> bool:
        # Another replica writes between this change's read and its write (locks are
        # per process: it does not wait for ours).
        db.collections["things"]["a"]["version"] += 1
        thing.name = "mine"
        return True

    with pytest.raises(Stale):
        await things.change("a", racing)


async def test_change_many_writes_what_it_returns_under_all_locks(db: MemoryDatabase) -> None:
    things = db.records(THING, "w1")
    for name in ("a", "b"):
        await things.insert(Thing(name, "w1", name))

    async def swap(found: dict[str, Thing]) -> list[Thing]:
        found["a"].name, found["b"].name = "b2", "a2"
        return [found["a"], found["b"]]

    await things.change_many(["b", "a", "zzz"], swap)
    assert [t.name for t in await things.find(order=Order("name"))] == ["a2", "b2"]


async def test_queries_page_and_count_with_the_filter_model(db: MemoryDatabase) -> None:
    things = db.records(THING, "w1")
    for n, tags in enumerate([["x"], ["y"], ["x", "y"], []]):
        await things.insert(Thing(f"id{n}", "w1", f"n{n}", tags=tags, score=n % 2))
    page = await things.page(
        In("tags", ["x", "y"]), order=Order("score", descending=True), after=None, first=2
    )
    assert ([t.id for t in page.items], page.total, page.has_next) == (["id1", "id2"], 3, True)
    cursor = (page.items[-1].score, page.items[-1].id)
    rest = await things.page(
        In("tags", ["x", "y"]), order=Order("score", descending=True), after=cursor, first=2
    )
    assert ([t.id for t in rest.items], rest.has_next) == (["id0"], False)
    assert await things.ids(Eq("tags", "x")) == ["id0", "id2"]
    assert (await things.first(Eq("score", 1), order=Order("_id", descending=True))) is not None


async def test_hooks_hear_every_write_in_order(db: MemoryDatabase) -> None:
    heard: list[tuple[str, str]] = []

    async def hook(written: Written) -> None:
        heard.append((written.doc_id, written.record.name))

    async def broken(_: Written) -> None:
        raise RuntimeError("a read model failed")  # logged; the write stands

    db.hooks.subscribe(broken)
    db.hooks.subscribe(hook)
    things = db.records(THING, "w1")
    await things.insert(Thing("a", "w1", "one"))
    await things.change("a", _rename_to("two"))
    await things.put(Thing("b", "w1", "three"))
    assert heard == [("a", "one"), ("a", "two"), ("b", "three")]


def _rename_to(name: str) -> Callable[[Thing], Awaitable[bool]]:
    async def rename(thing: Thing) -> bool:
        thing.rename(name)
        return True

    return rename


def test_read_models_select_with_the_same_semantics() -> None:
    """`select` is what the in-memory database runs; a read model over rows of its own
    (entries, dicts) gets MongoDB's answer from the same filter, order and cursor."""
    rows = [
        {"_id": "a", "source": {"kind": "rule"}, "due": 3},
        {"_id": "b", "source": {"kind": "manual"}, "due": None},
        {"_id": "c", "source": {"kind": "rule"}, "due": 1},
        {"_id": "d", "source": None, "due": 2},
    ]
    rule = Eq("source.kind", "rule")
    assert [r["_id"] for r in select(rows, stored_field, rule, Order("due"))] == ["c", "a"]
    # Nulls sort first, as in MongoDB; a missing embedded field is null.
    by_due = select(rows, stored_field, ALL, Order("due"))
    assert [r["_id"] for r in by_due] == ["b", "c", "d", "a"]
    after = select(rows, stored_field, ALL, Order("due", descending=True), (2, "d"), 1)
    assert [r["_id"] for r in after] == ["c"]
    assert [r["_id"] for r in select(rows, stored_field, Eq("source.kind", None))] == ["d"]


async def test_partial_updates_apply_the_operators(db: MemoryDatabase) -> None:
    things = db.records(THING, "w1")
    heard: list[tuple[str, int]] = []

    async def hook(written: Written) -> None:
        heard.append((written.doc_id, len(written.events)))

    db.hooks.subscribe(hook)
    await things.insert(Thing("a", "", "Ada", tags=["x"]))
    assert await things.update("a", {"$addToSet": {"tags": {"$each": ["x", "y"]}}})
    assert await things.update("b", {"$set": {"name": "Bo"}}, upsert=True)
    assert not await things.update("a", {"$set": {"name": "Z"}}, expect={"name": "nope"})
    with pytest.raises(ValueError, match="not supported"):
        await things.update("a", {"$rename": {"name": "title"}})
    assert (await things.get(["a"]))[0].tags == ["x", "y"]
    assert db.collections["things"]["b"] == {"_id": "b", "name": "Bo", "workspace_id": "w1"}
    assert [t.id async for t in things.scan(In("_id", ["b", "zz"]))] == ["b"]
    assert await things.delete("b") and not await things.delete("b")
    assert heard == [("a", 0), ("a", 0), ("b", 0), ("b", 0)]


async def test_saves_may_expect_stored_values_and_records_can_be_deleted(
    db: MemoryDatabase,
) -> None:
    things = db.records(THING, "w1")
    await things.insert(Thing("a", "w1", "Ada", score=1))
    (found,) = await things.get(["a"])
    found.score = 2
    assert not await things.save(found, expect={"score": 5})  # not what is stored
    assert await things.save(found, expect={"score": 1})
    assert not await db.records(THING, "w2").delete("a")  # another workspace's
    assert await things.delete("a") and not await things.delete("a")
    assert await things.get(["a"]) == []


@dataclass
class Revised:
    id: str
    workspace_id: str
    rev: int = 1


REVISED = RecordType(
    "revised",
    lambda r: {"_id": r.id, "workspace_id": r.workspace_id, "rev": r.rev},
    lambda d: Revised(d["_id"], d["workspace_id"], d["rev"]),
    versioned=True,
    version_field="rev",
)


async def test_the_version_may_have_another_name(db: MemoryDatabase) -> None:
    revised = db.records(REVISED, "w1")
    await revised.insert(Revised("a", "w1"))
    first, second = await revised.get(["a"]), await revised.get(["a"])
    assert await revised.save(first[0]) and first[0].rev == 2
    assert not await revised.save(second[0])  # the revision it read is gone
    assert db.collections["revised"]["a"]["rev"] == 2


async def test_hooks_hear_the_events_written(db: MemoryDatabase) -> None:
    heard: list[list[str]] = []

    async def hook(written: Written) -> None:
        heard.append([event.id for event in written.events])

    db.hooks.subscribe(hook)
    things = db.records(THING, "w1")
    await things.insert(Thing("a", "w1", "one"))
    await things.change("a", _rename_to("two"))
    assert heard == [[], [db.outbox[0].id]]
