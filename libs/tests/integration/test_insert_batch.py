"""`DocumentWriter.insert_batch` on FerretDB and NATS: a bulk batch's per-record events in
one outbox document, held until the records are in, only those of records stored, armed
again after a crash, and published once each however often the batch is sent."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from types import SimpleNamespace
from typing import Any

import orjson
import pytest
from pymongo import AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection

from crm_contracts.envelope import CloudEvent, new_event, source_of
from crm_contracts.streams import StreamSpec
from crm_kit.nats_io import ensure_stream
from crm_kit.outbox import PENDING, SEALED, OutboxRelay, outbox_fields, unseal
from crm_kit.profile import DatabaseProfile
from crm_kit.testing import eventually
from crm_kit.writer import DocumentWriter

pytestmark = pytest.mark.integration


@pytest.fixture
async def env(infra: Any, db_name: str) -> AsyncIterator[dict[str, Any]]:
    client: AsyncMongoClient = AsyncMongoClient(infra.mongodb_uri, tz_aware=True)
    nc = await infra.connect_nats()
    js = nc.jetstream()
    stream = StreamSpec(name=f"B_{db_name.upper()}", subjects=(f"crm.{db_name}.>",))
    await ensure_stream(js, stream)
    db = client[db_name]
    await db.things.create_index([("key", 1)], unique=True)
    writer = DocumentWriter(
        db,
        profile=await DatabaseProfile.detect(db, "auto"),
        outbox_collections=["things", "batches"],
    )
    yield {"db": db, "js": js, "stream": stream, "prefix": f"crm.{db_name}", "writer": writer}
    await js.delete_stream(stream.name)
    await nc.close()
    await client.close()


def _event(prefix: str, n: int) -> CloudEvent:
    return new_event(
        event_type=f"{prefix}.thing.created.v1",
        source=source_of(prefix.split(".")[1]),
        workspace="w1",
        data={"n": n},
    )


def _docs(prefix: str, numbers: range) -> tuple[list[dict[str, Any]], list[list[CloudEvent]]]:
    docs = [{"_id": f"t{n}", "workspace_id": "w1", "key": f"k{n}"} for n in numbers]
    return docs, [[_event(prefix, n)] for n in numbers]


async def test_a_batch_is_published_once_with_only_the_stored_records_events(
    env: dict[str, Any],
) -> None:
    db, js, writer, prefix = env["db"], env["js"], env["writer"], env["prefix"]
    await db.things.insert_one({"_id": "other", "workspace_id": "w1", "key": "k3"})
    docs, events = _docs(prefix, range(5))
    refused = await writer.insert_batch(
        "things", docs, events, batch_collection="batches", batch_id="b1"
    )
    assert refused == {"t3"}  # its unique key is another record's
    batch = await db.batches.find_one({"_id": "b1"})
    assert batch[PENDING] is True and len(unseal(batch[SEALED])[0]) == 4
    assert await db.things.count_documents({PENDING: True}) == 0  # no per-record outbox

    # Sent again: everything refused, nothing more to publish.
    again = await writer.insert_batch(
        "things", docs, _docs(prefix, range(5))[1], batch_collection="batches", batch_id="b1"
    )
    assert again == {f"t{n}" for n in range(5)}
    relay = OutboxRelay(db, ["things", "batches"], js)
    assert await relay.publish_pending() == 4
    assert await relay.publish_pending() == 0
    info = await js.stream_info(env["stream"].name)
    assert info.state.messages == 4


async def test_a_batch_held_by_a_crash_is_armed_at_start_up(env: dict[str, Any]) -> None:
    db, js, writer, prefix = env["db"], env["js"], env["writer"], env["prefix"]
    docs, events = _docs(prefix, range(3))

    async def crash(*args: Any, **kwargs: Any) -> None:
        raise ConnectionError("killed after the records, before arming")

    original = writer.arm_batch
    writer.arm_batch = crash  # type: ignore[method-assign]
    with pytest.raises(ConnectionError):
        await writer.insert_batch("things", docs, events, batch_collection="batches", batch_id="b")
    writer.arm_batch = original  # type: ignore[method-assign]
    relay = OutboxRelay(db, ["things", "batches"], js)
    assert await relay.publish_pending() == 0  # held: not the relay's yet
    assert await writer.arm_batches("batches") == 1
    assert await relay.publish_pending() == 3
    assert await writer.arm_batches("batches") == 0


async def _stream_count(env: dict[str, Any]) -> int:
    return int((await env["js"].stream_info(env["stream"].name)).state.messages)


async def test_a_batch_held_before_its_insert_by_a_crash_sends_its_events_when_sent_again(
    env: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The owner stops after holding the batch and before inserting its records: the
    start-up repair arms it with none of them there (their events parked, not dropped),
    and the batch sent again inserts them and hands their events to the relay, once."""
    db, js, writer, prefix = env["db"], env["js"], env["writer"], env["prefix"]
    docs, events = _docs(prefix, range(3))

    async def crash(*args: Any, **kwargs: Any) -> set[Any]:
        raise ConnectionError("killed after the batch's hold, before its records")

    monkeypatch.setattr(writer, "insert_many", crash)
    with pytest.raises(ConnectionError):
        await writer.insert_batch("things", docs, events, batch_collection="batches", batch_id="b")
    monkeypatch.undo()
    assert await db.things.count_documents({}) == 0
    relay = OutboxRelay(db, ["things", "batches"], js)
    assert await writer.arm_batches("batches") == 1  # the start-up repair
    assert await relay.publish_pending() == 0  # no record there: nothing to send yet

    again = await writer.insert_batch(
        "things", docs, _docs(prefix, range(3))[1], batch_collection="batches", batch_id="b"
    )
    assert again == set()
    assert await relay.publish_pending() == 3
    sent = [
        orjson.loads((await js.get_msg(env["stream"].name, seq)).data)["data"]["n"]
        for seq in range(1, 4)
    ]
    assert sorted(sent) == [0, 1, 2]  # the events first held, one per record
    # Sent a third time: everything refused, nothing parked or held any more.
    await writer.insert_batch(
        "things", docs, _docs(prefix, range(3))[1], batch_collection="batches", batch_id="b"
    )
    assert await relay.publish_pending() == 0
    assert await _stream_count(env) == 3


