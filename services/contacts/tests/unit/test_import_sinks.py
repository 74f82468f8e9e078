"""The import batch sinks of companies, contacts and interactions on the in-memory store
(both profiles): outcomes per row, identity keys, re-sent batches, dry runs, undo."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from crm_contacts.usecases import imports
from crm_contacts.usecases.scope import Scope
from crm_contracts.import_batches import ImportBatchReply, ImportBatchRequest
from crm_kit.context import RequestContext
from crm_kit.imports import ImportSink, InOrder, write_batch

from .conftest import FakeStore

WS = "w1"


def scope(store: FakeStore, roles: str = "admin") -> Scope:
    caller = RequestContext(WS, "alice", frozenset({roles}))
    return Scope(store.for_workspace(WS), caller, phone_region="US")


def batch(rows: list[dict[str, Any]], job: str = "job-1", **options: Any) -> ImportBatchRequest:
    return ImportBatchRequest(
        job_id=job, rows=[{"row": n + 2, "values": v} for n, v in enumerate(rows)], **options
    )


async def write(
    store: FakeStore, kind: str, request: ImportBatchRequest, order: InOrder | None = None
) -> ImportBatchReply:
    s = scope(store)
    sinks: dict[str, ImportSink[Any]] = {
        "companies": imports.CompanySink(s, request.job_id),
        "contacts": imports.ContactSink(s, request.job_id, dry_run=request.dry_run),
        "interactions": imports.InteractionSink(s, request.job_id),
    }
    return await write_batch(sinks[kind], request, WS, order)


def outcomes(reply: ImportBatchReply) -> list[str]:
    return [r.outcome for r in reply.results]


COMPANIES = [
    {"name": "Acme", "domain": "acme.com", "size": 12, "external_id": "C1"},
    {"name": "Bolt", "domain": "https://www.bolt.io/x", "address.city": "Oslo"},
    {"name": "Acme again", "domain": "acme.com"},  # the same domain as row 2
    {"name": "", "domain": "empty.com"},  # no name: a row error naming the field
    {"name": "Cog", "size": "many"},  # not a number
    {"name": "Dyn", "external_id": "C1"},  # the same external id as row 2
]


async def test_companies_outcomes_and_errors_per_row(store: FakeStore) -> None:
    reply = await write(store, "companies", batch(COMPANIES))
    assert outcomes(reply) == ["created", "created", "skipped", "failed", "failed", "skipped"]
    assert reply.results[2].id == reply.results[0].id
    assert reply.results[2].issues[0].code == "duplicate_key"
    assert "row 2" in reply.results[2].issues[0].message
    failed = reply.results[3].issues[0]
    assert (failed.code, failed.field) == ("BAD_USER_INPUT", "name")
    assert reply.results[4].issues[0].field == "size"
    stored = await store.for_workspace(WS).get_companies([reply.results[1].id])
    assert stored[0].domain == "bolt.io" and stored[0].address.city == "Oslo"
    assert stored[0].import_job == "job-1"
    assert len(store.events_of_type("crm.contacts.company.created.v1")) == 2


async def test_resent_batch_doubles_nothing_and_answers_the_same(store: FakeStore) -> None:
    first = await write(store, "companies", batch(COMPANIES))
    again = await write(store, "companies", batch(COMPANIES))
    assert again == first
    assert len(store.events_of_type("crm.contacts.company.created.v1")) == 2


async def test_dry_run_answers_what_the_real_run_does(store: FakeStore) -> None:
    await write(store, "companies", batch(COMPANIES[:1], job="earlier"))
    dry = await write(store, "companies", batch(COMPANIES, dry_run=True))
    assert store.events_of_type("crm.contacts.company.created.v1")[1:] == []
    real = await write(store, "companies", batch(COMPANIES))
    assert outcomes(dry) == outcomes(real)
    assert [r.id for r in dry.results] == [r.id for r in real.results]


async def test_existing_records_skipped_or_updated(store: FakeStore) -> None:
    await write(store, "companies", batch([{"name": "Acme", "domain": "acme.com"}], job="a"))
    rows = [{"name": "Acme Inc", "domain": "acme.com", "industry": "Tools"}]
    skipped = await write(store, "companies", batch(rows, job="b"))
    assert outcomes(skipped) == ["skipped"]
    assert skipped.results[0].issues[0].code == "existing_record"
    dry = await write(store, "companies", batch(rows, job="c", on_existing="update", dry_run=True))
    updated = await write(store, "companies", batch(rows, job="c", on_existing="update"))
    again = await write(store, "companies", batch(rows, job="d", on_existing="update"))
    assert outcomes(dry) == outcomes(updated) == ["updated"]
    assert outcomes(again) == ["unchanged"]
    stored = await store.for_workspace(WS).get_companies([updated.results[0].id])
    assert (stored[0].name, stored[0].industry) == ("Acme Inc", "tools")


async def test_contacts_find_or_create_their_company(store: FakeStore) -> None:
    await write(store, "companies", batch([{"name": "Acme", "domain": "acme.com"}], job="a"))
    rows = [
        {"first_name": "Ann", "email": "Ann@Acme.com", "company_domain": "acme.com",
         "phones": ["+1 415 555 0100"]},
        {"first_name": "Bob", "email": "bob@new.io", "company": "Newco"},
        {"first_name": "Cy", "email": "cy@new.io", "company": "newco"},
        {"first_name": "Dee", "email": "ann@acme.com"},  # the address of row 2
        {"first_name": "Eve", "email": "not-an-address"},
    ]  # fmt: skip
    reply = await write(store, "contacts", batch(rows))
    assert outcomes(reply) == ["created", "created", "created", "skipped", "failed"]
    assert reply.results[4].issues[0].field == "email"
    assert [i.code for i in reply.results[1].issues] == ["company_created"]
    people = await store.for_workspace(WS).get_contacts([r.id for r in reply.results[:3]])
    acme = (await store.for_workspace(WS).companies_with_keys([], ["acme.com"]))[0]
    assert people[0].company_id == acme.id and people[0].emails == ["ann@acme.com"]
    assert people[0].phones == ["+14155550100"]
    assert people[1].company_id == people[2].company_id != acme.id
    newco = await store.for_workspace(WS).get_companies([people[1].company_id or ""])
    assert newco[0].name == "Newco" and newco[0].import_job == "job-1"


async def test_interactions_link_contacts_by_email(store: FakeStore) -> None:
    people = [{"first_name": "Ann", "email": "ann@acme.com", "company": "Acme"}]
    await write(store, "contacts", batch(people, job="a"))
    rows = [
        {"kind": "call", "occurred_at": "2024-03-01T10:00:00Z", "contact_email": "ANN@acme.com",
         "summary": "Intro", "duration_seconds": 600, "external_id": "I1"},
        {"kind": "meeting", "contact_email": "nobody@else.com"},
        {"kind": "fax", "contact_email": "ann@acme.com"},
        {"kind": "note", "company": "Acme", "external_id": "I1"},
    ]  # fmt: skip
    reply = await write(store, "interactions", batch(rows))
    assert outcomes(reply) == ["created", "failed", "failed", "skipped"]
    assert reply.results[1].issues[-1].field == "contact_email"
    assert reply.results[2].issues[0].field == "kind"
    logged = await store.for_workspace(WS).get_interactions([reply.results[0].id or ""])
    assert logged[0].summary == "Intro" and logged[0].occurred_at.year == 2024
    ann = await store.for_workspace(WS).get_contacts(logged[0].contact_ids)
    assert ann[0].last_activity_at == logged[0].occurred_at


async def test_undo_removes_what_the_job_created_and_nobody_changed(store: FakeStore) -> None:
    rows = [{"first_name": "Ann", "email": "ann@x.com", "company": "X"}, {"first_name": "Bo"}]
    reply = await write(store, "contacts", batch(rows))
    changed = [{"first_name": "Bob", "email": "ann@x.com"}]
    await write(store, "contacts", batch(changed, job="later", on_existing="update"))
    removed = await imports.undo_import(scope(store), "job-1")
    assert removed == 2  # Bo and the company X; Ann was changed since
    bo = await store.for_workspace(WS).get_contacts([reply.results[1].id or ""])
    assert bo[0].deleted
    assert len(store.events_of_type("crm.contacts.contact.deleted.v1")) == 1
    assert await imports.undo_import(scope(store), "job-1") == 0


@pytest.mark.parametrize("roles", ["viewer"])
async def test_a_viewer_may_not_import(store: FakeStore, roles: str) -> None:
    from crm_kit.errors import Forbidden

    with pytest.raises(Forbidden):
        await imports.undo_import(scope(store, roles), "job-1")


async def test_a_key_repeated_in_a_later_batch_counts_alike_in_dry_and_real_runs(
    store: FakeStore,
) -> None:
    first = [{"name": "Acme", "domain": "acme.com"}, {"name": "Bolt"}]
    second = [{"name": "Acme again", "domain": "acme.com"}, {"name": "Cog"}]

    def later(job: str, **options: Any) -> ImportBatchRequest:
        request = batch(second, job=job, **options)
        for n, row in enumerate(request.rows):
            row.row = 10 + n  # rows of the file further down
        return request

    runs = []
    for dry_run in (True, False):
        one = await write(store, "companies", batch(first, job="j", dry_run=dry_run))
        two = await write(store, "companies", later("j", dry_run=dry_run))
        runs.append(outcomes(one) + outcomes(two))
        assert two.results[0].id == one.results[0].id
        assert two.results[0].issues[0].code == "duplicate_key"
    assert runs[0] == runs[1] == ["created", "created", "skipped", "created"]


async def test_companies_batches_side_by_side_are_written_side_by_side(store: FakeStore) -> None:
    """The endpoint takes several companies batches at once (`import_batches_at_once`,
    turns handed out in arrival order: `InOrder`): their rows are built side by side,
    judged one after another, and a batch's insert goes beside the next one's (the
    database writes one while the service makes the other); each row is created once,
    with one `company.created`, and the batches sent again answer the same."""
    writing: list[str] = []
    overlapped: list[tuple[str, str]] = []
    original = type(store.for_workspace(WS)).add_companies

    async def add_companies(self: Any, companies: Any, batch_id: str) -> Any:
        if writing:
            overlapped.append((writing[-1], batch_id))
        writing.append(batch_id)
        try:
            for _ in range(3):
                await asyncio.sleep(0)  # the other batch runs here, if it may
            return await original(self, companies, batch_id)
        finally:
            writing.remove(batch_id)

    def rows(first: int, names: list[str]) -> ImportBatchRequest:
        request = batch([{"name": name} for name in names], job="j")
        for n, row in enumerate(request.rows):
            row.row = first + n
        return request

    requests = [rows(2, ["Acme", "Bolt"]), rows(4, ["Cog", "Dyn"]), rows(6, ["Eon"])]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(type(store.for_workspace(WS)), "add_companies", add_companies)
        order = InOrder()
        replies = await asyncio.gather(*(write(store, "companies", r, order) for r in requests))
        again = await asyncio.gather(*(write(store, "companies", r, order) for r in requests))
    assert ("2", "4") in [(a.rsplit(":", 1)[-1], b.rsplit(":", 1)[-1]) for a, b in overlapped]
    assert [outcomes(r) for r in replies] == [["created"] * 2, ["created"] * 2, ["created"]]
    assert again == replies
    assert len({r.id for reply in replies for r in reply.results}) == 5
    assert len(store.events_of_type("crm.contacts.company.created.v1")) == 5
