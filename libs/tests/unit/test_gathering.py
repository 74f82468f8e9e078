"""A gathering pull (`crm_kit.gathering.pull_within`): what it takes and where it stops,
against a fake subscription inbox fed in order (the server's replies as they would come)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import orjson
import pytest
from nats.aio.msg import Msg
from nats.errors import ConnectionClosedError
from nats.errors import TimeoutError as NatsTimeoutError

from crm_kit.consumer import EventConsumer
from crm_kit.gathering import Gathering, pull_within


def _event(n: int) -> Msg:
    return Msg(_client=None, subject="crm.x.thing.created.v1", data=str(n).encode())  # type: ignore[arg-type]


def _status(code: str) -> Msg:
    return Msg(_client=None, subject="inbox", data=b"", headers={"Status": code})  # type: ignore[arg-type]


class Inbox:
    """The replies, in order; after them, nothing (a timeout: NATS gone)."""

    def __init__(self, replies: list[Msg]) -> None:
        self.replies = list(replies)
        self.read = 0

    async def next_msg(self, timeout: float | None = None) -> Msg:
        if not self.replies:
            raise NatsTimeoutError
        self.read += 1
        return self.replies.pop(0)


class Connection:
    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, Any], str]] = []

    async def publish(self, subject: str, payload: bytes, reply: str = "") -> None:
        self.requests.append((subject, orjson.loads(payload), reply))


class PullSubscription:
    def __init__(self, replies: list[Msg]) -> None:
        self._sub = Inbox(replies)
        self._nc = Connection()
        self._nms = "$JS.API.CONSUMER.MSG.NEXT.stream.durable"
        self._deliver = "_INBOX.puller"


def _numbers(messages: list[Msg]) -> list[int]:
    return [int(message.data) for message in messages]


async def test_one_pull_held_for_the_window_and_read_to_its_end() -> None:
    """One request, without `no_wait`, expiring after the window, on the puller's inbox;
    the events it brings are taken until the server ends it (a 408 after the window)."""
    subscription = PullSubscription([_event(1), _event(2), _status("408"), _event(3)])
    taken, last = await pull_within(subscription, 5, 0.0)  # type: ignore[arg-type]
    assert _numbers(taken) == [1, 2] and last is not None
    assert subscription._nc.requests == [
        (subscription._nms, {"batch": 5, "expires": 0}, subscription._deliver)
    ]
    assert _numbers(subscription._sub.replies) == [3]  # left for the next fetch


async def test_a_full_pull_ends_without_waiting_for_the_servers_word() -> None:
    subscription = PullSubscription([_event(1), _event(2), _status("408")])
    taken, _ = await pull_within(subscription, 2, 0.5)  # type: ignore[arg-type]
    assert _numbers(taken) == [1, 2]
    assert subscription._sub.read == 2  # the server sends no end for a filled pull


async def test_an_earlier_pulls_end_and_heartbeats_do_not_end_this_one() -> None:
    """A 404 (a `no_wait` pull's end: never this pull's) and a 408 before this pull can
    have expired are an earlier fetch's, arriving late; a heartbeat is no end either. The
    pull is read on to its own end, so it never outlives the call."""
    replies = [_status("404"), _status("408"), _event(1), _status("100"), _event(2)]
    subscription = PullSubscription([*replies, _status("409"), _event(3)])
    taken, _ = await pull_within(subscription, 5, 0.9)  # type: ignore[arg-type]
    assert _numbers(taken) == [1, 2]
    assert _numbers(subscription._sub.replies) == [3]


async def test_no_word_from_the_server_returns_what_was_taken() -> None:
    subscription = PullSubscription([_event(1)])  # then nothing: NATS went away
    taken, _ = await pull_within(subscription, 5, 0.01)  # type: ignore[arg-type]
    assert _numbers(taken) == [1]
    assert await pull_within(PullSubscription([]), 5, 0.01) == ([], None)  # type: ignore[arg-type]
    closed = PullSubscription([_event(2)])

    async def refused(*_: Any) -> None:
        raise ConnectionClosedError

    closed._nc.publish = refused  # type: ignore[method-assign]
    assert await pull_within(closed, 5, 0.01) == ([], None)  # type: ignore[arg-type]


def test_a_window_is_a_short_bound() -> None:
    for window in (0.0, -0.1, 1.0, 3.0):
        with pytest.raises(ValueError, match="short bound"):
            Gathering(window)
    gathering = Gathering(0.02)
    assert isinstance(gathering.turn, asyncio.Lock) and not gathering.turn.locked()


class Fetching:
    """A pull subscription whose `fetch` hands out what is waiting, as the server would."""

    def __init__(self, waiting: list[Msg], arriving: list[Msg]) -> None:
        self.waiting = waiting
        self.fetches: list[int] = []
        self._sub = Inbox([*arriving, _status("408")])
        self._nc = Connection()
        self._nms = "$JS.API.CONSUMER.MSG.NEXT.stream.durable"
        self._deliver = "_INBOX.puller"

    async def fetch(self, batch: int, timeout: float) -> list[Msg]:
        self.fetches.append(batch)
        taken, self.waiting = self.waiting[:batch], self.waiting[batch:]
        return taken


async def _take(subscription: Fetching, gathering: Gathering | None) -> list[Msg]:
    async def handle(_: Any) -> None: ...

    async def together(_: list[Any]) -> None: ...

    consumer = EventConsumer(
        js=None,  # type: ignore[arg-type]
        db=None,  # type: ignore[arg-type]
        service="test",
        durable="gathering",
        stream="TEST",
        subjects=["crm.x.>"],
        handler=handle,
        record_processed=False,
        batch_handler=together,
        batch=1,
        gather=4,
        gathering=gathering,
    )
    consumer._subscription = subscription  # type: ignore[assignment]
    return await consumer._take()


async def test_a_fetch_short_of_the_batch_gathers_the_rest_while_events_come_fast() -> None:
    """The first fetch after a quiet spell takes what was waiting (no earlier event came
    within the window); the next, right behind it, gathers up to the batch."""
    gathering = Gathering(0.5)
    first = Fetching([_event(1)], [_event(9)])
    assert _numbers(await _take(first, gathering)) == [1]
    assert first._nc.requests == []  # nothing came within the window before it
    second = Fetching([_event(2)], [_event(3), _event(4), _event(5), _event(6)])
    taken = await _take(second, gathering)
    assert _numbers(taken) == [2, 3, 4, 5]  # up to the batch (gather): 4
    assert [request["batch"] for _, request, _ in second._nc.requests] == [3]
    assert not gathering.turn.locked()  # the next puller's turn


async def test_a_full_fetch_or_no_gathering_takes_what_was_waiting_only() -> None:
    gathering = Gathering(0.5)
    gathering.last = time.monotonic()  # events came just now: it would gather
    full = Fetching([_event(n) for n in range(6)], [_event(9)])
    assert _numbers(await _take(full, gathering)) == [0, 1, 2, 3]
    assert full._nc.requests == []  # a backlog: no window
    alone = Fetching([_event(1)], [_event(2)])
    assert _numbers(await _take(alone, None)) == [1]
    assert alone._nc.requests == []
