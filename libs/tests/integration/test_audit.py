"""The audit log through the kit's writer and the outbox relay on a real FerretDB (both
database profiles): an entry rides in its record's write and reaches the `audit`
collection once, whatever crash interrupts the move; a hard delete's entry survives a
crash between its intent and its end; a record's trail shows a change at once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from crm_kit.audit import (
    AUDIT,
    INTENTS,
    PACKED,
    PENDING_FIELD,
    Audited,
    AuditPolicy,
    annotate,
    begin_delete,
    begin_inserts,
    bind_channel,
    entry,
    settle_intents,
    store_entries,
    stored_changes,
)
from crm_kit.audit_read import AuditQuery, AuditTrail, entry_cursor
from crm_kit.context import RequestContext, bind_request
from crm_kit.outbox import PENDING, SEALED, OutboxRelay, unseal
from crm_kit.pagination import decode_cursor
from crm_kit.profile import DatabaseProfile
from crm_kit.records import MongoRecords, MongoSource
from crm_kit.testing import CommandsSent
from crm_kit.writer import DocumentWriter

from ..support.things import THING, THINGS, Thing, encode

pytestmark = pytest.mark.integration

POLICY = AuditPolicy("things", {THINGS: Audited("thing", frozenset({"name_key", "version"}))})


@pytest.fixture(params=["mongodb", "ferretdb"])
async def env(
    request: pytest.FixtureRequest, infra: Any, db_name: str
) -> AsyncIterator[dict[str, Any]]:
    client: AsyncMongoClient[Any] = AsyncMongoClient(infra.mongodb_uri, tz_aware=True)
    nc = await infra.connect_nats()
    db = client[db_name]
    writer = DocumentWriter(
        db,
        profile=DatabaseProfile.named(request.param),
        outbox_collections=[THINGS],
        encode=encode,
        audit=POLICY,
    )
    # No event is written here (no rename): the relay only moves audit entries.
    relay = OutboxRelay(db, [THINGS], nc.jetstream())
    bind_request(RequestContext("w1", "user-1", frozenset({"rep"})))
    bind_channel("graphql", "gateway")
    things = MongoRecords(writer, THING, "w1")
    yield {
        "db": db,
        "writer": writer,
        "relay": relay,
        "things": things,
        "js": nc.jetstream(),
        "uri": infra.mongodb_uri,
    }
    bind_request(None)
    bind_channel(None)
    await nc.close()
    await client.close()


async def _moved(db: Any) -> list[dict[str, Any]]:
    return [e async for e in db[AUDIT].find({}).sort([("at", 1), ("_id", 1)])]


async def test_entries_ride_in_the_record_and_the_relay_moves_each_once(
    env: dict[str, Any],
) -> None:
    db, things, relay = env["db"], env["things"], env["relay"]
    await things.insert(Thing("a", "w1", "Ada", score=1))

    async def rename(thing: Thing) -> bool:
        thing.name = "Bea"
        return True

    await things.change("a", rename)
    await things.update("a", {"$inc": {"score": 2}})
    # The process "dies" here: nothing moved yet, the entries wait in the document.
    stored = await db[THINGS].find_one({"_id": "a"})
    assert [e["action"] for e in stored[PENDING_FIELD]] == ["create", "update", "update"]
    assert stored[PENDING] is True
    assert await db[AUDIT].count_documents({}) == 0
    # Another relay's sweep (a restarted process) moves them.
    await relay.publish_pending()
    moved = await _moved(db)
    assert [(e["action"], e["path"], e["actor"]) for e in moved] == [
        ("create", "graphql", "user-1"),
        ("update", "graphql", "user-1"),
        ("update", "graphql", "user-1"),
    ]
    changed = {c["field"]: (c["before"], c["after"]) for c in moved[2]["changes"]}
    assert changed == {"score": ("1", "3")}
    assert (await db[THINGS].find_one({"_id": "a"}))[PENDING_FIELD] == []
    # A crash after the insert into `audit` and before the pull: the next move finds the
    # ids there and adds nothing.
    await things.update("a", {"$set": {"score": 9}})
    waiting = (await db[THINGS].find_one({"_id": "a"}))[PENDING_FIELD]
    await store_entries(db, waiting)
    await relay.publish_pending()
    await relay.publish_pending()
    assert await db[AUDIT].count_documents({}) == 4


async def test_a_hard_delete_keeps_its_entry_and_what_the_record_still_held(
    env: dict[str, Any],
) -> None:
    db, things = env["db"], env["things"]
    await things.insert(Thing("a", "w1", "Ada"))
    assert await things.delete("a")  # before the relay moved the create
    assert [e["action"] for e in await _moved(db)] == ["create", "delete"]
    assert await db[INTENTS].count_documents({}) == 0


async def test_crashed_deletes_are_settled_by_what_the_database_holds(
    env: dict[str, Any],
) -> None:
    db, things = env["db"], env["things"]
    for name in ("gone", "kept"):
        await things.insert(Thing(name, "w1", name))
    await env["relay"].publish_pending()
    for name in ("gone", "kept"):
        doc = await db[THINGS].find_one({"_id": name})
        made = entry(POLICY, THINGS, name, "w1", doc, None, place=f"{name}/delete")
        assert made is not None
        await begin_delete(db, THINGS, name, [made])
    # "gone": the process died after the delete; "kept": before it.
    await db[THINGS].delete_one({"_id": "gone"})
    assert await settle_intents(db) == 2
    assert await settle_intents(db) == 0
    deletes = [e["record_id"] for e in await _moved(db) if e["action"] == "delete"]
    assert deletes == ["gone"]


async def test_a_records_trail_shows_a_change_before_the_relay_moved_it(
    env: dict[str, Any],
) -> None:
    db, things = env["db"], env["things"]
    await things.insert(Thing("a", "w1", "Ada"))
    await things.insert(Thing("b", "w1", "Bob"))
    trail = AuditTrail(MongoSource(env["writer"]), "w1")
    page = await trail.page(AuditQuery(record_id="a"), first=10, after=None)
    assert [(e["record_id"], e["action"]) for e in page.items] == [("a", "create")]
    assert (
        await AuditTrail(MongoSource(env["writer"]), "w2").page(
            AuditQuery(record_id="a"), first=10, after=None
        )
    ).total == 0
    await env["relay"].publish_pending()  # the relay's move adds no second copy
    assert await db[AUDIT].count_documents({"record_id": "a"}) == 1


async def test_a_bulk_inserts_entries_go_to_the_log_at_once_and_survive_a_crash(
    env: dict[str, Any],
) -> None:
    db, things = env["db"], env["things"]
    await things.insert(Thing("t0", "w1", "T0"))
    batch = [Thing(f"t{n}", "w1", f"T{n}") for n in range(5)]
    refused = await things.insert_many(batch)  # t0 exists: refused, no second entry
    assert [t.id for t in refused] == ["t0"]
    await env["relay"].publish_pending()
    assert await db[AUDIT].count_documents({"action": "create"}) == 5
    # The records carry no entries to move; nothing is left pending.
    assert await db[THINGS].count_documents({PENDING_FIELD: {"$size": 1}}) == 0
    assert await db[INTENTS].count_documents({}) == 0
    # A crash between the intent and its end: settled by the records that exist.
    made = [
        entry(POLICY, THINGS, name, "w1", None, {"name": name}, place=f"{name}/bulk")
        for name in ("t1", "never-written")
    ]
    await begin_inserts(db, THINGS, [e for e in made if e is not None])
    assert await settle_intents(db) == 1
    assert await db[AUDIT].count_documents({"record_id": "never-written"}) == 0
    assert await db[AUDIT].count_documents({"record_id": "t1"}) == 2


async def test_an_import_batchs_entries_ride_in_the_batch_and_reach_the_log_once(
    env: dict[str, Any],
) -> None:
    db, things, writer = env["db"], env["things"], env["writer"]
    batch = [Thing(f"t{n}", "w1", f"T{n}") for n in range(3)]
    assert await things.insert_batch(batch, batch_collection="batches", batch_id="b1") == []
    # Nothing written apart: the batch's outbox document holds the entries until the
    # relay moves them (no intent written and deleted on the request's path).
    assert await db[INTENTS].count_documents({}) == 0
    assert await db[AUDIT].count_documents({}) == 0
    relay = OutboxRelay(db, [THINGS, "batches"], env["js"])
    await relay.publish_pending()
    # One document for the batch's entries (a pack), which a record id still finds.
    assert await db[AUDIT].count_documents({}) == 1
    trail = AuditTrail(MongoSource(writer), "w1")
    page = await trail.page(AuditQuery(record_id="t2"), first=10, after=None)
    (created,) = page.items
    assert (created["record_id"], created["action"], page.total) == ("t2", "create", 1)
    assert {"field": "name", "before": None, "after": '"T2"'} in stored_changes(created)
    await relay.publish_pending()  # moved once
    assert await db[AUDIT].count_documents({"record_id": "t2"}) == 1
    log = await trail.page(AuditQuery(record_type="thing"), first=10, after=None)
    assert [e["record_id"] for e in log.items] == ["t2", "t1", "t0"]
    assert log.total == 3


async def test_the_log_pages_through_a_batchs_pack_and_a_second_move_adds_nothing(
    env: dict[str, Any],
) -> None:
    """The log pages through a pack and the single entries around it on the database, a
    cursor minted inside the pack going on inside it; the pack moved again is refused."""
    db, things, writer = env["db"], env["things"], env["writer"]
    await things.insert(Thing("a", "w1", "Before"))
    await env["relay"].publish_pending()
    batch = [Thing(f"t{n}", "w1", f"T{n}") for n in range(4)]
    assert await things.insert_batch(batch, batch_collection="batches", batch_id="b1") == []
    await things.insert(Thing("z", "w1", "Later"))
    held = await db["batches"].find_one({"_id": "b1"})
    assert held is not None
    _, sealed = unseal(held[SEALED])
    relay = OutboxRelay(db, [THINGS, "batches"], env["js"])
    await relay.publish_pending()
    (pack,) = [doc async for doc in db[AUDIT].find({PACKED: {"$ne": None}})]
    assert pack["record_id"] == ["t0", "t1", "t2", "t3"]
    trail = AuditTrail(MongoSource(writer), "w1")
    seen: list[tuple[str, str]] = []
    after = None
    while True:
        page = await trail.page(AuditQuery(), first=2, after=after)
        assert page.total == 6
        seen += [(e["record_id"], e["action"]) for e in page.items]
        if not page.has_next:
            break
        after = decode_cursor(entry_cursor(page.items[-1]))
    assert [record for record, _ in seen] == ["z", "t3", "t2", "t1", "t0", "a"]
    assert {action for _, action in seen} == {"create"}
    # The relay "died" after storing the pack and before clearing the batch: the next
    # one stores the same sealed entries again, as the same pack.
    await store_entries(db, sealed)
    assert await db[AUDIT].count_documents({}) == 3


async def test_held_entries_ride_in_a_later_write_and_a_run_again_adds_none(
    env: dict[str, Any],
) -> None:
    """`insert_many(hold_audit=...)`: no intent written and removed around the insert; the
    entries ride in the caller's next write of an outbox document. A handler run again
    after a crash between the two writes (every record refused now) holds the same
    entries, named by the inserts, so the log keeps each once."""
    db, things, relay = env["db"], env["things"], env["relay"]
    await things.insert(Thing("carrier", "w1", "Carrier"))
    batch = [Thing(f"t{n}", "w1", f"T{n}") for n in range(3)]
    held: list[dict[str, Any]] = []
    assert await things.insert_many(batch, hold_audit=held) == []
    assert [e["record_id"] for e in held] == ["t0", "t1", "t2"]
    assert await db[INTENTS].count_documents({}) == 0
    assert await db[THINGS].count_documents({PENDING_FIELD: {"$size": 1}}) == 1  # carrier's
    # The process "dies" before carrying them; the handler runs again.
    again = [Thing(f"t{n}", "w1", f"T{n}") for n in range(3)]
    held_again: list[dict[str, Any]] = []
    assert len(await things.insert_many(again, hold_audit=held_again)) == 3
    assert [e["_id"] for e in held_again] == [e["_id"] for e in held]
    # An update of fields no entry shows carries them (and adds no entry of its own).
    assert await things.update("carrier", {"$set": {"version": 7}}, audit=held_again)
    await relay.publish_pending()
    created = {e["record_id"] async for e in db[AUDIT].find({"action": "create"})}
    assert created == {"carrier", "t0", "t1", "t2"}
    assert await db[AUDIT].count_documents({}) == 4
    # Carried once more (a third delivery): still once each.
    assert await things.update("carrier", {"$set": {"version": 8}}, audit=held)
    await relay.publish_pending()
    assert await db[AUDIT].count_documents({}) == 4


async def test_a_changes_entry_diffs_against_the_document_it_read_without_reading_again(
    env: dict[str, Any],
) -> None:
    """`Records.change` reads the document once: the write's entry diffs against that read
    (a list the change edits in place still shows its before), and the writer adds no
    second read of the document for the entry."""
    db, things = env["db"], env["things"]
    await things.insert(Thing("a", "w1", "Ada", tags=["x"]))

    async def tag(thing: Thing) -> bool:
        thing.tags.append("y")
        thing.name = "Bea"
        return True

    finds = CommandsSent("find")

    # Counted on a client of its own, sharing nothing with the writer's but the database.
    client: AsyncMongoClient[Any] = AsyncMongoClient(
        env["uri"], tz_aware=True, event_listeners=[finds]
    )
    try:
        writer = DocumentWriter(
            client[db.name],
            profile=env["writer"].profile,
            outbox_collections=[THINGS],
            encode=encode,
            audit=POLICY,
        )
        await MongoRecords(writer, THING, "w1").change("a", tag)
    finally:
        await client.close()
    assert finds.of("find").count(THINGS) == 1  # the change's own read
    await env["relay"].publish_pending()
    updated = [e async for e in db[AUDIT].find({"action": "update"})]
    (entry_made,) = updated
    changed = {c["field"]: (c["before"], c["after"]) for c in entry_made["changes"]}
    assert changed == {"name": ('"Ada"', '"Bea"'), "tags": ('["x"]', '["x","y"]')}


async def test_an_armed_batch_goes_to_the_relay_without_being_read_again(
    env: dict[str, Any],
) -> None:
    """`insert_batch` hands the relay what it wrote (the sealed events and entries): the
    relay publishes and clears the batch without reading its largest document back."""
    db = env["db"]
    finds = CommandsSent("find")

    client: AsyncMongoClient[Any] = AsyncMongoClient(
        env["uri"], tz_aware=True, event_listeners=[finds]
    )
    try:
        relay = OutboxRelay(client[db.name], [THINGS, "batches"], env["js"])
        writer = DocumentWriter(
            client[db.name],
            profile=env["writer"].profile,
            outbox_collections=[THINGS, "batches"],
            encode=encode,
            audit=POLICY,
            wake=relay.notify,
        )
        batch = [Thing(f"t{n}", "w1", f"T{n}") for n in range(3)]
        records = MongoRecords(writer, THING, "w1")
        assert await records.insert_batch(batch, batch_collection="batches", batch_id="b1") == []
        assert await relay.publish_documents([("batches", "b1")]) == 0  # no events: entries
    finally:
        await client.close()
    assert "batches" not in finds.of("find")
    (pack,) = [doc async for doc in db[AUDIT].find({})]
    assert pack["record_id"] == ["t0", "t1", "t2"]
    cleared = await db["batches"].find_one({"_id": "b1"})
    assert cleared is not None and not cleared[PENDING] and cleared[SEALED] is None


def _renamed(prefix: str, count: int) -> list[Thing]:
    things = [Thing(f"{prefix}{n}", "w1", f"{prefix.upper()} {n}") for n in range(count)]
    for thing in things:
        thing.rename(thing.name)  # an event each
    return things


def _batch_writer(env: dict[str, Any]) -> tuple[DocumentWriter, MongoRecords[Thing]]:
    """A writer whose import batches hold events (an outbox collection of batches)."""
    writer = DocumentWriter(
        env["db"],
        profile=env["writer"].profile,
        outbox_collections=[THINGS, "batches"],
        encode=encode,
        audit=POLICY,
    )
    return writer, MongoRecords(writer, THING, "w1")


async def _sealed(db: Any, batch_id: str) -> tuple[list[str], list[str]]:
    """The ids of the events and of the audit entries a batch's document holds."""
    events, entries = unseal((await db["batches"].find_one({"_id": batch_id}))[SEALED])
    return [e["id"] for e in events], [e["_id"] for e in entries]


