"""Batches in flight together: several are sent before the first is acknowledged, the
checkpoint passes a batch only once it and every batch before it are acknowledged (in file
order, whatever order the owner answers in), a runner stopped with batches in flight
leaves the checkpoint where a resumed run re-sends them without doubling a record, and a
batch repeating an earlier row's identity key waits for the batches before it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from crm_contracts.import_batches import ImportBatchReply, ImportBatchRequest
from crm_imports.config import RunSettings
from crm_imports.domain.job import COMPLETED, FAILED, RUNNING
from crm_imports.store.port import SinkRefused
from crm_imports.usecases import jobs, running
from crm_imports.usecases.scope import scopes
from crm_kit.context import RequestContext

from .conftest import FakeSinks, World

MAPPING: dict[str, Any] = {
    "target": "companies",
    "fields": {"name": "Company", "domain": "Domain", "external_id": "Id"},
}


def _csv(ids: list[str]) -> bytes:
    lines = ["Company;Domain;Id"] + [f"Co {i};{i.lower()}.example;{i}" for i in ids]
    return ("\r\n".join(lines) + "\r\n").encode()


@dataclass
class GatedSinks(FakeSinks):
    """The fake owner, each batch held (named by its first row) until `open_gate` lets it
    answer; `gated` False answers at once."""

    gated: bool = True
    started: list[int] = field(default_factory=list)
    gates: dict[int, asyncio.Event] = field(default_factory=dict)
    refused: set[int] = field(default_factory=set)  # batches (first rows) refused whole

    def gate(self, first_row: int) -> asyncio.Event:
        return self.gates.setdefault(first_row, asyncio.Event())

    def open_gate(self, first_row: int) -> None:
        self.gate(first_row).set()

    async def write(
        self, caller: RequestContext, record_type: str, batch: ImportBatchRequest
    ) -> ImportBatchReply:
        first = batch.rows[0].row
        self.started.append(first)
        if self.gated:
            await self.gate(first).wait()
        if first in self.refused:
            raise SinkRefused("FORBIDDEN", "not yours")
        return await super().write(caller, record_type, batch)


async def always() -> bool:
    return True


async def until(condition: Callable[[], bool]) -> None:
    """Let the run go on until `condition` holds (bounded: a hang fails the test)."""
    for _ in range(2000):
        if condition():
            return
        await asyncio.sleep(0.001)
    raise AssertionError("the run did not get there")


async def until_stored(world: World, job_id: str, condition: Callable[[Any], bool]) -> Any:
    """The job as stored once `condition` holds of it (bounded as `until`): a write's
    checkpoint can wait on work done off the loop (the file is read in a thread), which
    loop turns alone do not wait for on a busy machine."""
    for _ in range(2000):
        job = await jobs.get(world.scope(), job_id)
        if condition(job):
            return job
        await asyncio.sleep(0.001)
    raise AssertionError("the stored job did not get there")


async def settle() -> None:
    """Let every task that can go on do so (the memory store answers at once, but a write
    takes several loop turns: its hooks run as tasks of their own, in parallel). Generous:
    a "nothing more happened" check is only the stronger for it."""
    for _ in range(500):
        await asyncio.sleep(0)


def _world(world: World, sinks: GatedSinks, in_flight: int = 3) -> World:
    run = RunSettings(batch_rows=2, batches_in_flight=in_flight, lease_seconds=60.0)
    return World(world.db, world.store, sinks, scopes(world.store, sinks, run))


async def _started_job(world: World, data: bytes) -> str:
    upload = await world.upload(data)
    job = await jobs.create(world.scope(), upload, "companies")
    await jobs.set_mapping(world.scope(), job.id, MAPPING)
    await jobs.start(world.scope(), job.id, False)
    return job.id


async def test_the_checkpoint_passes_only_batches_acknowledged_in_order(world: World) -> None:
    sinks = GatedSinks()
    world = _world(world, sinks)
    job_id = await _started_job(world, _csv(["A", "B", "C", "D", "E", "F", "G", "H"]))
    start = (await jobs.get(world.scope(), job_id)).next_row
    runner = asyncio.create_task(running.run(world.scope(), job_id, always))
    try:
        # Rows 2-3, 4-5 and 6-7 go out before the owner has answered any of them.
        await until(lambda: sinks.started == [2, 4, 6])
        sinks.open_gate(4)  # the second batch answers first
        await settle()
        held = await jobs.get(world.scope(), job_id)
        assert held.next_row == start and held.counts.rows_read == 0
        assert sinks.started == [2, 4, 6]  # nothing more before the oldest is answered
        sinks.open_gate(2)
        await until(lambda: sinks.started == [2, 4, 6, 8])
        held = await until_stored(world, job_id, lambda job: job.next_row == 6)
        assert held.counts.created == 4
    finally:
        runner.cancel()  # the runner dies with rows 6-9 sent and unanswered
        await asyncio.gather(runner, return_exceptions=True)
    stopped = await jobs.get(world.scope(), job_id)
    assert stopped.status == RUNNING and stopped.next_row == 6
    sinks.gated = False
    done = await running.run(world.scope(), job_id, always)
    assert done is not None and done.status == COMPLETED
    assert done.counts.rows_read == 8 and done.counts.created == 8
    assert len(sinks.records) == 8  # the batches re-sent found their own records
    # The resumed run sent again from the checkpoint: the two batches left unanswered.
    assert sinks.started == [2, 4, 6, 8, 6, 8]
    answered = [row.row for batch in sinks.batches for row in batch.rows]
    assert sorted(answered) == list(range(2, 10))


async def test_a_batch_repeating_an_earlier_rows_key_waits_for_the_batches_before(
    world: World,
) -> None:
    sinks = GatedSinks()
    world = _world(world, sinks)
    # Row 6 repeats row 2's external id: the owner must have written row 2 when it sees it.
    job_id = await _started_job(world, _csv(["A", "B", "C", "D", "A", "E"]))
    runner = asyncio.create_task(running.run(world.scope(), job_id, always))
    try:
        await until(lambda: sinks.started == [2, 4])
        await settle()
        assert sinks.started == [2, 4]
        sinks.open_gate(2)
        await settle()
        assert sinks.started == [2, 4]
        sinks.open_gate(4)
        await until(lambda: sinks.started == [2, 4, 6])
        held = await jobs.get(world.scope(), job_id)
        assert held.next_row == 6
        sinks.open_gate(6)
        done = await runner
    finally:
        runner.cancel()
    assert done is not None and done.status == COMPLETED and done.counts.rows_read == 6


async def test_one_batch_in_flight_sends_one_after_another(world: World) -> None:
    sinks = GatedSinks()
    world = _world(world, sinks, in_flight=1)
    job_id = await _started_job(world, _csv(["A", "B", "C", "D"]))
    runner = asyncio.create_task(running.run(world.scope(), job_id, always))
    try:
        await until(lambda: sinks.started == [2])
        await settle()
        assert sinks.started == [2]
        sinks.open_gate(2)
        await until(lambda: sinks.started == [2, 4])
        sinks.open_gate(4)
        done = await runner
    finally:
        runner.cancel()
    assert done is not None and done.counts.created == 4


async def test_a_batch_refused_with_others_in_flight_fails_the_run_after_the_ones_before(
    world: World,
) -> None:
    sinks = GatedSinks(refused={4})
    world = _world(world, sinks)
    job_id = await _started_job(world, _csv(["A", "B", "C", "D", "E", "F"]))
    runner = asyncio.create_task(running.run(world.scope(), job_id, always))
    try:
        await until(lambda: sinks.started == [2, 4, 6])
        sinks.open_gate(6)
        sinks.open_gate(4)
        sinks.open_gate(2)
        failed = await runner
    finally:
        runner.cancel()
    assert failed is not None and failed.status == FAILED and "not yours" in failed.error
    # Counted: the batch before the refused one; not the one after it, answered or not.
    assert failed.next_row == 4 and failed.counts.rows_read == 2 and failed.counts.created == 2
