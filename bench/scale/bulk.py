"""The bulk path for the rows an import cannot load in a benchmark's time on a shared
machine (measured: tens of rows/s; the figures and the why are in the README): documents
built by the owning service's own code (contacts, interactions and tasks from their domain
objects, deals by the deals service's row mapper, `usecases/deal_rows.py`, the one the
import and `crm load deals` use; all through `store/documents.py`'s `*_to_doc`, so the
shape is the one the service reads) and written with `insert_many`, 1,000 a statement.

What the bulk path does not do: publish events (`*.created`: nothing downstream needs them
for what the benchmark reads, and the read indexes are built from the database at start),
audit, claim the contacts' addresses (the embedded profile's `contact_emails`, which only
duplicate checks on later writes read), or move the contacts' last activity. Every interaction names
its contact and company (resolved by external id, as an import resolves them by address
and name) and, for 7 in 10, one of the company's deals (`deal_id`, which an import cannot
set: deals link interactions from their side); every task its deal, contact and company.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from generate import Workspace
from pymongo import AsyncMongoClient

from crm_contacts.domain.contact import Contact, LifecycleStage
from crm_contacts.domain.interaction import Direction, Interaction, InteractionKind
from crm_contacts.store.documents import contact_to_doc, interaction_to_doc
from crm_deals.domain.default_pipeline import default_pipeline
from crm_deals.store.documents import deal_to_doc
from crm_deals.usecases.deal_rows import ImportReport, Options, RowMapper
from crm_tasks.domain.task import Task, TaskSource
from crm_tasks.store.documents import task_to_doc

BATCH = 1000
CREATED_BY = "bulk-loader"
# external id -> _id by (database, collection, workspace), as last scanned and extended by
# this process's bulk inserts: each kind's bulk load needs the contacts', companies' and
# deals' maps, and on FerretDB each scan reads the whole collection (at 100,000 deals the
# three took over 30 minutes before the interactions under load). `forget` drops a map
# that rows imported through the API have changed behind it.
_KNOWN: dict[tuple[str, str, str], dict[str, str]] = {}
_COLLECTION_OF = {
    "companies": ("crm_contacts", "companies"),
    "contacts": ("crm_contacts", "contacts"),
    "deals": ("crm_deals", "deals"),
}


def forget(workspace: str, kind: str) -> None:
    """Rows of `kind` are about to be written behind the map (through the API)."""
    if kind in _COLLECTION_OF:
        _KNOWN.pop((*_COLLECTION_OF[kind], workspace), None)


def _id(workspace: str, kind: str, n: int) -> str:
    return hashlib.sha256(f"bulk:{workspace}:{kind}:{n}".encode()).hexdigest()[:24]


def _moment(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


async def _ids(client: AsyncMongoClient[Any], db: str, collection: str, ws: str) -> dict[str, str]:
    """external id -> _id of a workspace's records (what an import resolves by key)."""
    known = _KNOWN.get((db, collection, ws))
    if known is not None:
        return known
    cursor = client[db][collection].find(
        {"workspace_id": ws, "external_id": {"$ne": None}}, {"external_id": 1}
    )
    found = {doc["external_id"]: doc["_id"] async for doc in cursor}
    _KNOWN[(db, collection, ws)] = found
    return found


async def _insert(
    client: AsyncMongoClient[Any], db: str, collection: str, docs: Iterator[dict[str, Any]]
) -> int:
    written = 0
    batch: list[dict[str, Any]] = []
    known = None
    for doc in docs:
        batch.append(doc)
        if doc.get("external_id") and doc.get("workspace_id"):
            if known is None:
                known = _KNOWN.get((db, collection, doc["workspace_id"]))
            if known is not None:
                known[doc["external_id"]] = doc["_id"]
        if len(batch) == BATCH:
            await client[db][collection].insert_many(batch, ordered=False)
            written, batch = written + len(batch), []
    if batch:
        await client[db][collection].insert_many(batch, ordered=False)
        written += len(batch)
    return written