async def test_a_batch_made_ahead_is_written_with_the_parts_made_ahead(
    env: dict[str, Any],
) -> None:
    """`prepare_batch` (an import batch waiting for its write turn) makes the batch's
    events and entries; the insert of the same records in the same task writes those
    (their ids: made once)."""
    db, (writer, things) = env["db"], _batch_writer(env)
    batch = _renamed("a", 3)
    things.prepare_batch(batch, batch_collection="batches", batch_id="b1")
    ahead = writer._prepared[("batches", "b1")]
    assert await things.insert_batch(batch, batch_collection="batches", batch_id="b1") == []
    assert writer._prepared == {}
    made = ([e.id for e in ahead.held.events], [entry["_id"] for _, entry in ahead.entries])
    assert await _sealed(db, "b1") == made
    assert len(made[0]) == len(made[1]) == 3
    # The entries as made ahead: the records', each once.
    _, entries = unseal((await db["batches"].find_one({"_id": "b1"}))[SEALED])
    assert [e["record_id"] for e in entries] == ["a0", "a1", "a2"]


async def test_parts_made_ahead_for_other_records_or_in_another_task_are_made_again(
    env: dict[str, Any],
) -> None:
    """Made ahead for all of a batch's rows but inserted for fewer (some were found
    stored), or made by another task (another request of the same batch id): the
    insert makes its parts afresh, for exactly the records it writes; parts never
    used are not kept beyond a few batches."""
    db, (writer, things) = env["db"], _batch_writer(env)
    batch = _renamed("b", 3)
    things.prepare_batch(batch, batch_collection="batches", batch_id="b2")
    ahead = writer._prepared[("batches", "b2")]
    assert await things.insert_batch(batch[:2], batch_collection="batches", batch_id="b2") == []
    events, entries = await _sealed(db, "b2")
    assert len(events) == len(entries) == 2
    assert not set(events) & {e.id for e in ahead.held.events}

    other = _renamed("c", 2)

    async def elsewhere() -> None:
        things.prepare_batch(other, batch_collection="batches", batch_id="b3")

    await asyncio.create_task(elsewhere())
    made_elsewhere = {e.id for e in writer._prepared[("batches", "b3")].held.events}
    assert await things.insert_batch(other, batch_collection="batches", batch_id="b3") == []
    assert not set((await _sealed(db, "b3"))[0]) & made_elsewhere

    for n in range(6):  # made ahead, never inserted: a few kept at most
        things.prepare_batch(_renamed(f"d{n}", 1), batch_collection="batches", batch_id=f"x{n}")
    assert len(writer._prepared) <= 4


async def test_nothing_is_made_ahead_while_an_audit_note_waits(env: dict[str, Any]) -> None:
    """A note is said once, on the next change: made ahead, it could be spent on parts
    that are then dropped."""
    writer, things = _batch_writer(env)
    annotate(reason="bulk fix")
    things.prepare_batch(_renamed("e", 2), batch_collection="batches", batch_id="b4")
    assert writer._prepared == {}
    bind_channel("graphql", "gateway")  # the note cleared for the next tests
