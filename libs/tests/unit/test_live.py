"""The live hub without NATS: fan-out by workspace, resume from recent events, a slow
subscriber cut off, positions that cannot be resumed from, shared reads per event."""

from __future__ import annotations

import asyncio
import contextlib

import orjson
import pytest

from crm_contracts.streams import stream_for
from crm_kit.context import RequestContext
from crm_kit.live import LiveEvent, LiveHub, LiveSession, ResumeFailed, SlowSubscriber
from crm_kit.sse import SSEParser, heartbeat, next_event


def _event(
    position: int, workspace: str = "w1", kind: str = "crm.deals.deal.created.v1"
) -> LiveEvent:
    return LiveEvent(position, kind, workspace, f"d{position}", f"e{position}", {"n": position})


def _session(hub: LiveHub, workspace: str = "w1", resume_after: int | None = None) -> LiveSession:
    return LiveSession(hub, RequestContext(workspace, "ann", frozenset({"rep"})), resume_after)


async def _take(session: LiveSession, n: int, types: list[str] | None = None) -> list[int]:
    got: list[int] = []
    async with contextlib.aclosing(session.events(types)) as events:
        async for event in events:
            got.append(event.position)
            if len(got) == n:
                break
    return got


async def test_events_reach_only_their_workspaces_subscribers() -> None:
    hub = LiveHub(None, stream_for("deals"))
    mine, theirs = _session(hub, "w1"), _session(hub, "w2")
    reading = asyncio.ensure_future(_take(mine, 2))
    other = asyncio.ensure_future(_take(theirs, 1))
    await asyncio.sleep(0)
    for position, workspace in ((1, "w1"), (2, "w2"), (3, "w1")):
        hub.deliver(_event(position, workspace))
    assert await reading == [1, 3]
    assert await other == [2]
    assert hub.subscribers == 0  # both let go when they stopped reading


async def test_a_resume_replays_what_came_after_the_position_once() -> None:
    hub = LiveHub(None, stream_for("deals"))
    for position in range(1, 6):
        hub.deliver(_event(position, "w1" if position != 4 else "w2"))
    session = _session(hub, resume_after=2)
    reading = asyncio.ensure_future(_take(session, 3))
    await asyncio.sleep(0)
    hub.deliver(_event(6))
    assert await reading == [3, 5, 6]
    assert session.position is not None and session.position >= 5


async def test_types_filter_and_the_position_still_advances() -> None:
    hub = LiveHub(None, stream_for("deals"))
    session = _session(hub)
    reading = asyncio.ensure_future(_take(session, 1, ["crm.deals.deal.won.v1"]))
    await asyncio.sleep(0)
    hub.deliver(_event(1))
    hub.deliver(_event(2, kind="crm.deals.deal.won.v1"))
    assert await reading == [2]


async def test_a_slow_subscriber_is_cut_off_instead_of_growing() -> None:
    hub = LiveHub(None, stream_for("deals"), queue_size=3)
    session = _session(hub)
    events = session.events()
    first = asyncio.ensure_future(anext(events))
    await asyncio.sleep(0)
    for position in range(1, 6):
        hub.deliver(_event(position))
    # The fourth waiting event overflowed the queue: dropped, and the subscription ends
    # (its client resumes from its last position).
    with pytest.raises(SlowSubscriber):
        await first
    assert hub.subscribers == 0


def test_positions_that_cannot_be_resumed_from_are_refused() -> None:
    hub = LiveHub(None, stream_for("deals"), ring_size=2)
    for position in range(1, 6):
        hub.deliver(_event(position))
    with pytest.raises(ResumeFailed):
        hub.attach("w1", 99)  # ahead of the stream
    attachment = hub.attach("w1", 1)  # older than memory: read back from the stream
    assert attachment.catch_up == (2, 3)
    assert [e.position for e in attachment.replay] == [4, 5]


async def test_a_shared_read_runs_once_per_event() -> None:
    event = _event(1)
    calls = 0

    async def load() -> str:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0)
        return "deal"

    found = await asyncio.gather(*(event.shared(("deal", 1), load) for _ in range(50)))
    assert found == ["deal"] * 50 and calls == 1


def test_sse_blocks_round_trip_through_the_parser() -> None:
    parser = SSEParser()
    raw = next_event({"data": {"x": 1}}, 7) + heartbeat(8) + b"event: complete\r\ndata: \r\n\r\n"
    events = parser.feed(raw[:5]) + parser.feed(raw[5:])
    assert [(e.event, e.id) for e in events] == [("next", "7"), (None, "8"), ("complete", None)]
    assert events[0].json() == {"data": {"x": 1}}
    assert orjson.loads(events[0].data) == {"data": {"x": 1}}
