"""The deals import batch sink on the in-memory store (both profiles), with a fake contacts
directory: outcomes per row, references in one request per batch, exit criteria recorded,
re-sent batches, dry run = real run, on_existing update, undo."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

import pytest

from crm_contracts import deals as contract
from crm_contracts.import_batches import ImportBatchReply, ImportBatchRequest
from crm_deals.domain.deal import Deal
from crm_deals.store.port import ContactsUnavailable, NamedReferences
from crm_deals.usecases import imports
from crm_kit.context import RequestContext
from crm_kit.errors import ServiceUnavailable
from crm_kit.imports import InOrder, write_batch

from .conftest import FakeDeals


class Directory:
    """The contacts service as far as a batch asks it; counts the requests."""

    def __init__(self) -> None:
        self.requests = 0

    async def references(
        self,
        caller: RequestContext,
        names: Sequence[str],
        domains: Sequence[str],
        emails: Sequence[str],
    ) -> NamedReferences:
        self.requests += 1
        return NamedReferences(
            company_names={n: "c-acme" for n in names if n.lower() == "acme"},
            company_domains={d: "c-bolt" for d in domains if d == "bolt.io"},
            emails={e: "p-ann" for e in emails if e == "ann@acme.com"},
        )


def batch(rows: list[dict[str, Any]], job: str = "j1", **options: Any) -> ImportBatchRequest:
    return ImportBatchRequest(
        job_id=job, rows=[{"row": n + 2, "values": v} for n, v in enumerate(rows)], **options
    )


async def write(
    fake: FakeDeals, request: ImportBatchRequest, directory: Directory | None = None
) -> ImportBatchReply:
    sink = imports.DealSink(
        fake.scope(),
        request.job_id,
        directory or Directory(),
        default_currency=request.default_currency,
        dry_run=request.dry_run,
    )
    return await write_batch(sink, request, "w1")


ROWS = [
    {"external_id": "D1", "stage": "won", "engaged_at": "2024-01-10", "close_date": "2024-02-01",
     "amount": "1200.50", "owner": "Ann Lee", "company": "Acme", "contact_email": "ann@acme.com",
     "custom.region": "EMEA"},
    {"external_id": "D2", "stage": "Qualification", "company_domain": "bolt.io",
     "expected_close_date": "2030-05-01", "amount": "99", "created_at": "2023-12-01T09:00:00Z"},
    {"external_id": "D3", "stage": "nowhere"},
    {"external_id": "D1", "stage": "qualification"},
    {"stage": "won"},
    {"external_id": "D4", "stage": "lost", "engaged_at": "2024-01-01"},
]  # fmt: skip


async def test_deals_outcomes_references_and_criteria(fake: FakeDeals) -> None:
    directory = Directory()
    reply = await write(fake, batch(ROWS, default_currency="EUR"), directory)
    outcomes = [r.outcome for r in reply.results]
    assert outcomes == ["created", "created", "failed", "skipped", "failed", "failed"]
    assert directory.requests == 1  # one request for the whole batch
    assert reply.results[2].issues[0].field == "stage"
    assert (
        reply.results[4].issues[0].field == "close_date"
    )  # no id is no fault: a won deal needs its close
    assert reply.results[5].issues[0].field == "close_date"
    won, open_ = await fake.for_workspace("w1").get_deals([r.id or "" for r in reply.results[:2]])
    assert (won.status, won.amount_minor, won.currency) == ("won", 120050, "EUR")
    assert (won.company_id, won.primary_contact_id, won.owner_id) == ("c-acme", "p-ann", "ann-lee")
    assert won.custom_fields == {"region": "EMEA"} and won.import_job == "j1"
    assert [c.to_stage for c in won.stage_history] == ["engaging", "won"]
    assert open_.company_id == "c-bolt" and open_.expected_close_date == "2030-05-01"
    assert open_.created_at is not None and open_.created_at.year == 2023
    # Won past every open stage: their unmet criteria are recorded, not refused.
    assert "unmet_exit_criteria" in [i.code for i in reply.results[0].issues]
    assert won.stage_history[-1].overridden
    # Prospecting asks for a company: the one found by domain meets it.
    assert "unmet_exit_criteria" not in [i.code for i in reply.results[1].issues]
    assert len(fake.events(contract.DEAL_CREATED)) == 2
    assert fake.events(contract.DEAL_STAGE_CHANGED) == []  # history does not start playbooks


async def test_resend_and_dry_run_agree(fake: FakeDeals) -> None:
    dry = await write(fake, batch(ROWS, dry_run=True))
    assert fake.events(contract.DEAL_CREATED) == []
    real = await write(fake, batch(ROWS))
    again = await write(fake, batch(ROWS))
    assert [r.outcome for r in dry.results] == [r.outcome for r in real.results]
    assert [r.id for r in dry.results] == [r.id for r in real.results]
    assert again == real
    assert len(fake.events(contract.DEAL_CREATED)) == 2


async def test_update_existing_and_undo(fake: FakeDeals) -> None:
    first = await write(fake, batch(ROWS[:2]))
    changed = [{"external_id": "D2", "stage": "qualification", "title": "Bigger", "amount": "500"}]
    skipped = await write(fake, batch(changed, job="j2"))
    updated = await write(fake, batch(changed, job="j3", on_existing="update"))
    assert [r.outcome for r in skipped.results] == ["skipped"]
    assert [r.outcome for r in updated.results] == ["updated"]
    deal = (await fake.for_workspace("w1").get_deals([first.results[1].id or ""]))[0]
    assert (deal.title, deal.amount_minor) == ("Bigger", 50000)
    assert await imports.undo_import(fake.scope(), "j1") == 1  # D2 was changed since
    assert len(fake.events(contract.DEAL_DELETED)) == 1
    assert await imports.undo_import(fake.scope(), "j1") == 0


async def test_custom_columns_follow_the_apis_rule(fake: FakeDeals) -> None:
    rows = [
        {"external_id": "C1", "stage": "qualification", "custom.score": 4.5,
         "custom.Deal size (USD)": 1200},
        {"external_id": "C2", "stage": "qualification", "custom.a.b": "x"},
        {"external_id": "C3", "stage": "qualification", "custom.hq": {"city": "Lyon"}},
    ]  # fmt: skip
    reply = await write(fake, batch(rows))
    assert [r.outcome for r in reply.results] == ["created", "failed", "failed"]
    assert [i.field for i in reply.results[1].issues] == ["custom.a.b"]
    assert [i.field for i in reply.results[2].issues] == ["custom.hq"]
    (deal,) = await fake.for_workspace("w1").get_deals([reply.results[0].id or ""])
    assert deal.custom_fields == {"score": 4.5, "Deal size (USD)": 1200}


class GatedDirectory(Directory):
    """Holds the answer for a batch naming the company `Slow` until `gate` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.asked = 0
        self.gate = asyncio.Event()

    async def references(
        self,
        caller: RequestContext,
        names: Sequence[str],
        domains: Sequence[str],
        emails: Sequence[str],
    ) -> NamedReferences:
        self.asked += 1
        if "Slow" in names:
            await self.gate.wait()
        return await super().references(caller, names, domains, emails)


