"""A batch handled together whose acknowledgements fail (NATS went away right after the
handler) leaves those events to be redelivered and keeps the consumer running: raised, the
failure ended the consumer's task for good (the chaos suite's webhooks intake stopped
after a NATS restart)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from crm_contracts.envelope import CloudEvent, new_event, source_of
from crm_kit.consumer import EventConsumer
from crm_kit.nats_io import ReplyLost


@dataclass
class _Message:
    subject: str
    data: bytes
    acked: bool = False
    fail: bool = False
    headers: dict[str, str] | None = None

    async def ack(self) -> None:  # a plain ack: all but a fetch's last
        if self.fail:
            raise ConnectionError("nats: connection closed")
        self.acked = True

    async def ack_sync(self) -> None:  # the last of a fetch
        if self.fail:
            raise ReplyLost()
        self.acked = True


async def test_a_batch_whose_acks_fail_is_left_for_redelivery() -> None:
    taken: list[list[str]] = []

    async def together(events: list[CloudEvent]) -> None:
        taken.append([event.id for event in events])

    async def alone(event: CloudEvent) -> None:
        raise AssertionError("the batch went through together")

    consumer = EventConsumer(
        js=Any,  # type: ignore[arg-type]
        db=Any,  # type: ignore[arg-type]
        service="test",
        durable="test-batch",
        stream="CRM_DEALS",
        subjects=["crm.deals.>"],
        handler=alone,
        record_processed=False,
        batch_handler=together,
    )
    events = [
        new_event(
            event_type="crm.deals.deal.created.v1",
            source=source_of("deals"),
            workspace="w1",
            data={"n": n},
        )
        for n in range(3)
    ]
    messages = [_Message(e.type, e.to_json(), fail=n == 1) for n, e in enumerate(events)]
    assert await consumer._handle_together(messages)  # type: ignore[arg-type]
    assert taken == [[e.id for e in events]]
    assert [m.acked for m in messages] == [True, False, True]
    # The last one's (waited-for) ack failing too: the others are acknowledged all the same.
    again = [_Message(e.type, e.to_json(), fail=n == 2) for n, e in enumerate(events)]
    assert await consumer._handle_together(again)  # type: ignore[arg-type]
    assert [m.acked for m in again] == [True, True, False]
    assert consumer.handled == 6
