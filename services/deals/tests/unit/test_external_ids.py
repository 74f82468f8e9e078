"""The `ferretdb` profile's external ids of an import (`crm_kit.held_keys.HeldKeys`, which
the contacts service's import keys share): loaded by a scan the first time,
kept by this process's writes, scanned again in the background once old (the batches go
on with what is held meanwhile), and still served when that scan fails."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from crm_deals.domain.deal import Deal
from crm_deals.store.mongo import ExternalIds
from crm_kit.writer import Written


class Deals:
    """A deals collection whose scans can be held at their start, or fail."""

    def __init__(self) -> None:
        self.docs: list[dict[str, Any]] = []
        self.scans = 0
        self.gate: asyncio.Event | None = None
        self.failing = False

    def find(self, query: dict[str, Any], projection: Any, batch_size: int) -> AsyncIterator[Any]:
        self.scans += 1
        return self._scan(query["workspace_id"])

    async def _scan(self, workspace: str) -> AsyncIterator[dict[str, Any]]:
        if self.gate is not None:
            await self.gate.wait()
        if self.failing:
            raise ConnectionError("database away")
        for doc in list(self.docs):
            if doc["workspace_id"] == workspace:
                yield doc


def _written(deal_id: str, external_id: str) -> Written:
    deal = Deal.__new__(Deal)
    deal.id, deal.external_id = deal_id, external_id
    return Written("deals", deal_id, "w1", record=deal, kind="insert")


@pytest.fixture
def deals() -> Deals:
    return Deals()


async def test_an_old_map_is_scanned_again_while_batches_go_on(
    deals: Deals, monkeypatch: pytest.MonkeyPatch
) -> None:
    deals.docs.append({"_id": "d1", "workspace_id": "w1", "external_id": "E1"})
    ids = ExternalIds({"deals": deals})
    assert await ids.owners("w1", ["E1", "E2"]) == {"E1": "d1"}
    deals.docs.append({"_id": "d2", "workspace_id": "w1", "external_id": "E2"})
    await ids.on_write(_written("d2", "E2"))  # this process's own import
    deals.docs.append({"_id": "d3", "workspace_id": "w1", "external_id": "E3"})  # another's
    assert await ids.owners("w1", ["E2", "E3"]) == {"E2": "d2"} and deals.scans == 1

    monkeypatch.setattr(ids._held, "max_age", -1.0)
    deals.gate = asyncio.Event()
    # Old: answered at once from what is held, the scan runs meanwhile (held at its start).
    assert await ids.owners("w1", ["E2", "E3"]) == {"E2": "d2"}
    await asyncio.sleep(0)  # the scan starts, and waits at the gate
    assert await ids.owners("w1", ["E3"]) == {} and deals.scans == 2  # one scan at a time
    # Written during the scan, after it read past where it lies: kept from the write.
    await ids.on_write(_written("d4", "E4"))
    deals.gate.set()
    await asyncio.gather(*ids._held._tasks)
    monkeypatch.setattr(ids._held, "max_age", 300.0)
    assert await ids.owners("w1", ["E1", "E2", "E3", "E4"]) == {
        "E1": "d1", "E2": "d2", "E3": "d3", "E4": "d4",
    }  # fmt: skip


async def test_a_failed_scan_again_leaves_the_held_ids_serving(
    deals: Deals, monkeypatch: pytest.MonkeyPatch
) -> None:
    deals.docs.append({"_id": "d1", "workspace_id": "w1", "external_id": "E1"})
    ids = ExternalIds({"deals": deals})
    assert await ids.owners("w1", ["E1"]) == {"E1": "d1"}
    monkeypatch.setattr(ids._held, "max_age", -1.0)
    deals.failing = True
    assert await ids.owners("w1", ["E1"]) == {"E1": "d1"}
    await asyncio.gather(*ids._held._tasks)
    assert await ids.owners("w1", ["E1"]) == {"E1": "d1"}
    await asyncio.gather(*ids._held._tasks)
    assert deals.scans == 3  # each old ask tries again
