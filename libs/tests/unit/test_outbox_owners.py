"""A document carrying the events of several records (a deal's task list carries its
tasks'): the relay publishes the records side by side (in waves of asynchronous publishes,
acks awaited together), each record's events in order, a wave whose ack fails ending the
pass; a
document whose events are one record's, or name none, goes out in order, one at a time."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from types import SimpleNamespace
from typing import Any

import pytest

from crm_contracts.envelope import new_event
from crm_kit import outbox
from crm_kit.memory_db import MemoryDatabase
from crm_kit.outbox import OUTBOX, OutboxRelay, _owners, outbox_fields
from crm_kit.wave_acks import AckRefused


class SlowStream:
    """JetStream as the relay sees it: a publish whose ack is a round trip (a few loop
    turns), one at a time (`publish`) or in waves through the client (`_nc`: core
    publishes whose acks come to the reply subject's subscription)."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.in_flight = 0
        self.most_in_flight = 0
        self._acks: set[asyncio.Future[None]] = set()
        self._nc = self
        self._subscribers: dict[str, Callable[[Any], Awaitable[None]]] = {}

    async def publish(
        self,
        subject: str,
        body: bytes = b"",
        reply: str = "",
        headers: dict[str, str] | None = None,
    ) -> Any:
        assert headers is not None
        if reply:
            return self._send(reply, headers["Nats-Msg-Id"])
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        for _ in range(3):
            await asyncio.sleep(0)
        self.in_flight -= 1
        self.sent.append(headers["Nats-Msg-Id"])
        return SimpleNamespace(duplicate=False)

    def new_inbox(self) -> str:
        return "_INBOX.test"

    async def subscribe(self, subject: str, *, cb: Callable[[Any], Awaitable[None]]) -> Any:
        assert subject.endswith(".*")
        self._subscribers[subject[:-2]] = cb

    def ack_body(self, event_id: str) -> bytes:
        return b'{"stream":"CRM","seq":1}'

    def _send(self, reply: str, event_id: str) -> None:
        """Sent now (the stream's order is the order of the sends), acked a round trip
        later on the reply subject."""
        self.sent.append(event_id)
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        deliver = self._subscribers[reply.rsplit(".", 1)[0]]

        async def acked() -> None:
            for _ in range(3):
                await asyncio.sleep(0)
            self.in_flight -= 1
            body = self.ack_body(event_id)
            if body:
                await deliver(SimpleNamespace(subject=reply, data=body, headers=None))

        self._acks.add(asyncio.ensure_future(acked()))


def _stored(events: list[tuple[str, str | None]]) -> list[dict[str, Any]]:
    made = [
        new_event(
            event_type="crm.tasks.task.created.v1",
            source="crm/tasks",
            workspace="w1",
            data={},
            subject=owner,
            event_id=event_id,
        )
        for event_id, owner in events
    ]
    return list(outbox_fields(made)[OUTBOX])


async def _published(events: list[tuple[str, str | None]]) -> SlowStream:
    stream = SlowStream()
    relay = OutboxRelay(MemoryDatabase(), [], stream)  # type: ignore[arg-type]
    stored = _stored(events)
    await relay._publish_all(stored, _owners(stored))
    return stream


async def test_the_records_of_one_document_go_side_by_side_each_in_order() -> None:
    stream = await _published(
        [("a1", "task-a"), ("b1", "task-b"), ("a2", "task-a"), ("c1", "note-c"), ("a3", "task-a")]
    )
    assert sorted(stream.sent) == ["a1", "a2", "a3", "b1", "c1"]
    mine = [event_id for event_id in stream.sent if event_id.startswith("a")]
    assert mine == ["a1", "a2", "a3"]
    # Waves: the first event of each record together, then the next: one of each record
    # in flight at a time.
    assert stream.most_in_flight == 3
    assert stream.sent[:3] == ["a1", "b1", "c1"] and stream.sent[3:] == ["a2", "a3"]


async def test_one_records_events_or_events_naming_none_go_one_at_a_time_in_order() -> None:
    for events in (
        [("a1", "task-a"), ("a2", "task-a"), ("a3", "task-a")],
        [("a1", "task-a"), ("x1", None), ("b1", "task-b")],
    ):
        stream = await _published(events)
        assert stream.sent == [event_id for event_id, _ in events]
        assert stream.most_in_flight == 1


class FailingAcks(SlowStream):
    """Every publish of one event is refused by the stream (its ack an error)."""

    def __init__(self, refused: str) -> None:
        super().__init__()
        self.refused = refused

    def ack_body(self, event_id: str) -> bytes:
        if event_id != self.refused:
            return super().ack_body(event_id)
        return b'{"error":{"code":503,"err_code":10077,"description":"stream unavailable"}}'


async def test_a_wave_whose_ack_fails_ends_the_pass_before_the_next_wave() -> None:
    """b1 is refused: the rest of its wave went out, but no record's second event does
    (a2 would otherwise reach the stream while b1's fate is unknown), and the pass fails
    for the document to stay pending."""
    stream = FailingAcks("b1")
    relay = OutboxRelay(MemoryDatabase(), [], stream)  # type: ignore[arg-type]
    stored = _stored([("a1", "task-a"), ("b1", "task-b"), ("a2", "task-a")])
    with pytest.raises(AckRefused, match="stream unavailable"):
        await relay._publish_all(stored, _owners(stored))
    assert stream.sent == ["a1", "b1"]


class SilentStream(SlowStream):
    """A stream that never acks (NATS gone after the sends)."""

    def ack_body(self, event_id: str) -> bytes:
        return b""


async def test_a_wave_whose_acks_never_come_fails_the_pass_and_gives_them_up(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(outbox, "_ACK_SECONDS", 0.05)
    stream = SilentStream()
    relay = OutboxRelay(MemoryDatabase(), [], stream)  # type: ignore[arg-type]
    stored = _stored([("a1", "task-a"), ("b1", "task-b"), ("a2", "task-a")])
    with pytest.raises(TimeoutError):
        await relay._publish_all(stored, _owners(stored))
    assert stream.sent == ["a1", "b1"]  # the second wave never started
    # Given up: the wave is forgotten, an ack that comes late changes nothing.
    assert not relay._acks._waves
    late = SimpleNamespace(subject="_INBOX.test.1-0", data=b'{"seq":1}', headers=None)
    await relay._acks._on_ack(late)
    assert not relay._acks._waves
