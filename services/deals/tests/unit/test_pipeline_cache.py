"""The pipeline cache's rules with a journal stand-in: look-ups at once share one probe
that began after each of them, a pipeline another process changed is read again, a read
that raced a change is not kept, and a probe vouches for what is held for its window (which
every save waits out)."""

from __future__ import annotations

import asyncio

from crm_deals.config import PIPELINES
from crm_deals.domain.pipeline import Pipeline, Stage
from crm_deals.store.pipeline_cache import PipelineCache
from crm_kit.change_log import Change
from crm_kit.writer import Written


class Journal:
    """`tail` and `since` over changes appended by the test (another process's)."""

    def __init__(self) -> None:
        self.changes: list[Change] = []
        self.probes = 0

    def append(self, doc_id: str) -> None:
        self.changes.append(Change(len(self.changes) + 1, "w1", doc_id))

    async def tail(self) -> int:
        self.probes += 1
        return len(self.changes)

    async def since(self, cursor: int) -> tuple[int, list[Change]]:
        self.probes += 1
        await asyncio.sleep(0)
        return len(self.changes), self.changes[cursor:]


def pipeline(version: int) -> Pipeline:
    stage = Stage(key="s", name="S", probability=10, forecast_category="pipeline")
    return Pipeline("p1", "w1", "Sales", version, (stage,))


async def test_concurrent_look_ups_share_a_probe_and_changes_are_read_again() -> None:
    journal = Journal()
    # No window: every look-up wants a probe begun after it (shared by those waiting).
    cache = PipelineCache(journal, trusted_seconds=0)  # type: ignore[arg-type]
    stored = {"p1": pipeline(1)}
    reads: list[str] = []

    async def read(pipeline_id: str) -> Pipeline | None:
        reads.append(pipeline_id)
        return stored.get(pipeline_id)

    assert (await cache.get("w1", "p1", read)).version == 1  # type: ignore[union-attr]
    assert (await cache.get("w1", "p1", read)).version == 1  # type: ignore[union-attr]
    assert len(reads) == 1
    probes = journal.probes
    found = await asyncio.gather(*(cache.get("w1", "p1", read) for _ in range(10)))
    assert {p.version for p in found if p} == {1} and len(reads) == 1
    assert journal.probes - probes <= 2  # shared, not one each
    stored["p1"] = pipeline(2)
    journal.append("p1")  # another process saved it
    assert (await cache.get("w1", "p1", read)).version == 2  # type: ignore[union-attr]
    assert len(reads) == 2
    assert await cache.get("w1", "nope", read) is None


async def test_a_read_that_raced_a_change_is_not_kept() -> None:
    journal = Journal()
    cache = PipelineCache(journal, trusted_seconds=0)  # type: ignore[arg-type]
    release = asyncio.Event()
    reading = asyncio.Event()

    async def slow_old_read(pipeline_id: str) -> Pipeline | None:
        reading.set()
        await release.wait()
        return pipeline(1)  # what the database held when this read began

    await cache.catch_up()
    racing = asyncio.create_task(cache.get("w1", "p1", slow_old_read))
    await reading.wait()
    # This process saves version 2 while the read is under way.
    await cache.on_write(Written(PIPELINES, "p1", "w1"))
    release.set()
    assert (await racing).version == 1  # type: ignore[union-attr]

    async def read(pipeline_id: str) -> Pipeline | None:
        return pipeline(2)

    assert (await cache.get("w1", "p1", read)).version == 2  # type: ignore[union-attr]


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def test_a_recent_probe_vouches_for_what_is_held_until_its_window_ends() -> None:
    journal = Journal()
    clock = Clock()
    cache = PipelineCache(journal, trusted_seconds=0.1, clock=clock)  # type: ignore[arg-type]
    stored = {"p1": pipeline(1)}

    async def read(pipeline_id: str) -> Pipeline | None:
        return stored.get(pipeline_id)

    assert (await cache.get("w1", "p1", read)).version == 1  # type: ignore[union-attr]
    probes = journal.probes
    clock.now += 0.05
    for _ in range(5):  # within the window of the probe that began at 100.0
        assert (await cache.get("w1", "p1", read)).version == 1  # type: ignore[union-attr]
    assert journal.probes == probes and cache.trusted == 5
    # Another process saves version 2; its save returns only after the window (`settle`),
    # so a look-up made after that return is past the window and probes.
    stored["p1"] = pipeline(2)
    journal.append("p1")
    clock.now += 0.1
    assert (await cache.get("w1", "p1", read)).version == 2  # type: ignore[union-attr]
    assert journal.probes == probes + 1


async def test_a_save_waits_out_the_window_before_it_returns() -> None:
    cache = PipelineCache(Journal(), trusted_seconds=0.05)  # type: ignore[arg-type]
    loop = asyncio.get_running_loop()
    started = loop.time()
    await cache.settle()
    assert loop.time() - started >= 0.05


async def test_a_read_begun_after_this_process_saved_is_kept_without_a_new_probe() -> None:
    journal = Journal()
    clock = Clock()
    cache = PipelineCache(journal, trusted_seconds=0.1, clock=clock)  # type: ignore[arg-type]
    reads: list[str] = []

    async def read(pipeline_id: str) -> Pipeline | None:
        reads.append(pipeline_id)
        return pipeline(2)

    await cache.catch_up()
    await cache.on_write(Written(PIPELINES, "p1", "w1"))  # this process saved it
    assert (await cache.get("w1", "p1", read)).version == 2  # type: ignore[union-attr]
    assert (await cache.get("w1", "p1", read)).version == 2  # type: ignore[union-attr]
    assert reads == ["p1"]  # the read after the save was kept, within the window