async def load_bulk(
    mongodb_uri: str, workspace: Workspace, kind: str, start: int
) -> tuple[int, float]:
    """Rows `start`.. of `kind` (interactions or tasks) of `workspace`; (rows, seconds)."""
    client: AsyncMongoClient[Any] = AsyncMongoClient(mongodb_uri, tz_aware=True)
    started = time.monotonic()
    try:
        ws = workspace.name
        contacts = await _ids(client, "crm_contacts", "contacts", ws)
        companies = await _ids(client, "crm_contacts", "companies", ws)
        deals = await _ids(client, "crm_deals", "deals", ws)
        now = datetime.now(UTC)
        if kind == "contacts":

            def contacts_docs() -> Iterator[dict[str, Any]]:
                for j in range(start, workspace.contacts):
                    row = workspace.contact(j)
                    c = j % workspace.companies
                    contact = Contact(
                        id=_id(ws, kind, j),
                        workspace_id=ws,
                        first_name=row["first_name"],
                        last_name=row["last_name"],
                        emails=[row["email"]],
                        title=row["title"],
                        company_id=companies.get(f"C{c:07d}"),
                        company_name=workspace.company_name(c),
                        owner_id=row["owner_id"],
                        lifecycle_stage=LifecycleStage(row["lifecycle_stage"]),
                        source="import",
                        created_at=now,
                        updated_at=now,
                        created_by=CREATED_BY,
                        updated_by=CREATED_BY,
                        external_id=row["external_id"],
                    )
                    yield contact_to_doc(contact)

            written = await _insert(client, "crm_contacts", "contacts", contacts_docs())
        elif kind == "deals":
            # The rows mapped by the deals service's own mapper (`usecases/deal_rows.py`,
            # what `crm load deals` and the import use: stage, history, amounts, dates).
            mapper = RowMapper(
                Options(column_map={}, stage_map={}, prices={}, spread_expected_close_months=6),
                default_pipeline(ws, now),
                ws,
                now,
            )
            report = ImportReport()
            by_name = {workspace.company_name(int(ext[1:])): cid for ext, cid in companies.items()}

            def deals_docs() -> Iterator[dict[str, Any]]:
                for k in range(start, workspace.deals):
                    row = {key: str(value) for key, value in workspace.deal(k).items()}
                    deal = mapper.map_row(row, k + 2, report, by_name)
                    if deal is None:
                        raise RuntimeError(f"deal row {k} refused: {report.errors[-1:]}")
                    deal.id = _id(ws, kind, k)
                    yield deal_to_doc(deal)

            written = await _insert(client, "crm_deals", "deals", deals_docs())
        elif kind == "interactions":

            def interactions() -> Iterator[dict[str, Any]]:
                for i in range(start, workspace.interactions):
                    row = workspace.interaction(i)
                    j = i % workspace.contacts
                    k = workspace.interaction_deal(i)
                    contact = contacts.get(f"P{j:08d}")
                    yield interaction_to_doc(
                        Interaction(
                            id=_id(ws, kind, i),
                            workspace_id=ws,
                            kind=InteractionKind(row["kind"]),
                            occurred_at=_moment(row["occurred_at"]),
                            direction=Direction(row["direction"]) if row["direction"] else None,
                            subject=row["subject"],
                            duration_seconds=row["duration_seconds"] or None,
                            contact_ids=[contact] if contact else [],
                            company_id=companies.get(f"C{j % workspace.companies:07d}"),
                            deal_id=deals.get(f"D{k:08d}") if k is not None else None,
                            logged_by=CREATED_BY,
                            created_at=now,
                            source="import",
                            external_id=row["external_id"],
                        )
                    )

            written = await _insert(client, "crm_contacts", "interactions", interactions())
        else:

            def tasks() -> Iterator[dict[str, Any]]:
                for t in range(start, workspace.tasks):
                    row = workspace.task(t)
                    k = t % workspace.deals
                    task = Task(
                        id=_id(ws, kind, t),
                        workspace_id=ws,
                        title=row["title"],
                        type=row["type"],
                        priority=row["priority"],
                        created_at=now,
                        updated_at=now,
                        created_by=CREATED_BY,
                        idem_key=f"import:{row['external_id']}",
                        source=TaskSource(kind="import"),
                        due_at=_moment(row["due_at"]),
                        assignee_id=row["assignee_id"],
                        deal_id=deals.get(row["deal_external_id"]),
                        contact_id=contacts.get(f"P{workspace.deal_contact(k):08d}"),
                        company_id=companies.get(f"C{k % workspace.companies:07d}"),
                    )
                    task.reminder_sent = True
                    task.overdue_sent = task.due_at is None or task.due_at < now
                    task.status = row["status"]
                    if task.status == "done":
                        task.completed_at = task.due_at
                    yield task_to_doc(task)

            written = await _insert(client, "crm_tasks", "tasks", tasks())
    finally:
        await client.close()
    return written, time.monotonic() - started
