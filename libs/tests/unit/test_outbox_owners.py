"""A document carrying the events of several records (a deal's task list carries its
tasks'): the relay publishes the records side by side, each record's events in order; a
document whose events are one record's, or name none, goes out in order, one at a time."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

from crm_contracts.envelope import new_event
from crm_kit.memory_db import MemoryDatabase
from crm_kit.outbox import OUTBOX, OutboxRelay, _owners, outbox_fields


class SlowStream:
    """JetStream's publish as the relay sees it: each ack a round trip (a few loop turns)."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.in_flight = 0
        self.most_in_flight = 0

    async def publish(self, subject: str, body: bytes, headers: dict[str, str]) -> Any:
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        for _ in range(3):
            await asyncio.sleep(0)
        self.in_flight -= 1
        self.sent.append(headers["Nats-Msg-Id"])
        return SimpleNamespace(duplicate=False)


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
    assert stream.most_in_flight == 3  # one publish of each record at a time


async def test_one_records_events_or_events_naming_none_go_one_at_a_time_in_order() -> None:
    for events in (
        [("a1", "task-a"), ("a2", "task-a"), ("a3", "task-a")],
        [("a1", "task-a"), ("x1", None), ("b1", "task-b")],
    ):
        stream = await _published(events)
        assert stream.sent == [event_id for event_id, _ in events]
        assert stream.most_in_flight == 1
