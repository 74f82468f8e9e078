"""`crm_kit.imports.write_batch` with a sink that makes its inserts ahead
(`PreparesInserts`): batches handled side by side have every built record made ahead
while the batch before holds the write turn, under the batch id their insert then uses;
not in a dry run, and not when batches come one at a time (nothing to overlap)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from crm_contracts.import_batches import ImportBatchRequest, ImportRow
from crm_kit.errors import BadUserInput
from crm_kit.imports import Built, InOrder, Key, PreparesInserts, write_batch


class Sink:
    kind = "thing"

    def __init__(self, log: list[tuple[str, Any]], gate: asyncio.Event | None = None) -> None:
        self.log = log
        self.gate = gate  # the first insert waits on it: the batch holds its turn

    def id_of(self, record: str) -> str:
        return record

    async def prepare(self, rows: Sequence[ImportRow]) -> None:
        return None

    async def build(self, row: ImportRow, record_id: str) -> Built[str]:
        if row.values.get("bad"):
            raise BadUserInput("bad", field="row.bad")
        return Built(record_id, [("name", str(row.values["name"]))])

    async def existing(self, keys: Sequence[Key]) -> dict[Key, str]:
        return {}

    async def update(self, existing: str, built: str, row: ImportRow, *, dry_run: bool) -> bool:
        return False

    def prepare_insert(self, records: Sequence[str], batch_id: str) -> None:
        self.log.append(("prepare", (batch_id, list(records))))

    async def insert(self, records: Sequence[str], batch_id: str) -> list[str]:
        self.log.append(("insert", (batch_id, list(records))))
        if self.gate is not None and not self.gate.is_set():
            await self.gate.wait()
        return []

    async def get(self, ids: Sequence[str]) -> list[str]:
        return []


def request(first: int, names: list[str], *, dry_run: bool = False) -> ImportBatchRequest:
    rows = [ImportRow(row=first + n, values={"name": name}) for n, name in enumerate(names)]
    rows.append(ImportRow(row=first + len(names), values={"bad": True}))  # fails its build
    return ImportBatchRequest(job_id="j", rows=rows, dry_run=dry_run)


def test_the_sink_is_one_that_makes_inserts_ahead() -> None:
    assert isinstance(Sink([]), PreparesInserts)


async def test_a_batch_is_made_ahead_while_the_one_before_holds_the_turn() -> None:
    log: list[tuple[str, Any]] = []
    gate = asyncio.Event()
    order = InOrder()
    first = asyncio.create_task(write_batch(Sink(log, gate), request(2, ["a", "b"]), "w", order))
    second = asyncio.create_task(write_batch(Sink(log), request(10, ["c"]), "w", order))
    for _ in range(20):
        await asyncio.sleep(0)
    # The first batch is inside its insert; the second was made ahead meanwhile.
    assert [step for step, _ in log] == ["prepare", "insert", "prepare"]
    gate.set()
    replies = await asyncio.gather(first, second)
    prepared = [detail for step, detail in log if step == "prepare"]
    inserted = [detail for step, detail in log if step == "insert"]
    assert prepared == inserted  # the same batch ids, the same records
    assert [batch_id for batch_id, _ in inserted] == ["j:thing:2", "j:thing:10"]
    assert [len(records) for _, records in inserted] == [2, 1]  # the failed row left out
    assert [r.outcome for r in replies[0].results] == ["created", "created", "failed"]


async def test_not_made_ahead_in_a_dry_run_or_one_batch_at_a_time() -> None:
    log: list[tuple[str, Any]] = []
    await write_batch(Sink(log), request(2, ["a"], dry_run=True), "w", InOrder())
    await write_batch(Sink(log), request(2, ["a"]), "w", None)
    assert [step for step, _ in log] == ["insert"]
