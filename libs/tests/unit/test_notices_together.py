"""`DocumentWriter.notices_together`: the relay hears of the writes made inside a block
(by the task and the tasks it starts) once the block ends, each document once with the
state its newest write left; a newer notice outside the block goes at once and replaces
the held one; a task that outlives the block notifies at once. The same through FerretDB
and the relay: services/tasks/tests/integration (a batch's deal lists in one pass)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import pytest

from crm_kit.profile import FERRETDB
from crm_kit.writer import DocumentWriter


class Relay:
    def __init__(self) -> None:
        self.heard: list[tuple[str, Any, Mapping[str, Any] | None]] = []

    def notify(self, collection: str, doc_id: Any, held: Mapping[str, Any] | None = None) -> None:
        self.heard.append((collection, doc_id, held))


def _writer(relay: Relay) -> DocumentWriter:
    # No statement is made here: only the notices are under test.
    return DocumentWriter(None, profile=FERRETDB, outbox_collections=["lists"], wake=relay.notify)  # type: ignore[arg-type]


async def test_writes_side_by_side_are_heard_together_at_the_end_newest_state_once() -> None:
    relay = Relay()
    writer = _writer(relay)

    async def write(doc_id: str, n: int) -> None:
        await asyncio.sleep(0)
        writer.wake("lists", doc_id, {"n": n})

    with writer.notices_together():
        await asyncio.gather(write("a", 1), write("b", 1), write("a", 2))
        assert relay.heard == []  # nothing before the block ends
    assert relay.heard == [("lists", "a", {"n": 2}), ("lists", "b", {"n": 1})]


async def test_the_notices_go_when_the_block_fails() -> None:
    relay = Relay()
    writer = _writer(relay)
    with pytest.raises(RuntimeError), writer.notices_together():
        writer.wake("lists", "a", {"n": 1})
        writer.wake("lists", "b")  # a write that raised: the relay reads the document
        raise RuntimeError("the third list's write failed")
    assert relay.heard == [("lists", "a", {"n": 1}), ("lists", "b", None)]


async def test_a_newer_notice_outside_the_block_goes_at_once_and_the_held_one_never() -> None:
    relay = Relay()
    writer = _writer(relay)
    inside = asyncio.Event()
    outside_done = asyncio.Event()

    async def batch() -> None:
        with writer.notices_together():
            writer.wake("lists", "a", {"n": 1})
            inside.set()
            await outside_done.wait()

    async def other_write() -> None:
        await inside.wait()
        writer.wake("lists", "a", {"n": 2})  # a later write of the same document
        outside_done.set()

    await asyncio.gather(batch(), other_write())
    assert relay.heard == [("lists", "a", {"n": 2})]


async def test_a_task_outliving_the_block_and_another_writer_notify_at_once() -> None:
    relay = Relay()
    writer = _writer(relay)
    other_relay = Relay()
    other = _writer(other_relay)
    later = asyncio.Event()

    async def lingering() -> None:
        await later.wait()
        writer.wake("lists", "late", {"n": 1})

    with writer.notices_together():
        task = asyncio.create_task(lingering())
        other.wake("lists", "x", {"n": 1})  # another writer's (another store's) notice
        assert other_relay.heard == [("lists", "x", {"n": 1})]
    assert relay.heard == []
    later.set()
    await task
    assert relay.heard == [("lists", "late", {"n": 1})]
