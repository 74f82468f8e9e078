"""Snapshots of settled days (two days before today and older) are read once per process,
present or absent; younger days are read every time, so a snapshot taken today shows."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from crm_deals.domain.records import ForecastSnapshot
from crm_deals.events.publish import encode
from crm_deals.store.memory import memory_store
from crm_deals.store.store import WorkspaceRecordStore
from crm_kit.memory_db import MemoryDatabase

TODAY = date(2026, 3, 10)
SETTLED = TODAY - timedelta(days=2)


def snapshot(day: date) -> ForecastSnapshot:
    return ForecastSnapshot(
        workspace_id="w1",
        pipeline_id="p1",
        day=day,
        taken_at=None,  # type: ignore[arg-type]
        taken_by="job",
        currency="USD",
        months=[],
    )


async def test_settled_days_are_read_once_and_younger_ones_every_time() -> None:
    db = MemoryDatabase(encode=encode)
    store = memory_store(db).for_workspace("w1")
    assert isinstance(store, WorkspaceRecordStore)
    reads: list[list[str]] = []
    real = store.snapshots.get

    async def counted(ids: Any) -> Any:
        reads.append(list(ids))
        return await real(ids)

    store.snapshots.get = counted  # type: ignore[method-assign]
    old, absent, young = TODAY - timedelta(days=5), TODAY - timedelta(days=4), TODAY
    await store.put_snapshot(snapshot(old))
    days = [old, absent, young]
    assert set(await store.get_snapshots("p1", days, settled_before=SETTLED)) == {old}
    assert len(reads) == 1 and len(reads[0]) == 3
    await store.put_snapshot(snapshot(young))  # taken today, after the first read
    assert set(await store.get_snapshots("p1", days, settled_before=SETTLED)) == {old, young}
    assert len(reads[1]) == 1  # only today's day read again
    # A caller naming no settled day still gets the kept ones without a read.
    assert set(await store.get_snapshots("p1", days)) == {old, young}
    assert reads[2] == [reads[1][0]]
    # Another workspace's store shares the process's memory, not its snapshots.
    other = memory_store(db).for_workspace("w2")
    assert await other.get_snapshots("p1", days, settled_before=SETTLED) == {}
