"""Event handlers are idempotent on their own; concurrent moves cannot both apply."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from crm_contracts import contacts, tasks
from crm_contracts.envelope import new_event
from crm_deals.events.consume import Handlers
from crm_deals.store.memory import MemoryDatabase
from crm_deals.usecases.context import Actor
from crm_deals.usecases.deals import DealService
from crm_kit.consumer import PermanentFailure
from crm_kit.context import RequestContext
from crm_kit.errors import Conflict

from .test_graphql_deals import create


def _task_event(
    deal_id: str, key: str | None, kind: str = "playbook", at: str = "2026-01-06T10:00:00Z"
):
    payload = tasks.TaskCompleted(
        task=tasks.TaskSnapshot(
            id="t1",
            title="x",
            type="call",
            status="done",
            priority="normal",
            deal_id=deal_id,
            source=tasks.TaskSource(kind=kind, template_key=key),
        ),
        completed_at=at,
        on_time=True,
    )
    return new_event(
        event_type=tasks.TASK_COMPLETED, source="crm/tasks", workspace="w1", data=payload.wire()
    )


async def test_task_completed_twice_counts_once(gql: Any, db: MemoryDatabase) -> None:
    deal = await create(gql)
    handlers = Handlers(db)
    event = _task_event(deal["id"], "discovery_call")
    await handlers.task_completed(event)
    await handlers.task_completed(event)  # the same event again, past the kit's record
    await handlers.task_completed(_task_event(deal["id"], "discovery_call"))  # new id, same fact
    await handlers.task_completed(
        _task_event(deal["id"], "ad_hoc", kind="manual", at="2026-01-04T00:00:00Z")
    )
    doc = await db.for_workspace("w1").get_deal(deal["id"])
    assert doc["completed_playbook_keys"] == ["discovery_call"]
    assert (
        doc["last_activity_at"].isoformat() == "2026-01-06T10:00:00+00:00"
    )  # $max kept the latest


async def test_other_workspaces_and_bad_payloads(gql: Any, db: MemoryDatabase) -> None:
    deal = await create(gql)
    handlers = Handlers(db)
    foreign = _task_event(deal["id"], "discovery_call")
    foreign.workspace = "w2"
    await handlers.task_completed(foreign)
    assert (await db.for_workspace("w1").get_deal(deal["id"]))["completed_playbook_keys"] == []
    broken = new_event(
        event_type=tasks.TASK_COMPLETED, source="t", workspace="w1", data={"task": 1}
    )
    with pytest.raises(PermanentFailure):
        await handlers.task_completed(broken)


async def test_contact_events(gql: Any, db: MemoryDatabase) -> None:
    deal = await create(gql, primaryContactId="old", contactIds=["x"], companyId="co")
    handlers = Handlers(db)

    def event(subject: str, payload: Any):
        return new_event(
            event_type=subject, source="crm/contacts", workspace="w1", data=payload.wire()
        )

    merged = event(
        contacts.CONTACT_MERGED,
        contacts.ContactMerged(survivor_id="new", merged_id="old", moved_interactions=1),
    )
    await handlers.contacts_event(merged)
    await handlers.contacts_event(merged)
    await handlers.contacts_event(event(contacts.COMPANY_DELETED, contacts.CompanyDeleted(id="co")))
    await handlers.contacts_event(event(contacts.CONTACT_DELETED, contacts.ContactDeleted(id="x")))
    logged = contacts.InteractionLogged(
        id="i", kind="call", occurred_at="2026-01-07T00:00:00Z", deal_id=deal["id"]
    )
    await handlers.contacts_event(event(contacts.INTERACTION_LOGGED, logged))
    doc = await db.for_workspace("w1").get_deal(deal["id"])
    assert doc["primary_contact_id"] == "new" and doc["contact_ids"] == ["new", "x"]
    assert doc["company_deleted"] is True and doc["deleted_contact_ids"] == ["x"]
    assert doc["last_activity_at"].isoformat().startswith("2026-01-07")
    # Activity pushes the stale threshold out: prospecting rots 14 days after it.
    assert doc["stale_at"].isoformat().startswith("2026-01-21")


async def test_two_concurrent_moves_cannot_both_apply(
    gql: Any, db: MemoryDatabase, clock: Any
) -> None:
    deal = await create(gql, companyId="co")
    store = db.for_workspace("w1")
    barrier = asyncio.Barrier(2)
    original = store.get_deal

    async def both_read_first(deal_id: str) -> Any:
        doc = await original(deal_id)
        await barrier.wait()  # each move has read the same state before either writes
        return doc

    store.get_deal = both_read_first  # type: ignore[method-assign]
    actor = Actor(RequestContext("w1", "alice", frozenset({"admin"})), clock=clock)
    service = DealService(store, actor)
    results = await asyncio.gather(
        service.move(deal["id"], "qualification"),
        service.move(deal["id"], "engaging"),
        return_exceptions=True,
    )
    assert sum(isinstance(r, Conflict) for r in results) == 1
    doc = await original(deal["id"])
    assert len(doc["stage_history"]) == 2
    assert doc["stage_key"] == doc["stage_history"][-1]["to_stage"]