async def test_a_batch_resent_after_the_repair_and_stopped_again_sends_its_events_next_time(
    env: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Stopped before the insert (repaired: events parked), sent again and stopped after
    the insert but before arming, sent a third time (every record refused as there): the
    parked events of the records now there go out, once."""
    db, js, writer, prefix = env["db"], env["js"], env["writer"], env["prefix"]
    docs, events = _docs(prefix, range(4))

    async def crash(*args: Any, **kwargs: Any) -> Any:
        raise ConnectionError("killed")

    monkeypatch.setattr(writer, "insert_many", crash)
    with pytest.raises(ConnectionError):
        await writer.insert_batch("things", docs, events, batch_collection="batches", batch_id="b")
    monkeypatch.undo()
    assert await writer.arm_batches("batches") == 1
    monkeypatch.setattr(writer, "arm_batch", crash)
    with pytest.raises(ConnectionError):
        await writer.insert_batch(
            "things", docs, _docs(prefix, range(4))[1], batch_collection="batches", batch_id="b"
        )
    monkeypatch.undo()
    assert await db.things.count_documents({}) == 4
    relay = OutboxRelay(db, ["things", "batches"], js)
    assert await writer.arm_batches("batches") == 0  # armed already (parked inside)
    refused = await writer.insert_batch(
        "things", docs, _docs(prefix, range(4))[1], batch_collection="batches", batch_id="b"
    )
    assert refused == {f"t{n}" for n in range(4)}
    assert await relay.publish_pending() == 4
    assert await relay.publish_pending() == 0
    assert await _stream_count(env) == 4


async def test_a_write_that_raised_after_the_database_kept_it_is_handed_to_the_relay(
    env: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The connection breaks after the database wrote the document: the writer raises,
    and tells the relay, which publishes the events the document holds (its sweeps, which
    leave young documents to their writers, would not)."""
    db, js, prefix = env["db"], env["js"], env["prefix"]
    # Its sweeps leave everything younger than ten minutes to the writers.
    relay = OutboxRelay(db, ["things", "batches"], js, grace_seconds=600)
    writer = DocumentWriter(
        db,
        profile=await DatabaseProfile.detect(db, "auto"),
        outbox_collections=["things", "batches"],
        wake=relay.notify,
    )
    written = AsyncCollection.insert_one

    async def kept_then_lost(self: AsyncCollection[Any], doc: Any, *args: Any, **kw: Any) -> Any:
        result = await written(self, doc, *args, **kw)
        if self.name == "things":
            raise ConnectionError("the connection broke before the reply")
        return result

    monkeypatch.setattr(AsyncCollection, "insert_one", kept_then_lost)
    with pytest.raises(ConnectionError):
        await writer.insert(
            "things", {"_id": "t9", "workspace_id": "w1", "key": "k9"}, [_event(prefix, 9)]
        )
    monkeypatch.undo()
    run = asyncio.create_task(relay.run())
    try:

        async def published() -> bool:
            return (await js.stream_info(env["stream"].name)).state.messages == 1

        await eventually(published)
    finally:
        run.cancel()
    doc = await db.things.find_one({"_id": "t9"})
    assert doc is not None and doc[PENDING] is False


async def test_a_batch_held_before_batches_were_sealed_is_armed_with_its_events(
    env: dict[str, Any],
) -> None:
    """A batch a crash left held by the previous version (its events a plain outbox list):
    arming at start-up keeps the events of the records that exist, and they go out."""
    db, js, writer, prefix = env["db"], env["js"], env["writer"], env["prefix"]
    await db.things.insert_many([{"_id": "t0", "workspace_id": "w1", "key": "k0"}])
    await db.batches.insert_one(
        {
            "_id": "old",
            "workspace_id": "w1",
            "collection": "things",
            "event_docs": ["t0", "t1"],  # t1 never written: the crash came first
            "armed": False,
            **outbox_fields([_event(prefix, 0), _event(prefix, 1)]),
            PENDING: False,
        }
    )
    assert await writer.arm_batches("batches") == 1
    relay = OutboxRelay(db, ["things", "batches"], js)
    assert await relay.publish_pending() == 1
    info = await js.stream_info(env["stream"].name)
    assert info.state.messages == 1


async def test_a_batchs_records_go_out_side_by_side_each_records_events_in_order(
    env: dict[str, Any],
) -> None:
    """The relay publishes a sealed batch's records concurrently: each record's events
    still reach the stream in the order written, and a pass that fails part-way leaves the
    batch pending; the next pass sends the rest, and what went out twice is one message."""
    db, js, writer, prefix = env["db"], env["js"], env["writer"], env["prefix"]
    docs, _ = _docs(prefix, range(40))
    events = [[_event(prefix, n * 10 + step) for step in range(3)] for n in range(40)]
    await writer.insert_batch("things", docs, events, batch_collection="batches", batch_id="b")
    relay = OutboxRelay(db, ["things", "batches"], js)
    restore = _fail_send(relay, 50, "NATS went away")
    with pytest.raises(ConnectionError):
        await relay.publish_pending()
    batch = await db.batches.find_one({"_id": "b"})
    assert batch[PENDING] is True and len(unseal(batch[SEALED])[0]) == 120

    async def settled() -> bool:  # the sends of the failed wave made before it failed
        return (await js.stream_info(env["stream"].name)).state.messages == 49

    await eventually(settled)  # the first wave (40) and 9 of the second
    restore()
    assert await relay.publish_pending() == 120
    stream = env["stream"].name
    assert (await js.stream_info(stream)).state.messages == 120
    numbers = [
        orjson.loads((await js.get_msg(stream, seq)).data)["data"]["n"] for seq in range(1, 121)
    ]
    assert sorted(numbers) == sorted(n * 10 + step for n in range(40) for step in range(3))
    for n in range(40):
        mine = [found for found in numbers if found // 10 == n]
        assert mine == [n * 10, n * 10 + 1, n * 10 + 2]


def _fail_send(relay: OutboxRelay, at_try: int | None, why: str) -> Callable[[], None]:
    """The relay's `at_try`-th send of a wave (every one: None) raises
    ConnectionError(why); the others go out. Answers what undoes it."""
    client = relay._acks._nc
    tries = 0

    async def failing(
        subject: str, payload: bytes = b"", reply: str = "", headers: Any = None
    ) -> None:
        nonlocal tries
        tries += 1
        if at_try is None or tries == at_try:
            raise ConnectionError(why)
        await client.publish(subject, payload, reply=reply, headers=headers)

    relay._acks._nc = SimpleNamespace(
        publish=failing, new_inbox=client.new_inbox, subscribe=client.subscribe
    )

    def restore() -> None:
        relay._acks._nc = client

    return restore


async def _relayed_writer(env: dict[str, Any]) -> tuple[DocumentWriter, OutboxRelay]:
    """A writer whose wakes go to a relay in the same process (as a service runs), the
    relay not running: each test drives its passes."""
    relay = OutboxRelay(env["db"], ["things", "batches"], env["js"])
    writer = DocumentWriter(
        env["db"],
        profile=await DatabaseProfile.detect(env["db"], "auto"),
        outbox_collections=["things", "batches"],
        wake=relay.notify,
    )
    return writer, relay


async def test_a_whole_batch_is_armed_by_the_relays_clear_not_by_a_rewrite(
    env: dict[str, Any],
) -> None:
    """Every record went in and a relay runs here: the batch document is written once on
    the request's path (held), the relay publishes what the writer handed it, and its
    clearing write marks the batch armed; sent again, nothing more goes out."""
    db, js, prefix = env["db"], env["js"], env["prefix"]
    writer, relay = await _relayed_writer(env)
    docs, events = _docs(prefix, range(5))
    assert not await writer.insert_batch(
        "things", docs, events, batch_collection="batches", batch_id="b"
    )
    stored = await db.batches.find_one({"_id": "b"})
    assert stored["armed"] is False and stored[PENDING] is False  # not rewritten to arm it
    assert await relay.publish_documents([("batches", "b")]) == 5
    stored = await db.batches.find_one({"_id": "b"})
    assert stored["armed"] is True and stored[PENDING] is False and stored[SEALED] is None
    again = await writer.insert_batch(
        "things", docs, _docs(prefix, range(5))[1], batch_collection="batches", batch_id="b"
    )
    assert again == {f"t{n}" for n in range(5)}
    assert await relay.publish_pending() == 0
    assert await writer.arm_batches("batches") == 0
    assert (await js.stream_info(env["stream"].name)).state.messages == 5


async def test_a_whole_batch_is_published_from_what_was_sealed_without_opening_the_blob(
    env: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The writer hands the relay what it sealed with the document (`OPENED`): the relay
    publishes those events without opening the blob, the same messages the blob holds,
    once each; a pass that reads the document (none handed over) opens it."""
    db, js, prefix = env["db"], env["js"], env["prefix"]
    writer, relay = await _relayed_writer(env)
    docs, events = _docs(prefix, range(7))
    await writer.insert_batch("things", docs, events, batch_collection="batches", batch_id="b")
    sealed, _ = unseal((await db.batches.find_one({"_id": "b"}))[SEALED])
    opened: list[bytes] = []

    def counting(blob: bytes | None) -> Any:
        opened.append(blob or b"")
        return unseal(blob)

    monkeypatch.setattr("crm_kit.outbox.unseal", counting)
    assert await relay.publish_documents([("batches", "b")]) == 7
    assert opened == []
    sub = await js.pull_subscribe(f"{prefix}.>", durable=None, stream=env["stream"].name)
    got = await sub.fetch(7, timeout=5)
    assert [(m.headers or {}).get("Nats-Msg-Id") for m in got] == [e["id"] for e in sealed]
    assert [m.data.decode() for m in got] == [e["body"] for e in sealed]
    # Not handed over (another batch, its writer's memory gone): the relay opens it.
    docs, events = _docs(prefix, range(10, 13))
    await writer.insert_batch("things", docs, events, batch_collection="batches", batch_id="c")
    relay._held.clear()
    assert await relay.publish_documents([("batches", "c")]) == 3
    assert len(opened) == 1
    assert (await js.stream_info(env["stream"].name)).state.messages == 10


async def test_a_whole_batch_whose_relay_died_part_way_is_armed_at_start_up_and_sent_once(
    env: dict[str, Any],
) -> None:
    """The process dies after the records went in, its relay having sent part of the
    batch: the batch is still held, so the next start-up arms it, and the stream keeps one
    message per event (the same ids went out again)."""
    db, js, prefix = env["db"], env["js"], env["prefix"]
    writer, relay = await _relayed_writer(env)
    docs, _ = _docs(prefix, range(20))
    events = [[_event(prefix, n)] for n in range(20)]
    await writer.insert_batch("things", docs, events, batch_collection="batches", batch_id="b")
    _fail_send(relay, 8, "the process is killed")
    with pytest.raises(ConnectionError):
        await relay.publish_documents([("batches", "b")])

    async def some_went_out() -> bool:  # the sends made before the failure, once stored
        return (await js.stream_info(env["stream"].name)).state.messages > 0

    await eventually(some_went_out)
    assert (await js.stream_info(env["stream"].name)).state.messages < 20
    # The next start-up (a new relay; the dead one's memory is gone).
    restarted = OutboxRelay(db, ["things", "batches"], js)
    assert await restarted.publish_pending() == 0  # held: not the relay's before arming
    assert await writer.arm_batches("batches") == 1
    assert await restarted.publish_pending() == 20
    assert (await js.stream_info(env["stream"].name)).state.messages == 20
    assert (await db.batches.find_one({"_id": "b"}))["armed"] is True


async def test_a_whole_batch_the_relay_failed_is_sent_on_its_next_pass(
    env: dict[str, Any],
) -> None:
    """A pass that fails (NATS away) keeps the batch; the next pass, which reads the
    document instead of what the writer handed over, sends every event once."""
    db, js, prefix = env["db"], env["js"], env["prefix"]
    writer, relay = await _relayed_writer(env)
    docs, events = _docs(prefix, range(6))
    await writer.insert_batch("things", docs, events, batch_collection="batches", batch_id="b")
    restore = _fail_send(relay, None, "NATS went away")
    with pytest.raises(ConnectionError):
        await relay.publish_documents([("batches", "b")])
    restore()
    assert await relay.publish_documents([("batches", "b")]) == 6
    assert (await js.stream_info(env["stream"].name)).state.messages == 6
    stored = await db.batches.find_one({"_id": "b"})
    assert stored["armed"] is True and stored[SEALED] is None
