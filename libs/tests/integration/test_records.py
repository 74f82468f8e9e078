"""The kit's write path and records on a real FerretDB, in both database profiles: what is
sent (command monitoring), what lands, and that every query selects exactly what the
in-memory database selects for the same documents (the filter model's one semantics)."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pymongo import AsyncMongoClient, monitoring

from crm_kit.filters import ALL, And, Contains, Eq, Filter, In, Ne, Or, Range
from crm_kit.memory_db import MemoryDatabase
from crm_kit.outbox import HIDE_OUTBOX, OUTBOX, PENDING
from crm_kit.pagination import Order
from crm_kit.profile import DatabaseProfile
from crm_kit.records import Duplicate, MongoRecords
from crm_kit.writer import DocumentWriter, Written

from ..support.things import THING, THINGS, Renamed, Thing, encode

pytestmark = pytest.mark.integration


class Sent(monitoring.CommandListener):
    """The filters of the update and find commands this client sends, and the update
    operators of its findAndModify commands."""

    def __init__(self) -> None:
        self.updates: list[dict[str, Any]] = []
        self.finds: list[dict[str, Any]] = []
        self.modified: list[dict[str, Any]] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.command_name == "update":
            self.updates += [statement["q"] for statement in event.command["updates"]]
        elif event.command_name == "findAndModify":
            self.modified.append(event.command["update"])
        elif event.command_name == "find":
            self.finds.append(event.command.get("filter", {}))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None: ...

    def failed(self, event: monitoring.CommandFailedEvent) -> None: ...


PROFILES = {
    "mongodb": DatabaseProfile("mongodb"),
    "ferretdb": DatabaseProfile("ferretdb"),
    # Reads by id as one `_id` `$in` query (the platform's FerretDB build).
    "ferretdb+pushdown": DatabaseProfile("ferretdb", pushdown=True),
}


@pytest.fixture(params=list(PROFILES))
async def env(
    request: pytest.FixtureRequest, infra: Any, db_name: str
) -> AsyncIterator[dict[str, Any]]:
    sent = Sent()
    client: AsyncMongoClient[Any] = AsyncMongoClient(
        infra.mongodb_uri, tz_aware=True, event_listeners=[sent]
    )
    db = client[db_name]
    await db[THINGS].create_index(
        [("workspace_id", 1), ("name_key", 1)], unique=True, name="name_key"
    )
    woken: list[tuple[str, Any]] = []
    writer = DocumentWriter(
        db,
        profile=PROFILES[request.param],
        outbox_collections=[THINGS],
        wake=lambda collection, doc_id, *_: woken.append((collection, doc_id)),
        encode=encode,
    )
    yield {"db": db, "writer": writer, "sent": sent, "woken": woken}
    await client.close()


async def test_writes_carry_their_events_wake_the_relay_and_tell_the_hooks(
    env: dict[str, Any],
) -> None:
    heard: list[tuple[Any, str | None, str]] = []

    async def hook(written: Written) -> None:
        # The record is the store's object: a hook takes what it needs while called.
        heard.append((written.doc_id, written.workspace_id, written.record.name))

    env["writer"].hooks.subscribe(hook)
    things = MongoRecords(env["writer"], THING, "w1")
    ada = Thing("a", "", "Ada")
    await things.insert(ada)
    ada.rename("Ada L")
    assert await things.save(ada)
    doc = await env["db"][THINGS].find_one({"_id": "a"})
    assert doc["version"] == 2 and doc["workspace_id"] == "w1" and doc[PENDING] is True
    assert [stored["subject"] for stored in doc[OUTBOX]] == ["crm.test.thing.renamed.v1"]
    assert env["woken"] == [(THINGS, "a")]  # the insert raised no event: nothing to publish
    assert heard == [
        ("a", "w1", "Ada"),
        ("a", "w1", "Ada L"),
    ]
    with pytest.raises(ValueError, match="not an outbox collection"):
        await env["writer"].insert("plain", {"_id": "x"}, [object()])


async def test_conditional_writes_filter_as_the_profile_says(env: dict[str, Any]) -> None:
    writer: DocumentWriter = env["writer"]
    things = MongoRecords(writer, THING, "w1")
    await things.insert(Thing("a", "", "Ada"))
    stale = (await things.get(["a"]))[0]
    current = (await things.get(["a"]))[0]
    current.name = "Ada L"
    assert await things.save(current)
    stale.name = "lost"
    assert not await things.save(stale)  # the version it read is gone
    other_workspace = MongoRecords(writer, THING, "w2")
    assert not await other_workspace.save(current)
    assert (await things.get(["a"]))[0].name == "Ada L"
    filters = env["sent"].updates
    if writer.profile.workarounds:
        # Only `{_id}` is index-served on FerretDB/SQLite: the rest was checked in Python.
        assert filters and all(list(query) == ["_id"] for query in filters)
    else:
        assert {"_id": "a", "version": 1, "workspace_id": "w1"} in filters


async def test_reads_by_id_follow_the_profile(env: dict[str, Any]) -> None:
    writer: DocumentWriter = env["writer"]
    things = MongoRecords(writer, THING, "w1")
    for n in range(3):
        await things.insert(Thing(f"id{n}", "", f"n{n}"))
    await MongoRecords(writer, THING, "w2").insert(Thing("other", "", "x"))
    env["sent"].finds.clear()
    found = await things.get(["id2", "other", "id0", "nope", "id2"])
    assert [t.id for t in found] == ["id2", "id0"]
    if writer.profile.ids_one_by_one:
        assert all(list(query) == ["_id"] for query in env["sent"].finds)
        assert len(env["sent"].finds) == 4
    else:  # one `_id` `$in` query in the workspace, MongoDB's or the platform's FerretDB
        [query] = env["sent"].finds
        assert query == {"workspace_id": "w1", "_id": {"$in": ["id2", "other", "id0", "nope"]}}


async def test_concurrent_changes_of_one_record_all_land(env: dict[str, Any]) -> None:
    things = MongoRecords(env["writer"], THING, "w1")
    await things.insert(Thing("a", "", "t", score=0))

    async def bump(thing: Thing) -> bool:
        thing.score = (thing.score or 0) + 1
        return True

    await asyncio.gather(*(things.change("a", bump) for _ in range(12)))
    assert (await things.get(["a"]))[0].score == 12
    assert (await env["db"][THINGS].find_one({"_id": "a"}))["version"] == 13


async def test_a_change_sets_only_what_it_changed(env: dict[str, Any]) -> None:
    """`change` knows the document it started from: its write sets the fields that differ
    (the version always) and pushes what was appended to a list, and the stored document
    ends as a whole-record write leaves it."""
    things = MongoRecords(env["writer"], THING, "w1")
    await things.insert(Thing("a", "", "Ada", tags=["x"], score=3))

    async def rename(thing: Thing) -> bool:
        thing.rename("Ada L")
        thing.score = 3.0  # equal in Python, another type in BSON: written
        thing.tags.append("y")
        return True

    async def retag(thing: Thing) -> bool:
        thing.tags = ["z", *thing.tags]  # not an append: the list is set whole
        return True

    await things.change("a", rename)
    sent = env["sent"].modified[-1]
    assert set(sent["$set"]) - {PENDING, "_outbox_at"} == {"name", "name_key", "score", "version"}
    assert sent["$push"]["tags"] == {"$each": ["y"]}
    stored = await env["db"][THINGS].find_one({"_id": "a"}, HIDE_OUTBOX)
    assert stored == {
        "_id": "a",
        "workspace_id": "w1",
        "name": "Ada L",
        "name_key": "ada l",
        "tags": ["x", "y"],
        "score": 3.0,
        "at": None,
        "version": 2,
    }
    assert isinstance(stored["score"], float)
    await things.change("a", retag)
    assert (await things.get(["a"]))[0].tags == ["z", "x", "y"]
    assert (await env["db"][THINGS].find_one({"_id": "a"}))["version"] == 3


async def test_duplicates_name_the_field_and_the_holder(env: dict[str, Any]) -> None:
    things = MongoRecords(env["writer"], THING, "w1")
    await things.insert(Thing("a", "", "Ada"))
    with pytest.raises(Duplicate) as refused:
        await things.insert(Thing("b", "", "ADA"))
    assert (refused.value.field, refused.value.existing_id) == ("name_key", "a")
    with pytest.raises(Duplicate) as same_id:
        await things.insert(Thing("a", "", "Other"))
    assert same_id.value.field == "_id"
    refused_many = await things.insert_many([Thing("c", "", "Cy"), Thing("d", "", "Ada")])
    assert [t.id for t in refused_many] == ["d"]
    assert await things.count() == 2
    # Ordered: the insert stops at the refused one; those after it are not tried.
    stopped = await things.insert_many(
        [Thing("e", "", "Eve"), Thing("f", "", "cy"), Thing("g", "", "Gus")], ordered=True
    )
    assert [t.id for t in stopped] == ["f", "g"]
    assert sorted(t.id for t in await things.get(["e", "f", "g"])) == ["e"]


def _random_things(rng: random.Random) -> list[Thing]:
    base = datetime(2026, 1, 1, tzinfo=UTC)
    return [
        Thing(
            f"{n:04d}",
            "",
            rng.choice(["ada", "Bob", "cy", "DEE", "eve.x", "Éa", "éa"]) + f" {n}",
            tags=rng.sample(["a", "b", "c"], rng.randint(0, 2)),
            score=rng.choice([None, 1, 2, 3]),
            at=rng.choice([None, base + timedelta(days=rng.randint(0, 5))]),
        )
        for n in range(60)
    ]


def _random_filter(rng: random.Random) -> Filter:
    day = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(days=rng.randint(0, 5))
    parts: list[Filter] = [
        Eq("tags", rng.choice(["a", "b"])),
        Ne("score", rng.choice([None, 2])),
        In("score", rng.sample([None, 1, 2, 3], 2)),
        Range("at", gte=day),
        Range("score", gt=1, lte=3),
        Contains(("name", "tags"), rng.choice(["a", "e", ".x", "1"])),
        Contains("name", rng.choice(["ADA", "Eve.X", "b ", "É"]), ignore_case=True),
        Eq("at", None),
        Or(Eq("score", 1), Eq("tags", "c")),
    ]
    return And(*rng.sample(parts, rng.randint(0, 3)))


async def test_every_query_selects_what_the_in_memory_database_selects(
    env: dict[str, Any],
) -> None:
    rng = random.Random(11)
    mongo = MongoRecords(env["writer"], THING, "w1")
    memory = MemoryDatabase(encode=encode).records(THING, "w1")
    for thing in _random_things(rng):
        await mongo.insert(thing)
        await memory.insert(thing)
    for _ in range(40):
        where = _random_filter(rng)
        order = Order(rng.choice(["_id", "score", "at", "name"]), rng.random() < 0.5)
        assert await mongo.count(where) == await memory.count(where), where
        page = await memory.find(where, order=order, limit=7)
        assert [t.id for t in await mongo.find(where, order=order, limit=7)] == [
            t.id for t in page
        ], (where, order)
        if page and order.field in ("_id", "name"):  # cursors: non-null sort values
            last = page[-1]
            cursor = (getattr(last, "id" if order.field == "_id" else order.field), last.id)
            after_mongo = await mongo.find(where, order=order, after=cursor)
            after_memory = await memory.find(where, order=order, after=cursor)
            assert [t.id for t in after_mongo] == [t.id for t in after_memory]
    assert await mongo.count(ALL) == 60


async def test_saves_expecting_stored_values_and_record_deletes(env: dict[str, Any]) -> None:
    things = MongoRecords(env["writer"], THING, "w1")
    heard: list[list[str]] = []

    async def hook(written: Written) -> None:
        heard.append([event.id for event in written.events])

    env["writer"].hooks.subscribe(hook)
    await things.insert(Thing("a", "w1", "Ada", score=1))
    (found,) = await things.get(["a"])
    found.score = 2
    assert not await things.save(found, expect={"score": 5})
    found.rename("Ada L")
    assert await things.save(found, expect={"score": 1})
    doc = await env["db"][THINGS].find_one({"_id": "a"})
    assert doc["score"] == 2 and heard == [[], [doc[OUTBOX][0]["id"]]]
    assert not await MongoRecords(env["writer"], THING, "w2").delete("a")
    assert await things.delete("a") and not await things.delete("a")
    assert await env["db"][THINGS].count_documents({}) == 0


async def test_deletes_are_conditional_and_heard(env: dict[str, Any]) -> None:
    writer: DocumentWriter = env["writer"]
    heard: list[tuple[Any, bool]] = []

    async def hook(written: Written) -> None:
        heard.append((written.doc_id, written.deleted))

    writer.hooks.subscribe(hook)
    await writer.insert(THINGS, {"_id": "a", "workspace_id": "w1", "version": 2})
    assert not await writer.delete(THINGS, "a", workspace_id="w2")
    assert not await writer.delete(THINGS, "a", workspace_id="w1", expect={"version": 1})
    assert await writer.delete(THINGS, "a", workspace_id="w1", expect={"version": 2})
    assert not await writer.delete(THINGS, "a")
    assert heard == [("a", False), ("a", True)]
    with pytest.raises(ValueError, match="has an outbox"):
        await writer.replace(THINGS, {"_id": "b"}, upsert=True)


async def _partial_writes(things: Any) -> list[bool]:
    """The same partial writes, upserts, deletes on either backend; what each returned."""
    await things.insert(Thing("a", "", "Ada", score=1))
    return [
        await things.update(
            "a", {"$set": {"score": 5}, "$addToSet": {"tags": {"$each": ["x", "y", "x"]}}}
        ),
        await things.update("a", {"$max": {"score": 3}}),
        await things.update("a", {"$max": {"score": 9}, "$push": {"tags": "x"}}),
        await things.update("a", {"$inc": {"score": 1}}, expect={"score": 9}),
        await things.update("a", {"$inc": {"score": 1}}, expect={"score": 9}),
        await things.update("nope", {"$set": {"score": 1}}),
        await things.update(
            "z", {"$set": {"name": "Zed"}, "$setOnInsert": {"version": 7}}, upsert=True
        ),
        await things.update(
            "z", {"$set": {"name": "Zed 2"}, "$setOnInsert": {"version": 1}}, upsert=True
        ),
        await things.update("z", {"$unset": {"score": ""}, "$min": {"version": 3}}),
        await things.delete("z", expect={"version": 4}),
        await things.delete("z", expect={"version": 3}),
        await things.delete("z"),
    ]


async def test_partial_writes_upserts_and_deletes_land_as_in_memory(env: dict[str, Any]) -> None:
    writer: DocumentWriter = env["writer"]
    mongo = MongoRecords(writer, THING, "w1")
    memory_db = MemoryDatabase(encode=encode)
    memory = memory_db.records(THING, "w1")
    outcomes = await _partial_writes(mongo)
    assert outcomes == await _partial_writes(memory)
    assert outcomes == [True, True, True, True, False, False, True, True, True, False, True, False]
    stored = await env["db"][THINGS].find_one({"_id": "a"}, HIDE_OUTBOX)
    assert stored == memory_db.collections[THINGS]["a"]
    assert (stored["score"], stored["tags"], stored["version"]) == (10, ["x", "y", "x"], 1)
    # Another workspace's record: neither changed nor created over.
    theirs = MongoRecords(writer, THING, "w2")
    assert not await theirs.update("a", {"$set": {"score": 0}})
    assert not await theirs.update("a", {"$set": {"score": 0}}, upsert=True)
    assert not await memory_db.records(THING, "w2").update("a", {"$set": {"score": 0}}, upsert=True)
    assert not await theirs.delete("a")
    assert (await mongo.get(["a"]))[0].score == 10
    with pytest.raises(ValueError, match="top-level"):
        await mongo.update("a", {"$set": {"tags.0": "z"}})


async def test_hooks_hear_the_events_and_the_version_written(env: dict[str, Any]) -> None:
    writer: DocumentWriter = env["writer"]
    heard: list[tuple[Any, int | None, list[str]]] = []

    async def hook(written: Written) -> None:
        version = written.record.version if written.record is not None else None
        heard.append((written.doc_id, version, [e.type for e in written.events]))

    writer.hooks.subscribe(hook)
    things = MongoRecords(writer, THING, "w1")
    ada = Thing("a", "", "Ada")
    await things.insert(ada)
    ada.rename("Ada L")
    await things.save(ada)
    renamed = Thing("a", "w1", "x")
    await things.update("a", {"$set": {"score": 2}}, [Renamed(renamed)], record=None)
    assert heard == [
        ("a", 1, []),
        ("a", 2, ["crm.test.thing.renamed.v1"]),  # the record as written: version 2
        ("a", None, ["crm.test.thing.renamed.v1"]),
    ]
    assert ada.version == 2


async def test_scans_stream_what_the_filter_selects(env: dict[str, Any]) -> None:
    things = MongoRecords(env["writer"], THING, "w1")
    for n in range(5):
        await things.insert(Thing(f"t{n}", "", f"n{n}", score=n))
    await MongoRecords(env["writer"], THING, "w2").insert(Thing("x", "", "x", score=4))
    found = sorted([t.id async for t in things.scan(Range("score", gte=3))])
    assert found == ["t3", "t4"]
    assert len([t async for t in things.scan()]) == 5
