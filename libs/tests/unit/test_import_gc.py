"""`crm_kit.import_gc`: while import batches run the young generation is collected less
often; the process's thresholds come back once the batches have ended and stayed ended."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Iterator

import pytest

from crm_kit import import_gc
from crm_kit.import_gc import fewer_collections


@pytest.fixture(autouse=True)
def thresholds(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    before = gc.get_threshold()
    monkeypatch.setattr(import_gc, "SETTLE_SECONDS", 0.05)
    gc.set_threshold(700, 10, 10)
    yield
    gc.set_threshold(*before)


async def _restored() -> None:
    for _ in range(200):
        if gc.get_threshold() == (700, 10, 10):
            return
        await asyncio.sleep(0.01)


async def test_batches_raise_the_young_threshold_until_they_have_settled() -> None:
    gate = asyncio.Event()

    async def batch() -> None:
        with fewer_collections(50_000):
            await gate.wait()

    first = asyncio.create_task(batch())
    second = asyncio.create_task(batch())
    await asyncio.sleep(0)
    assert gc.get_threshold() == (50_000, 10, 10)  # the older generations' as they were
    gate.set()
    await asyncio.gather(first, second)
    # Between two batches of a job: still raised (no flapping back and forth).
    assert gc.get_threshold() == (50_000, 10, 10)
    with fewer_collections(50_000):
        assert gc.get_threshold() == (50_000, 10, 10)
    await _restored()
    assert gc.get_threshold() == (700, 10, 10)
    assert import_gc._STATE.saved is None and import_gc._STATE.running == 0


async def test_a_failed_batch_ends_its_turn_and_a_higher_threshold_is_kept() -> None:
    gc.set_threshold(200_000, 10, 10)
    with pytest.raises(RuntimeError), fewer_collections(50_000):
        assert gc.get_threshold() == (200_000, 10, 10)  # never lowered
        raise RuntimeError("the batch failed")
    assert import_gc._STATE.running == 0
    for _ in range(200):
        if import_gc._STATE.saved is None:
            break
        await asyncio.sleep(0.01)
    assert gc.get_threshold() == (200_000, 10, 10)