def recording_sink(
    fake: FakeDeals, request: ImportBatchRequest, directory: Directory, inserts: list[str]
) -> imports.DealSink:
    sink = imports.DealSink(
        fake.scope(), request.job_id, directory, default_currency=None, dry_run=request.dry_run
    )
    insert = sink.insert

    async def recorded(records: Sequence[Deal], batch_id: str) -> list[Deal]:
        inserts.append(batch_id)
        return await insert(records, batch_id)

    sink.insert = recorded  # type: ignore[method-assign]
    return sink


async def until(condition: Callable[[], bool]) -> None:
    for _ in range(1_000):  # a bounded number of turns of the loop, not a time
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("condition not met")


FIRST = [{"external_id": "S1", "stage": "qualification", "company": "Slow"}]
SECOND = [
    {"external_id": "S1", "stage": "won", "engaged_at": "2024-01-10", "close_date": "2024-02-01"},
    {"external_id": "S2", "stage": "qualification", "company": "Acme"},
]


@pytest.mark.parametrize("dry_run", [False, True])
async def test_batches_side_by_side_write_in_the_order_they_came(
    fake: FakeDeals, dry_run: bool
) -> None:
    """The deals service takes two batches at once (`DEALS_IMPORT_BATCHES_AT_ONCE`): the
    second's rows are built while the first waits, but its keys are judged and its deals
    written only after the first's, so the outcomes are those of one batch after another
    (the second's S1 a duplicate of the first's), in a dry run as in the real run."""
    order = InOrder()
    directory = GatedDirectory()
    inserts: list[str] = []
    first = batch(FIRST, job=f"side-{dry_run}", dry_run=dry_run)
    second = ImportBatchRequest(
        job_id=first.job_id,
        dry_run=dry_run,
        rows=[{"row": n + 3, "values": v} for n, v in enumerate(SECOND)],
    )
    one = asyncio.create_task(
        write_batch(recording_sink(fake, first, directory, inserts), first, "w1", order)
    )
    two = asyncio.create_task(
        write_batch(recording_sink(fake, second, directory, inserts), second, "w1", order)
    )
    await until(lambda: directory.asked == 2)  # the second batch is being built...
    for _ in range(50):
        await asyncio.sleep(0)
    assert not two.done() and inserts == []  # ...and waits for the first's turn
    directory.gate.set()
    replies = await asyncio.gather(one, two)
    if not dry_run:
        assert inserts == [f"{first.job_id}:deal:2", f"{first.job_id}:deal:3"]
    assert [r.outcome for r in replies[0].results] == ["created"]
    assert [r.outcome for r in replies[1].results] == ["skipped", "created"]
    assert replies[1].results[0].issues[-1].code == "duplicate_key"
    assert replies[1].results[0].id == replies[0].results[0].id


async def test_a_failed_batch_gives_the_next_its_turn(fake: FakeDeals) -> None:
    """A batch that fails (the contacts service did not answer) does not hold up the ones
    after it."""

    class Down(Directory):
        async def references(self, *args: Any) -> NamedReferences:
            raise ContactsUnavailable("contacts did not answer")

    order = InOrder()
    failing = batch(FIRST, job="fails")
    after = batch([{"external_id": "F2", "stage": "qualification"}], job="fails-next")
    inserts: list[str] = []
    one = asyncio.create_task(
        write_batch(recording_sink(fake, failing, Down(), inserts), failing, "w1", order)
    )
    two = asyncio.create_task(
        write_batch(recording_sink(fake, after, Directory(), inserts), after, "w1", order)
    )
    with pytest.raises(ServiceUnavailable):
        await one
    reply = await two
    assert [r.outcome for r in reply.results] == ["created"]
    assert inserts == ["fails-next:deal:2"]
