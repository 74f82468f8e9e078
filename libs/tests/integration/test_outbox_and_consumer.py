"""The outbox and consumer guarantees, against a real FerretDB and a real NATS server."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
from nats.js import JetStreamContext
from pymongo import AsyncMongoClient
from pymongo.errors import AutoReconnect

from crm_contracts.envelope import CloudEvent, new_event, source_of
from crm_contracts.streams import StreamSpec
from crm_kit import consumer as consumer_module
from crm_kit import gathering as gathering_module
from crm_kit import periodic
from crm_kit.consumer import EventConsumer
from crm_kit.errors import ServiceUnavailable
from crm_kit.gathering import Gathering
from crm_kit.nats_io import ensure_stream
from crm_kit.outbox import HIDE_OUTBOX, OUTBOX, OutboxRelay, outbox_fields
from crm_kit.runtime import cancel_tasks
from crm_kit.testing import eventually

pytestmark = pytest.mark.integration


@pytest.fixture
async def env(infra: Any, db_name: str) -> AsyncIterator[dict[str, Any]]:
    client: AsyncMongoClient = AsyncMongoClient(infra.mongodb_uri, tz_aware=True)
    nc = await infra.connect_nats()
    js = nc.jetstream()
    stream = StreamSpec(name=f"T_{db_name.upper()}", subjects=(f"crm.{db_name}.>",))
    await ensure_stream(js, stream)
    await ensure_stream(js, stream)  # idempotent: a second call changes nothing
    yield {"db": client[db_name], "js": js, "stream": stream, "prefix": f"crm.{db_name}"}
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


async def _stream_messages(js: JetStreamContext, stream: str) -> int:
    info = await js.stream_info(stream)
    return info.state.messages


async def test_relay_killed_mid_batch_still_delivers_each_event_exactly_once(
    env: dict[str, Any],
) -> None:
    db, js, prefix = env["db"], env["js"], env["prefix"]
    docs = [{"_id": f"d{i}", "n": i, **outbox_fields([_event(prefix, i)])} for i in range(30)]
    await db.things.insert_many(docs)

    # First relay "crashes" after publishing 10 events, before removing them from the outbox.
    relay = OutboxRelay(db, ["things"], js)
    original = relay._publish
    published = 0

    async def crashing_publish(stored: dict[str, Any]) -> None:
        nonlocal published
        if published == 10:
            raise ConnectionError("simulated crash")
        await original(stored)
        published += 1

    relay._publish = crashing_publish  # type: ignore[method-assign]
    with pytest.raises(ConnectionError):
        await relay.publish_pending()
    assert await _stream_messages(js, env["stream"].name) == 10

    # A fresh relay (the restarted process) re-sends what is still pending.
    restarted = OutboxRelay(db, ["things"], js)
    assert await restarted.publish_pending() >= 20
    assert await _stream_messages(js, env["stream"].name) == 30
    assert await db.things.count_documents({f"{OUTBOX}.0": {"$exists": True}}) == 0
    assert await restarted.publish_pending() == 0
    doc = await db.things.find_one({"_id": "d3"}, HIDE_OUTBOX)
    assert doc == {"_id": "d3", "n": 3}


async def test_consumer_given_the_same_event_twice_acts_once(env: dict[str, Any]) -> None:
    db, js, prefix = env["db"], env["js"], env["prefix"]
    seen: list[int] = []

    async def handler(event: CloudEvent) -> None:
        seen.append(event.data["n"])

    consumer = EventConsumer(
        js=js,
        db=db,
        service="test",
        durable=f"dup-{db.name}",
        stream=env["stream"].name,
        subjects=[f"{prefix}.>"],
        handler=handler,
    )
    await consumer.start()
    task = asyncio.create_task(consumer.run())
    event = _event(prefix, 7)
    # Different message ids defeat JetStream's de-duplication: the consumer must catch it.
    await js.publish(event.type, event.to_json(), headers={"Nats-Msg-Id": "a"})
    await js.publish(event.type, event.to_json(), headers={"Nats-Msg-Id": "b"})

    async def both_seen() -> bool:
        return consumer.handled + consumer.skipped_duplicates == 2

    await eventually(both_seen)
    task.cancel()
    assert seen == [7]
    assert consumer.skipped_duplicates == 1


async def test_failing_handler_is_retried_then_dead_lettered_with_reason(
    env: dict[str, Any],
) -> None:
    db, js, prefix = env["db"], env["js"], env["prefix"]
    attempts = 0

    async def handler(event: CloudEvent) -> None:
        nonlocal attempts
        attempts += 1
        raise ValueError("cannot handle this")

    durable = f"dlq-{db.name}"
    consumer = EventConsumer(
        js=js,
        db=db,
        service="test",
        durable=durable,
        stream=env["stream"].name,
        subjects=[f"{prefix}.>"],
        handler=handler,
        max_deliveries=3,
    )
    await consumer.start()
    dead = await js.subscribe(f"dlq.test.{durable}")
    task = asyncio.create_task(consumer.run())
    event = _event(prefix, 1)
    await js.publish(event.type, event.to_json(), headers={"Nats-Msg-Id": event.id})
    message = await dead.next_msg(timeout=15)
    task.cancel()
    body = orjson.loads(message.data)
    assert attempts == 3
    assert "cannot handle this" in body["reason"]
    assert body["event"]["id"] == event.id


async def test_an_event_whose_deliveries_ran_out_unhandled_is_dead_lettered(
    env: dict[str, Any],
) -> None:
    """Deliveries spent without the handler seeing the last one (taken by processes that
    died holding it, or dropped before handling): the server's max-deliveries advisory
    has a replica dead-letter the event, instead of it staying in the stream unhandled."""
    db, js, prefix = env["db"], env["js"], env["prefix"]

    async def handler(event: CloudEvent) -> None:
        raise AssertionError("never delivered to the handler")

    durable = f"ranout-{db.name}"
    consumer = _consumer(env, durable, handler, max_deliveries=1, ack_wait_seconds=0.5)
    await consumer.start()  # subscribed to the advisory
    dead = await js.subscribe(f"dlq.test.{durable}")
    event = _event(prefix, 1)
    await js.publish(event.type, event.to_json(), headers={"Nats-Msg-Id": event.id})
    holder = await js.pull_subscribe_bind(durable=durable, stream=env["stream"].name)
    for _ in range(2):  # the server's max_deliver is one more than the consumer's
        taken = await holder.fetch(1, timeout=5)
        assert [m.data for m in taken] == [event.to_json()]  # and never acknowledged
    # The consumer pulls now; the server, about to deliver the event again, gives up.
    task = asyncio.create_task(consumer.run())
    message = await dead.next_msg(timeout=15)
    await cancel_tasks([task], timeout=5)
    body = orjson.loads(message.data)
    assert "ran out of deliveries" in body["reason"] and body["deliveries"] == 2
    assert body["event"]["id"] == event.id and body["subject"] == event.type
    assert message.headers is not None
    assert message.headers["Nats-Msg-Id"] == f"dlq:{durable}:{event.id}"
    await holder.unsubscribe()
    await consumer.stop()


async def test_an_event_not_from_the_streams_owner_is_dead_lettered_unhandled(
    env: dict[str, Any],
) -> None:
    db, js, prefix = env["db"], env["js"], env["prefix"]
    handled: list[str] = []

    async def handler(event: CloudEvent) -> None:
        handled.append(event.id)

    durable = f"src-{db.name}"
    consumer = EventConsumer(
        js=js,
        db=db,
        service="test",
        durable=durable,
        stream=env["stream"].name,
        subjects=[f"{prefix}.>"],
        handler=handler,
    )
    await consumer.start()
    dead = await js.subscribe(f"dlq.test.{durable}")
    task = asyncio.create_task(consumer.run())
    forged = _event(prefix, 1).model_copy(update={"source": "crm/tasks"})
    genuine = _event(prefix, 2)
    for event in (forged, genuine):
        await js.publish(event.type, event.to_json(), headers={"Nats-Msg-Id": event.id})
    message = await dead.next_msg(timeout=15)

    async def genuine_handled() -> bool:
        return consumer.handled == 1

    await eventually(genuine_handled)
    task.cancel()
    body = orjson.loads(message.data)
    assert body["event"]["id"] == forged.id
    assert "is not" in body["reason"] and "crm/tasks" in body["reason"]
    assert handled == [genuine.id]


async def test_fast_path_publishes_one_document_and_sweep_respects_the_grace(
    env: dict[str, Any],
) -> None:
    db, js, prefix = env["db"], env["js"], env["prefix"]
    await db.things.insert_one({"_id": "fresh", **outbox_fields([_event(prefix, 1)])})
    await db.things.insert_one({"_id": "other", **outbox_fields([_event(prefix, 2)])})
    relay = OutboxRelay(db, ["things"], js)
    # A sweep with a grace period leaves fresh documents to their writer.
    assert await relay.publish_pending(grace_seconds=60) == 0
    assert await relay.publish_documents([("things", "fresh")]) == 1
    assert await _stream_messages(js, env["stream"].name) == 1
    assert await db.things.count_documents({"_outbox_pending": True}) == 1
    assert await relay.publish_pending() == 1


async def test_a_written_document_is_published_while_a_sweep_is_still_reading(
    env: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sweep reads whole collections (seconds on a large FerretDB): the fast path does
    not wait for it. Here the sweep is held for as long as the test runs."""
    db, js, prefix = env["db"], env["js"], env["prefix"]
    relay = OutboxRelay(db, ["things"], js, sweep_seconds=0.05)
    sweeping, release = asyncio.Event(), asyncio.Event()

    async def slow_sweep(grace_seconds: float = 0.0) -> int:
        sweeping.set()
        await release.wait()
        return 0

    monkeypatch.setattr(relay, "publish_pending", slow_sweep)
    task = asyncio.create_task(relay.run())
    try:
        await asyncio.wait_for(sweeping.wait(), 5)
        await db.things.insert_one({"_id": "written", **outbox_fields([_event(prefix, 1)])})
        relay.notify("things", "written")

        async def published() -> bool:
            return await _stream_messages(js, env["stream"].name) == 1

        await eventually(published, timeout=10, what="published during the sweep")
        assert not release.is_set()  # the sweep was still reading
    finally:
        release.set()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def _relay_of_slow_sweeps(
    env: dict[str, Any], monkeypatch: pytest.MonkeyPatch, published: int
) -> tuple[OutboxRelay, list[None]]:
    """A relay sweeping every 10 ms with a 50 ms backstop whose sweeps take 20 ms and
    publish `published` documents each; the list grows by one per sweep."""
    relay = OutboxRelay(
        env["db"], ["things"], env["js"], sweep_seconds=0.01, backstop_seconds=0.05,
        grace_seconds=0.0,
    )  # fmt: skip
    sweeps: list[None] = []

    async def slow_sweep(grace_seconds: float = 0.0) -> int:
        sweeps.append(None)
        await asyncio.sleep(0.02)
        return published

    monkeypatch.setattr(relay, "publish_pending", slow_sweep)
    return relay, sweeps


