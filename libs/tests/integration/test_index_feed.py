"""The read index's event feed on a real NATS JetStream: events published after `start`
re-read the documents they name (coalesced, in any order), events published before the
subscription are not replayed (the first scan covers them), and `stop` unsubscribes."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest
from nats.js.errors import NotFoundError

from crm_contracts.envelope import HEADER_MSG_ID, HEADER_WORKSPACE, new_event
from crm_contracts.streams import StreamSpec
from crm_kit.index_entries import Entries
from crm_kit.index_feed import IndexFeed
from crm_kit.nats_io import ensure_stream
from crm_kit.read_index import ReadIndex
from crm_kit.testing import eventually

pytestmark = pytest.mark.integration

STREAM = StreamSpec(name="KIT_INDEX_FEED", subjects=("kitfeed.>",))


class Item:
    __slots__ = ("id", "n")

    def __init__(self, doc_id: str, n: int) -> None:
        self.id, self.n = doc_id, n

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Item) and (other.id, other.n) == (self.id, self.n)


async def test_feed_refreshes_the_documents_events_name(infra: Any) -> None:
    nc = await infra.connect_nats()
    js = nc.jetstream()
    with contextlib.suppress(NotFoundError):
        await js.delete_stream(STREAM.name)
    await ensure_stream(js, STREAM)
    docs: dict[str, int] = {"a": 1, "b": 1}
    reads: list[str] = []

    async def scan(workspace: str) -> AsyncIterator[dict[str, Any]]:
        for doc_id, n in list(docs.items()):
            yield {"_id": doc_id, "n": n}

    async def read(workspace: str, doc_id: str) -> dict[str, Any] | None:
        reads.append(doc_id)
        return {"_id": doc_id, "n": docs[doc_id]} if doc_id in docs else None

    index: ReadIndex[Item, Entries[Item]] = ReadIndex(
        scan=scan,
        read=read,
        entry_of=lambda doc: Item(doc["_id"], doc["n"]),
        new_entries=Entries,
        live=False,
    )

    async def publish(doc_id: str, n: int) -> None:
        event = new_event(
            event_type="kitfeed.item.updated.v1",
            source="crm/kit",
            workspace="w1",
            subject=doc_id,
            data={"n": n},
        )
        headers = {HEADER_MSG_ID: event.id, HEADER_WORKSPACE: "w1"}
        await js.publish(event.type, event.to_json(), headers=headers)

    await publish("a", 0)  # before the subscription: not replayed (DeliverPolicy.NEW)
    feed = IndexFeed(
        index, nc, js, subjects=["kitfeed.item.>"], stream=STREAM.name, rebuild_seconds=3600
    )
    await feed.start()
    assert index.live
    refresher = asyncio.ensure_future(feed.run_refresher())
    try:
        data = await index.entries("w1")
        assert data is not None and len(data) == 2
        docs["a"], docs["c"] = 2, 1
        del docs["b"]
        for doc_id in ("a", "b", "c", "a"):
            await publish(doc_id, 0)

        async def applied() -> bool:
            return (
                feed.received >= 4
                and feed.idle
                and data.get("a") == Item("a", 2)
                and data.get("b") is None
                and data.get("c") == Item("c", 1)
            )

        await eventually(applied, timeout=10)
        assert feed.received == 4  # the event published before `start` never arrived
        assert reads.count("c") == 1
    finally:
        refresher.cancel()
        await asyncio.gather(refresher, return_exceptions=True)
        await feed.stop()
    assert index.closed
    await publish("a", 0)
    await asyncio.sleep(0.2)
    assert feed.received == 4  # unsubscribed
    await js.delete_stream(STREAM.name)
    await nc.close()
