"""The tasks import batch sink on the in-memory store (every profile), with a fake
directory of deals and contacts: outcomes per row, references in one request per batch,
re-sent batches, dry run = real run, update, undo (cancelling); imported tasks listed and
exported (`export_tasks.page`) as the file gave them."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from crm_contracts import tasks as contract
from crm_contracts.export_pages import ExportNames, ExportPageRequest
from crm_contracts.import_batches import ImportBatchReply, ImportBatchRequest
from crm_kit.context import RequestContext
from crm_kit.imports import write_batch
from crm_kit.testing import GraphQLClient
from crm_tasks.graphql.export_pages import export_readers
from crm_tasks.store.port import NamedReferences
from crm_tasks.usecases import imports
from crm_tasks.usecases.scope import Scope

from .conftest import FakeStore, caller_scope


class Directory:
    def __init__(self) -> None:
        self.requests = 0

    async def references(
        self,
        caller: RequestContext,
        deal_external_ids: Sequence[str],
        emails: Sequence[str],
        company_names: Sequence[str],
    ) -> NamedReferences:
        self.requests += 1
        return NamedReferences(
            deals={d: "deal-1" for d in deal_external_ids if d == "D1"},
            contacts={e: "ann" for e in emails if e == "ann@acme.com"},
            companies={},
        )


def batch(rows: list[dict[str, Any]], job: str = "j1", **options: Any) -> ImportBatchRequest:
    return ImportBatchRequest(
        job_id=job, rows=[{"row": n + 2, "values": v} for n, v in enumerate(rows)], **options
    )


async def write(
    scope: Scope, request: ImportBatchRequest, directory: Directory | None = None
) -> ImportBatchReply:
    sink = imports.TaskSink(scope, request.job_id, directory or Directory())
    return await write_batch(sink, request, scope.workspace_id)


ROWS = [
    {"title": "Call Ann", "type": "call", "due_at": "2030-01-02T09:00:00Z", "external_id": "T1",
     "deal_external_id": "D1", "contact_email": "ann@acme.com", "assignee_id": "bob",
     "priority": "High"},
    {"title": "Send deck", "status": "done", "deal_external_id": "D9"},
    {"title": "", "external_id": "T3"},
    {"title": "Dup", "external_id": "T1"},
    {"title": "Odd", "type": "fax"},
    {"title": "Later", "status": "sleeping"},
]  # fmt: skip


async def test_tasks_outcomes_and_references(scope: Scope, store: FakeStore) -> None:
    directory = Directory()
    reply = await write(scope, batch(ROWS), directory)
    assert [r.outcome for r in reply.results] == [
        "created", "created", "failed", "skipped", "failed", "failed",
    ]  # fmt: skip
    assert directory.requests == 1
    assert [i.field for i in reply.results[2].issues] == ["title"]
    assert [i.field for i in reply.results[4].issues] == ["type"]
    assert [i.field for i in reply.results[5].issues] == ["status"]
    assert [i.code for i in reply.results[1].issues] == ["unknown_deal_external_id"]
    first, done = await scope.store.get_tasks([r.id or "" for r in reply.results[:2]])
    assert (first.deal_id, first.contact_id, first.assignee_id) == ("deal-1", "ann", "bob")
    assert (first.priority, first.idem_key, first.import_job) == ("high", "import:T1", "j1")
    assert done.status == "done" and done.assignee_id is None
    assert len(store.events_of(contract.TASK_CREATED)) == 2


async def test_resend_dry_run_update_and_undo(scope: Scope, store: FakeStore) -> None:
    dry = await write(scope, batch(ROWS, dry_run=True))
    real = await write(scope, batch(ROWS))
    assert [r.outcome for r in dry.results] == [r.outcome for r in real.results]
    assert [r.id for r in dry.results] == [r.id for r in real.results]
    assert await write(scope, batch(ROWS)) == real
    assert len(store.events_of(contract.TASK_CREATED)) == 2
    change = [{"title": "Call Ann again", "external_id": "T1"}]
    updated = await write(scope, batch(change, job="j2", on_existing="update"))
    assert [r.outcome for r in updated.results] == ["updated"]
    # The done task is not active, the changed one not as imported: nothing to cancel.
    assert await imports.undo_import(scope, "j1") == 0
    again = await write(scope, batch([{"title": "New", "external_id": "T7"}], job="j3"))
    assert await imports.undo_import(scope, "j3") == 1
    cancelled = await scope.store.get_tasks([again.results[0].id or ""])
    assert cancelled[0].status == "cancelled"
    assert len(store.events_of(contract.TASK_CANCELLED)) == 1


class Names:
    """The contacts service as far as an export page asks it (company and person names)."""

    async def names(
        self, caller: RequestContext, company_ids: Iterable[str], contact_ids: Iterable[str]
    ) -> ExportNames:
        return ExportNames(emails={i: f"{i}@acme.com" for i in contact_ids})


async def test_imported_tasks_list_and_export_as_the_file_gave_them(
    scope: Scope, store: FakeStore, caller: GraphQLClient
) -> None:
    await write(scope, batch(ROWS[:2]))
    # The list shows where they came from (an imported task once broke the whole list).
    listed = await caller.data("{ tasks { edges { node { title source } } } }")
    assert sorted((e["node"]["title"], e["node"]["source"]) for e in listed["tasks"]["edges"]) == [
        ("Call Ann", "IMPORT"),
        ("Send deck", "IMPORT"),
    ]
    readers = export_readers(
        lambda who: caller_scope(store, scope.clock, subject=who.subject), Names()
    )
    columns, read = readers["tasks"]
    page = await read(scope.caller, ExportPageRequest(filter={"statusIn": ["OPEN"]}))
    (row,) = page.rows
    assert row["external_id"] == "T1" and row["id"] != "T1"  # the id it came with
    assert (row["title"], row["type"], row["priority"], row["assignee_id"]) == (
        "Call Ann",
        "call",
        "high",
        "bob",
    )
    assert (row["deal_external_id"], row["contact_email"]) == ("crm:deal-1", "ann@acme.com")
    assert row["due_at"] == "2030-01-02T09:00:00Z"
    assert list(row) == list(columns) and page.after is None and page.total == 1
