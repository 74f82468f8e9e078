"""`crm_kit.imports.write_batch` with batches handled side by side (`InOrder`) and a sink
that makes its inserts ahead (`PreparesInserts`): every built record is made ahead while
the batch before holds its turn, under the batch id its insert then uses (not in a dry
run, and not when batches come one at a time: nothing to overlap); the batches are judged
one after another, in the order they came, and the next batch's judgement does not wait
for the write of the one before: the keys a batch is creating are claimed in the job's
memory, so a later batch repeating one skips it as a duplicate within the job, as it
would after the write; claims of records not created are given up."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest

from crm_contracts.import_batches import ImportBatchRequest, ImportRow
from crm_kit.errors import BadUserInput
from crm_kit.imports import Built, InOrder, Key, PreparesInserts, import_record_id, write_batch


class Sink:
    kind = "thing"

    def __init__(
        self,
        log: list[tuple[str, Any]],
        gate: asyncio.Event | None = None,
        *,
        refuse: Sequence[str] = (),
        fail: bool = False,
    ) -> None:
        self.log = log
        self.gate = gate  # the first insert waits on it: the batch is inside its write
        self.refuse = list(refuse)  # records another writer took a key of
        self.fail = fail  # the insert raises (the database went away)

    def id_of(self, record: str) -> str:
        return record

    async def prepare(self, rows: Sequence[ImportRow]) -> None:
        return None

    async def build(self, row: ImportRow, record_id: str) -> Built[str]:
        if row.values.get("bad"):
            raise BadUserInput("bad", field="row.bad")
        return Built(record_id, [("name", str(row.values["name"]))])

    async def existing(self, keys: Sequence[Key]) -> dict[Key, str]:
        self.log.append(("judge", sorted(value for _, value in keys)))
        return {}

    async def update(self, existing: str, built: str, row: ImportRow, *, dry_run: bool) -> bool:
        return False

    def prepare_insert(self, records: Sequence[str], batch_id: str) -> None:
        self.log.append(("prepare", (batch_id, list(records))))

    async def insert(self, records: Sequence[str], batch_id: str) -> list[str]:
        self.log.append(("insert", (batch_id, list(records))))
        if self.gate is not None and not self.gate.is_set():
            await self.gate.wait()
        if self.fail:
            raise ConnectionError("the database went away")
        return [record for record in records if record in self.refuse]

    async def get(self, ids: Sequence[str]) -> list[str]:
        return []


def request(
    first: int, names: list[str], *, dry_run: bool = False, job: str = "j"
) -> ImportBatchRequest:
    rows = [ImportRow(row=first + n, values={"name": name}) for n, name in enumerate(names)]
    rows.append(ImportRow(row=first + len(names), values={"bad": True}))  # fails its build
    return ImportBatchRequest(job_id=job, rows=rows, dry_run=dry_run)


def test_the_sink_is_one_that_makes_inserts_ahead() -> None:
    assert isinstance(Sink([]), PreparesInserts)


async def test_a_batch_is_made_ahead_and_written_beside_the_one_before() -> None:
    log: list[tuple[str, Any]] = []
    gate = asyncio.Event()
    order = InOrder()
    first = asyncio.create_task(write_batch(Sink(log, gate), request(2, ["a", "b"]), "w", order))
    second = asyncio.create_task(write_batch(Sink(log), request(10, ["c"]), "w", order))
    for _ in range(20):
        await asyncio.sleep(0)
    # The first batch is inside its insert; the second was made ahead, judged after the
    # first and is written beside it.
    assert [step for step, _ in log] == ["prepare", "judge", "insert", "prepare", "judge", "insert"]
    assert not first.done() and second.done()
    gate.set()
    replies = await asyncio.gather(first, second)
    prepared = [detail for step, detail in log if step == "prepare"]
    assert [detail for step, detail in log if step == "judge"] == [["a", "b"], ["c"]]
    inserted = [detail for step, detail in log if step == "insert"]
    assert prepared == inserted  # the same batch ids, the same records
    assert [batch_id for batch_id, _ in inserted] == ["j:thing:2", "j:thing:10"]
    assert [len(records) for _, records in inserted] == [2, 1]  # the failed row left out
    assert [r.outcome for r in replies[0].results] == ["created", "created", "failed"]


async def test_not_made_ahead_in_a_dry_run_or_one_batch_at_a_time() -> None:
    log: list[tuple[str, Any]] = []
    await write_batch(Sink(log), request(2, ["a"], dry_run=True), "w", InOrder())
    await write_batch(Sink(log), request(2, ["a"]), "w", None)
    assert [step for step, _ in log if step != "judge"] == ["insert"]


async def test_judged_in_order_while_the_batch_before_is_still_being_built() -> None:
    """The second batch's judgement waits for the first's, however long its rows take
    to build."""
    log: list[tuple[str, Any]] = []
    built = asyncio.Event()

    class SlowSink(Sink):
        async def build(self, row: ImportRow, record_id: str) -> Built[str]:
            await built.wait()
            return await super().build(row, record_id)

    order = InOrder()
    first = asyncio.create_task(
        write_batch(SlowSink(log), request(2, ["a"], job="slow"), "w", order)
    )
    second = asyncio.create_task(write_batch(Sink(log), request(10, ["b"], job="slow"), "w", order))
    for _ in range(20):
        await asyncio.sleep(0)
    assert [step for step, _ in log] == ["prepare"]  # the second made ahead, not judged
    built.set()
    await asyncio.gather(first, second)
    assert [detail for step, detail in log if step == "judge"] == [["a"], ["b"]]


async def test_a_later_batch_repeating_a_key_being_written_skips_it() -> None:
    """The first batch is inside its write when the second, repeating one of its keys,
    is judged: the row is a duplicate within the job, as after the write, in a dry run
    as in the real run."""
    for dry_run in (True, False):
        log: list[tuple[str, Any]] = []
        gate = asyncio.Event()
        order = InOrder()
        job = f"dup-{dry_run}"
        first = asyncio.create_task(
            write_batch(
                Sink(log, gate), request(2, ["a", "b"], dry_run=dry_run, job=job), "w", order
            )
        )
        second = asyncio.create_task(
            write_batch(Sink(log), request(10, ["b", "c"], dry_run=dry_run, job=job), "w", order)
        )
        for _ in range(20):
            await asyncio.sleep(0)
        gate.set()
        _, later = await asyncio.gather(first, second)
        assert [r.outcome for r in later.results] == ["skipped", "created", "failed"]
        assert later.results[0].id == first.result().results[1].id
        assert [i.code for i in later.results[0].issues] == ["duplicate_key"]


async def test_claims_of_records_not_created_are_given_up() -> None:
    """A record another writer took a key of (refused), or a batch whose write failed:
    a later batch repeating those keys is judged afresh, not skipped."""
    log: list[tuple[str, Any]] = []
    order = InOrder()
    refused = await write_batch(
        Sink(log, refuse=[import_record_id("w", "gone", "thing", 3)]),
        request(2, ["a", "b"], job="gone"),
        "w",
        order,
    )
    assert [r.outcome for r in refused.results][:2] == ["created", "skipped"]
    with pytest.raises(ConnectionError):
        await write_batch(Sink(log, fail=True), request(20, ["c"], job="gone"), "w", order)
    again = await write_batch(Sink(log), request(30, ["a", "b", "c"], job="gone"), "w", order)
    assert [r.outcome for r in again.results] == ["skipped", "created", "created", "failed"]
    assert [i.code for i in again.results[0].issues] == ["duplicate_key"]  # "a" was created