async def test_a_slow_backstop_sweep_puts_the_next_one_off(
    env: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A backstop sweep scans every outbox collection (on FerretDB, every document): one
    that took long waits in proportion (`crm_kit.periodic.paced`), where a fixed period
    kept FerretDB busy at 10,000 deals. Here a sweep takes at least 20 ms and may keep
    1/1000 of the time: the next waits at least 20 s, not the 50 ms backstop period,
    unless the sweep published something."""
    monkeypatch.setattr(periodic, "BACKGROUND_SHARE", 0.001)
    relay, sweeps = _relay_of_slow_sweeps(env, monkeypatch, published=0)
    task = asyncio.create_task(relay.run())
    try:

        async def swept_after_the_watch() -> bool:
            return relay.sweep_took >= 0.02 and len(sweeps) >= 1

        await eventually(swept_after_the_watch, timeout=10, what="a backstop sweep")
        seen = len(sweeps)
        for _ in range(30):  # six backstop periods of 50 ms at least
            await asyncio.sleep(0.01)
        # At most the one sweep of the start-up watch window after the first.
        assert len(sweeps) <= max(seen, 2)
    finally:
        await cancel_tasks([task], timeout=5)

    # A sweep that published something (a dead replica's backlog, `batch` documents a
    # pass) goes on at the backstop period, however long it took.
    busy, busy_sweeps = _relay_of_slow_sweeps(env, monkeypatch, published=1)
    task = asyncio.create_task(busy.run())
    try:

        async def swept_again() -> bool:
            return len(busy_sweeps) >= 4  # paced, the second would come 20 s after the first

        await eventually(swept_again, timeout=10, what="backstop sweeps at their period")
    finally:
        await cancel_tasks([task], timeout=5)


async def test_a_failed_pass_over_named_documents_retries_them_without_sweeping(
    env: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pass over documents writers named that fails (a wave of publishes whose acks
    came late) tries those documents again by `_id`, published once each in the end, and
    sets off no sweep of the collections (on FerretDB a scan of every document, seconds
    on an import's deals); a failed full pass still makes the sweeps watch again."""
    db, js, prefix = env["db"], env["js"], env["prefix"]
    relay = OutboxRelay(db, ["things"], js, sweep_seconds=0.05, grace_seconds=0.0)
    sweeps: list[float] = []
    sweep = relay.publish_pending

    async def counted_sweep(grace_seconds: float = 0.0, collections: Any = None) -> int:
        sweeps.append(time.monotonic())
        return await sweep(grace_seconds, collections)

    monkeypatch.setattr(relay, "publish_pending", counted_sweep)
    publish_all = relay._publish_all
    failures = [2]

    async def late_acks(events: Any, owners: Any) -> None:
        if failures[0]:
            failures[0] -= 1
            raise TimeoutError("the wave's acks came late")
        await publish_all(events, owners)

    monkeypatch.setattr(relay, "_publish_all", late_acks)
    task = asyncio.create_task(relay.run())
    try:
        # Past the start-up watch window (grace 0 + two sweep periods): sweeps only at the
        # backstop period (120 s) from here on.
        await asyncio.sleep(0.5)
        before = len(sweeps)
        await db.things.insert_one({"_id": "named", **outbox_fields([_event(prefix, 1)])})
        relay.notify("things", "named")

        async def published() -> bool:
            return await db.things.count_documents({"_outbox_pending": True}) == 0

        await eventually(published, timeout=10, what="published after two failed passes")
        await asyncio.sleep(0.3)  # six sweep periods: a watch window would sweep now
        assert failures == [0] and len(sweeps) == before
        assert await _stream_messages(js, env["stream"].name) == 1
        # A failed full pass: what it would have found is unknown, the sweeps watch again.
        failures[0] = 1
        await db.things.insert_one({"_id": "unnamed", **outbox_fields([_event(prefix, 2)])})
        relay.notify()

        async def swept() -> bool:
            return len(sweeps) > before + 1 and await published()

        await eventually(swept, timeout=10, what="sweeps after a failed full pass")
        assert await _stream_messages(js, env["stream"].name) == 2
    finally:
        await cancel_tasks([task], timeout=5)


async def test_relay_task_stops_promptly_when_cancelled_during_a_wake_up(
    env: dict[str, Any],
) -> None:

    relay = OutboxRelay(env["db"], ["things"], env["js"], sweep_seconds=0.01)
    task = asyncio.create_task(relay.run())
    for _ in range(50):
        relay.notify()
        await asyncio.sleep(0.002)
    started = time.monotonic()
    await cancel_tasks([task], timeout=5)
    assert task.done() and time.monotonic() - started < 2


def _consumer(env: dict[str, Any], durable: str, handler: Any, **options: Any) -> EventConsumer:
    return EventConsumer(
        js=env["js"],
        db=env["db"],
        service="test",
        durable=durable,
        stream=env["stream"].name,
        subjects=[f"{env['prefix']}.>"],
        handler=handler,
        **options,
    )


async def test_a_handler_slower_than_ack_wait_keeps_its_batch_and_is_not_redelivered(
    env: dict[str, Any],
) -> None:
    """ack_wait 1 s, a handler taking 3.5 s per event, and an idle second replica waiting
    on the same durable: the progress reports keep the event being handled and the one
    waiting behind it in the same batch with the first replica; none is handed out again."""
    js, prefix = env["js"], env["prefix"]
    seen: list[int] = []

    async def slow(event: CloudEvent) -> None:
        seen.append(event.data["n"])
        await asyncio.sleep(3.5)

    durable = f"slow-{env['db'].name}"
    busy = _consumer(env, durable, slow, ack_wait_seconds=1.0)
    await busy.start()
    for n in (1, 2):
        event = _event(prefix, n)
        await js.publish(event.type, event.to_json(), headers={"Nats-Msg-Id": event.id})
    first = asyncio.create_task(busy.run())

    async def started() -> bool:
        return bool(seen)

    await eventually(started)
    idle = _consumer(env, durable, slow, ack_wait_seconds=1.0)
    await idle.start()
    second = asyncio.create_task(idle.run())

    async def both_handled() -> bool:
        return busy.handled + idle.handled >= 2

    await eventually(both_handled, timeout=30)
    first.cancel()
    second.cancel()
    info = await js.consumer_info(env["stream"].name, durable)
    assert seen == [1, 2]
    assert info.num_redelivered == 0 and idle.handled == 0


async def test_an_event_a_dead_consumer_had_fetched_is_taken_over_after_ack_wait(
    env: dict[str, Any],
) -> None:
    """A puller fetches and dies without settling; the live one gets the event again once
    ack_wait (3 s by default) has passed, and handles it once."""
    js, prefix = env["js"], env["prefix"]
    handled: list[int] = []

    async def handler(event: CloudEvent) -> None:
        handled.append(event.data["n"])

    durable = f"takeover-{env['db'].name}"
    consumer = _consumer(env, durable, handler)
    await consumer.start()
    event = _event(prefix, 9)
    await js.publish(event.type, event.to_json(), headers={"Nats-Msg-Id": event.id})
    dead = await js.pull_subscribe_bind(durable=durable, stream=env["stream"].name)
    (fetched,) = await dead.fetch(1, timeout=5)
    assert fetched.metadata.num_delivered == 1
    await dead.unsubscribe()  # the process is gone; its fetched event unsettled
    task = asyncio.create_task(consumer.run())

    async def taken_over() -> bool:
        return consumer.handled == 1

    await eventually(taken_over, timeout=20)
    task.cancel()
    assert handled == [9]


async def test_starting_updates_a_durable_made_with_an_older_ack_wait(
    env: dict[str, Any],
) -> None:
    from nats.js.api import AckPolicy, ConsumerConfig

    js, stream = env["js"], env["stream"].name
    durable = f"upgrade-{env['db'].name}"
    await js.add_consumer(
        stream,
        ConsumerConfig(
            durable_name=durable,
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=30.0,
            max_deliver=6,
            filter_subjects=[f"{env['prefix']}.>"],
        ),
    )

    async def handler(event: CloudEvent) -> None:
        return None

    consumer = _consumer(env, durable, handler)
    await consumer.start()
    info = await js.consumer_info(stream, durable)
    assert info.config.ack_wait == consumer_module.ACK_WAIT_SECONDS == 3.0
    await consumer.stop()


async def test_a_batch_handler_takes_a_fetch_together_and_falls_back_to_one_by_one(
    env: dict[str, Any],
) -> None:
    """Events published before the consumer runs arrive in one fetch: the batch handler
    takes them together and each is acknowledged; a fetch the batch handler fails on is
    handled event by event (nothing lost, none acknowledged twice)."""
    js, prefix = env["js"], env["prefix"]
    batches: list[list[int]] = []
    one_by_one: list[int] = []
    fail_next = [False]

    async def single(event: CloudEvent) -> None:
        one_by_one.append(event.data["n"])

    async def together(events: list[CloudEvent]) -> None:
        if fail_next[0]:
            fail_next[0] = False
            raise ConnectionError("the database went away")
        batches.append([event.data["n"] for event in events])

    with pytest.raises(ValueError):  # a batch handler keeps no processed-event records
        _consumer(env, "x", single, batch_handler=together)
    durable = f"together-{env['db'].name}"
    consumer = _consumer(env, durable, single, record_processed=False, batch_handler=together)
    await consumer.start()

    async def publish(numbers: range) -> None:
        for n in numbers:
            event = _event(prefix, n)
            await js.publish(event.type, event.to_json(), headers={"Nats-Msg-Id": event.id})

    await publish(range(5))
    task = asyncio.create_task(consumer.run())

    async def handled(count: int) -> bool:
        return consumer.handled == count

    await eventually(lambda: handled(5))
    assert batches == [[0, 1, 2, 3, 4]] and one_by_one == []
    await cancel_tasks([task], timeout=5)
    fail_next[0] = True
    await publish(range(5, 8))  # again all there before the fetch
    task = asyncio.create_task(consumer.run())
    await eventually(lambda: handled(8))
    await cancel_tasks([task], timeout=5)
    assert sorted(one_by_one) == [5, 6, 7] and len(batches) == 1
    info = await js.consumer_info(env["stream"].name, durable)
    assert info.num_ack_pending == 0 and info.num_redelivered == 0


async def test_a_large_fetch_is_taken_together_and_every_event_acknowledged(
    env: dict[str, Any],
) -> None:
    """A backlog of 300 events and a batch consumer fetching up to 256: taken in batches
    of up to 256 (not the kit's usual 32), in the stream's order; the acks (plain ones,
    the last of each fetch waited for) all land: nothing pending, nothing redelivered,
    even once the ack wait (1 s here) has passed."""
    js, prefix = env["js"], env["prefix"]
    batches: list[list[int]] = []

    async def single(event: CloudEvent) -> None:
        raise AssertionError("every batch went through together")

    async def together(events: list[CloudEvent]) -> None:
        batches.append([event.data["n"] for event in events])

    durable = f"large-{env['db'].name}"
    consumer = _consumer(
        env,
        durable,
        single,
        record_processed=False,
        batch_handler=together,
        batch=256,
        ack_wait_seconds=1.0,
    )
    await consumer.start()
    acks = [
        await js.publish_async(event.type, event.to_json(), headers={"Nats-Msg-Id": event.id})
        for event in (_event(prefix, n) for n in range(300))
    ]
    await asyncio.gather(*acks)
    task = asyncio.create_task(consumer.run())

    async def handled() -> bool:
        return consumer.handled == 300

    await eventually(handled)
    info = await js.consumer_info(env["stream"].name, durable)
    assert info.num_ack_pending == 0
    await asyncio.sleep(1.5)  # past the ack wait: an ack lost would be redelivered by now
    await cancel_tasks([task], timeout=5)
    assert [n for batch in batches for n in batch] == list(range(300))
    # Within the fetch's bound, and more at once than the kit's usual 32 (the fetch ends
    # at its 1 s timeout with what arrived: on a loaded machine not always the whole 256).
    assert all(len(batch) <= 256 for batch in batches) and max(map(len, batches)) > 32
    info = await js.consumer_info(env["stream"].name, durable)
    assert info.num_ack_pending == 0 and info.num_redelivered == 0
    assert info.num_pending == 0 and consumer.handled == 300


async def test_pullers_that_fetch_one_gather_what_is_waiting_and_handle_it_together(
    env: dict[str, Any],
) -> None:
    """Two pullers fetching one event each, gathering up to 4: a backlog of 10 is taken
    in batches of at most 4 (never 10 by one puller), in the stream's order within each,
    every event once, all acknowledged; an event alone (nothing waiting) goes on at once
    as a batch of one, not after the fetch's timeout."""
    js, prefix = env["js"], env["prefix"]
    batches: list[list[int]] = []

    async def single(event: CloudEvent) -> None:
        raise AssertionError("every batch went through together")

    async def together(events: list[CloudEvent]) -> None:
        batches.append([event.data["n"] for event in events])
        await asyncio.sleep(0.05)  # the other puller's turn meanwhile

    durable = f"gather-{env['db'].name}"
    pullers = [
        _consumer(
            env,
            durable,
            single,
            record_processed=False,
            batch_handler=together,
            batch=1,
            gather=4,
        )
        for _ in range(2)
    ]
    for puller in pullers:
        await puller.start()
    for n in range(10):
        event = _event(prefix, n)
        await js.publish(event.type, event.to_json(), headers={"Nats-Msg-Id": event.id})
    tasks = [asyncio.create_task(puller.run()) for puller in pullers]

    async def handled(count: int) -> bool:
        return sum(puller.handled for puller in pullers) == count

    await eventually(lambda: handled(10))
    assert sorted(n for batch in batches for n in batch) == list(range(10))
    assert all(1 <= len(batch) <= 4 and batch == sorted(batch) for batch in batches)
    assert len(batches) >= 3
    batches.clear()
    event = _event(prefix, 10)
    await js.publish(event.type, event.to_json(), headers={"Nats-Msg-Id": event.id})
    await eventually(lambda: handled(11))
    assert batches == [[10]]

    # Gathering company for the lone event left no pull request behind on the server:
    # each puller has at most its own current one. (A pull without an expiry, cancelled
    # by the client, stays and swallows later events into that client's queue, so the
    # count would never come back down.) Not every sample, nor the minimum over two
    # seconds: a puller renewing its pull overlaps the old one's expiry on the server, and
    # the server's count moves in steps of about a second (sampled every 0.1 s, idle:
    # runs of 10 to 20 samples at 3 or 4 between runs at 2, so two seconds at 3 happen).
    # An expiring pull brings the count back to one a puller; an orphan never does.
    async def back_to_one_each() -> bool:
        info = await js.consumer_info(env["stream"].name, durable)
        return info.num_waiting <= len(pullers)

    await eventually(back_to_one_each, timeout=10, what="one pull a puller (an orphan stays)")
    await cancel_tasks(tasks, timeout=5)
    info = await js.consumer_info(env["stream"].name, durable)
    assert info.num_ack_pending == 0 and info.num_redelivered == 0


async def test_pullers_gathering_for_a_window_take_a_trickle_together_and_leave_no_pull(
    env: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two pullers sharing a gathering (`crm_kit.gathering`, a window of 0.9 s). An event
    after a quiet spell goes on alone, at once. The next, within the window of it, opens a
    gathering: the events published while it gathers land in ONE batch of the puller whose
    turn it is (with each puller pulling on its own, the idle one takes the second). An
    event more than a window after the last goes alone again, without gathering. No pull
    request is left behind on the server (an open one would swallow later events into an
    idle puller's queue); every event is handled once and acknowledged."""
    js, prefix = env["js"], env["prefix"]
    batches: list[list[int]] = []
    gathers = 0
    gathering_now = asyncio.Event()

    async def single(event: CloudEvent) -> None:
        raise AssertionError("every batch went through together")

    async def together(events: list[CloudEvent]) -> None:
        batches.append([event.data["n"] for event in events])

    real_pull_within = gathering_module.pull_within

    async def noting_pull_within(*args: Any) -> Any:
        nonlocal gathers
        gathers += 1
        gathering_now.set()
        return await real_pull_within(*args)

    monkeypatch.setattr(gathering_module, "pull_within", noting_pull_within)
    durable = f"window-{env['db'].name}"
    gathering = Gathering(0.9)
    pullers = [
        _consumer(
            env,
            durable,
            single,
            record_processed=False,
            batch_handler=together,
            batch=1,
            gather=8,
            gathering=gathering,
        )
        for _ in range(2)
    ]
    for puller in pullers:
        await puller.start()
    tasks = [asyncio.create_task(puller.run()) for puller in pullers]

    async def publish(n: int) -> None:
        event = _event(prefix, n)
        await js.publish(event.type, event.to_json(), headers={"Nats-Msg-Id": event.id})

    async def handled(count: int) -> bool:
        return sum(puller.handled for puller in pullers) == count

    await publish(0)
    await eventually(lambda: handled(1))
    assert batches == [[0]] and gathers == 0  # the first in a while: at once
    await publish(1)  # within the window of the first: it gathers
    await asyncio.wait_for(gathering_now.wait(), timeout=10)
    for n in (2, 3):
        await publish(n)
    await eventually(lambda: handled(4))
    assert batches == [[0], [1, 2, 3]] and gathers == 1
    await asyncio.sleep(1.0)  # longer than the window: the trickle has stopped
    await publish(4)
    await eventually(lambda: handled(5))
    assert batches == [[0], [1, 2, 3], [4]] and gathers == 1

    async def back_to_one_each() -> bool:
        info = await js.consumer_info(env["stream"].name, durable)
        return info.num_waiting <= len(pullers)

    await eventually(back_to_one_each, timeout=10, what="one pull a puller (an orphan stays)")
    await cancel_tasks(tasks, timeout=5)
    info = await js.consumer_info(env["stream"].name, durable)
    assert info.num_ack_pending == 0 and info.num_redelivered == 0 and info.num_pending == 0


async def test_a_handler_that_met_an_unreachable_database_runs_again_in_place(
    env: dict[str, Any],
) -> None:
    """Three tries meet an unreachable database (more than `max_deliveries` allows), the
    fourth succeeds: the event is handled once, never handed out again, not dead-lettered;
    the event behind it waits its turn (it would have failed alike)."""
    js, prefix = env["js"], env["prefix"]
    tries: list[int] = []

    async def flaky(event: CloudEvent) -> None:
        tries.append(event.data["n"])
        if len(tries) <= 3:
            raise AutoReconnect("connection refused")

    durable = f"inplace-{env['db'].name}"
    consumer = _consumer(env, durable, flaky, max_deliveries=2)
    await consumer.start()
    for n in (1, 2):
        event = _event(prefix, n)
        await js.publish(event.type, event.to_json(), headers={"Nats-Msg-Id": event.id})
    task = asyncio.create_task(consumer.run())

    async def both_handled() -> bool:
        return consumer.handled >= 2

    await eventually(both_handled, timeout=30)
    task.cancel()
    info = await js.consumer_info(env["stream"].name, durable)
    assert tries == [1, 1, 1, 1, 2]
    assert info.num_redelivered == 0 and consumer.dead_lettered == 0


async def test_a_refusal_is_not_taken_for_an_outage() -> None:
    assert consumer_module.unreachable(AutoReconnect("refused"))
    assert consumer_module.unreachable(ServiceUnavailable("peer silent", retryable=True))
    assert not consumer_module.unreachable(ServiceUnavailable("maybe applied", retryable=False))
    assert not consumer_module.unreachable(ValueError("bad event"))


async def test_clears_given_together_go_in_one_statement_per_collection(
    env: dict[str, Any],
) -> None:
    """The relay's clearing updates of documents published at once are one `update`
    statement per collection (`crm_kit.outbox_clears`); each caller hears whether all of
    its statement matched (a missing document makes that False for the whole group)."""
    from crm_kit.outbox_clears import ClearWriter

    db, prefix = env["db"], env["prefix"]
    for n in range(5):
        await db.things.insert_one({"_id": f"t{n}", **outbox_fields([_event(prefix, n)])})
    for n in range(2):
        await db.others.insert_one({"_id": f"o{n}", **outbox_fields([_event(prefix, n)])})
    clears = ClearWriter(db)
    cleared = {"$set": {"_outbox_pending": False, OUTBOX: []}}
    matched = await asyncio.gather(
        *(clears.update("things", {"_id": f"t{n}"}, cleared) for n in range(5)),
        *(clears.update("others", {"_id": f"o{n}"}, cleared) for n in range(2)),
    )
    assert matched == [True] * 7 and clears.statements == 2
    for name in ("things", "others"):
        assert await db[name].count_documents({"_outbox_pending": True}) == 0
    matched = await asyncio.gather(
        clears.update("things", {"_id": "t0"}, cleared),
        clears.update("things", {"_id": "missing"}, cleared),
    )
    assert matched == [False, False] and clears.statements == 3
    relay = OutboxRelay(db, ["things"], env["js"])
    for n in range(5, 17):
        await db.things.insert_one({"_id": f"t{n}", **outbox_fields([_event(prefix, n)])})
    assert await relay.publish_documents([("things", f"t{n}") for n in range(5, 17)]) == 12
    assert await db.things.count_documents({"_outbox_pending": True}) == 0
    assert await db.things.count_documents({OUTBOX: {"$size": 0}}) == 17
