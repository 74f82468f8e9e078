"""Event handlers are idempotent on their own; concurrent changes of one deal never both
apply to the same state (each sees the other's result, or runs again on it)."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import pytest

from crm_contracts import contacts, tasks
from crm_contracts.envelope import CloudEvent, new_event
from crm_deals.domain.deal import Deal
from crm_deals.entrypoints.consumers import FACTS_FETCH, subscriptions
from crm_deals.store.documents import DEAL
from crm_deals.usecases import company_facts, deals
from crm_kit.consumer import PermanentFailure
from crm_kit.errors import PreconditionFailed
from crm_kit.inbound import Subscription

from .conftest import FakeDeals
from .test_graphql_deals import create


def _task_event(
    deal_id: str, key: str | None, kind: str = "playbook", at: str = "2026-01-06T10:00:00Z"
) -> CloudEvent:
    payload = tasks.TaskCompleted.model_validate(
        {
            "task": {
                "id": "t1",
                "title": "x",
                "type": "call",
                "status": "done",
                "priority": "normal",
                "dealId": deal_id,
                "source": {"kind": kind, "templateKey": key},
            },
            "completedAt": at,
            "onTime": True,
        }
    )
    return new_event(
        event_type=tasks.TASK_COMPLETED, source="crm/tasks", workspace="w1", data=payload.wire()
    )


def _consumers(fake: FakeDeals) -> dict[str, Subscription]:
    return {s.durable: s for s in subscriptions(fake.scopes)}


async def _deal(fake: FakeDeals, deal_id: str, workspace: str = "w1") -> Deal:
    (found,) = await fake.for_workspace(workspace).get_deals([deal_id])
    return found


async def test_task_completed_twice_counts_once(gql: Any, fake: FakeDeals) -> None:
    deal = await create(gql)
    completed = _consumers(fake)["deals-task-completed"]
    event = _task_event(deal["id"], "discovery_call")
    await completed.handle(event)
    await completed.handle(event)  # the same event again, past the kit's record
    await completed.handle(_task_event(deal["id"], "discovery_call"))  # new id, same fact
    await completed.handle(
        _task_event(deal["id"], "ad_hoc", kind="manual", at="2026-01-04T00:00:00Z")
    )
    found = await _deal(fake, deal["id"])
    assert found.completed_playbook_keys == ["discovery_call"]
    assert found.last_activity_at is not None
    assert found.last_activity_at.isoformat() == "2026-01-06T10:00:00+00:00"  # the latest kept
    assert len(found.activity_log) == 2  # two distinct completions, the repeat not again


async def test_other_workspaces_and_bad_payloads(gql: Any, fake: FakeDeals) -> None:
    deal = await create(gql)
    completed = _consumers(fake)["deals-task-completed"]
    foreign = _task_event(deal["id"], "discovery_call")
    foreign.workspace = "w2"
    await completed.handle(foreign)
    assert (await _deal(fake, deal["id"])).completed_playbook_keys == []
    broken = new_event(
        event_type=tasks.TASK_COMPLETED, source="t", workspace="w1", data={"task": 1}
    )
    with pytest.raises(PermanentFailure):
        await completed.handle(broken)


async def test_contact_events(gql: Any, fake: FakeDeals) -> None:
    deal = await create(gql, primaryContactId="old", contactIds=["x"], companyId="co")
    sync = _consumers(fake)["deals-contacts-sync"]

    def event(subject: str, payload: Any) -> CloudEvent:
        return new_event(
            event_type=subject, source="crm/contacts", workspace="w1", data=payload.wire()
        )

    merged = event(
        contacts.CONTACT_MERGED,
        contacts.ContactMerged(survivor_id="new", merged_id="old", moved_interactions=1),
    )
    await sync.handle(merged)
    await sync.handle(merged)
    await sync.handle(event(contacts.COMPANY_DELETED, contacts.CompanyDeleted(id="co")))
    await sync.handle(event(contacts.CONTACT_DELETED, contacts.ContactDeleted(id="x")))
    logged = contacts.InteractionLogged.model_validate(
        {"id": "i", "kind": "call", "occurredAt": "2026-01-07T00:00:00Z", "dealId": deal["id"]}
    )
    await sync.handle(event(contacts.INTERACTION_LOGGED, logged))
    found = await _deal(fake, deal["id"])
    assert found.primary_contact_id == "new" and found.contact_ids == ["new", "x"]
    assert found.company_deleted is True and found.deleted_contact_ids == ["x"]
    assert found.last_activity_at is not None and found.stale_at is not None
    assert found.last_activity_at.isoformat().startswith("2026-01-07")
    # Activity pushes the stale threshold out: prospecting rots 14 days after it.
    assert found.stale_at.isoformat().startswith("2026-01-21")
    # The merge was announced once (the repeat found nothing left to re-point).
    repointed = [e for e in fake.events("crm.deals.deal.updated.v1") if e.subject == deal["id"]]
    assert [e.data["changedFields"] for e in repointed] == [["contactIds", "primaryContactId"]]


async def test_concurrent_moves_take_turns(gql: Any, fake: FakeDeals) -> None:
    deal = await create(gql, companyId="co")
    scope = fake.scope()
    results = await asyncio.gather(
        deals.move_deal(scope, deal["id"], "qualification"),
        deals.move_deal(scope, deal["id"], "engaging"),
        return_exceptions=True,
    )
    applied = [r for r in results if isinstance(r, Deal)]
    # Whichever went second saw the first's result: after qualification, engaging needs
    # qualification's exit criteria; after engaging, qualification is a move back.
    assert all(isinstance(r, Deal | PreconditionFailed) for r in results)
    history = (await _deal(fake, deal["id"])).stage_history
    assert len(history) == 1 + len(applied) >= 2
    for before, after in itertools.pairwise(history):
        assert after.from_stage == before.to_stage  # no change was made on a stale state
    assert (await _deal(fake, deal["id"])).stage_key == history[-1].to_stage


async def test_a_change_that_loses_the_race_runs_again_on_the_fresh_state(
    gql: Any, fake: FakeDeals
) -> None:
    """As when another replica writes between this one's read and write (MongoDB): the
    write, conditional on the revision read, is refused and the change runs again."""
    deal = await create(gql, companyId="co")
    store = fake.for_workspace("w1")
    records = fake.db.records(DEAL, "w1")
    runs = 0

    async def rename(found: Deal) -> bool:
        nonlocal runs
        runs += 1
        if runs == 1:  # meanwhile, someone else moves the deal on
            (other,) = await records.get([found.id])
            other.next_step = "written elsewhere"
            assert await records.save(other)
        found.title = f"renamed on revision {found.rev}"
        return True

    changed = await store.change_deal(deal["id"], rename)
    assert changed is not None and runs == 2
    final = await _deal(fake, deal["id"])
    assert final.next_step == "written elsewhere"  # the other write was not lost
    assert final.title == "renamed on revision 2" and final.rev == 3


async def test_an_imports_burst_of_companies_is_taken_a_large_fetch_at_a_time(
    fake: FakeDeals,
) -> None:
    """The company facts durable takes up to FACTS_FETCH events a fetch (an import's
    `company.created`, one per company: one write per fetch, not per 32) and its batch
    handler stores a whole fetch's companies; a redelivery of the fetch adds nothing."""
    facts = _consumers(fake)["deals-company-facts"]
    assert facts.batch is not None and facts.fetch == FACTS_FETCH > 32
    burst = [
        new_event(
            event_type=contacts.COMPANY_CREATED,
            source="crm/contacts",
            workspace="w1",
            subject=f"co-{n}",
            data=contacts.CompanyCreated(
                company=contacts.CompanySnapshot(
                    id=f"co-{n}",
                    name=f"Company {n}",
                    industry="Software",
                    size=n,
                    updated_at="2026-01-01T00:00:00Z",
                )
            ).wire(),
        )
        for n in range(FACTS_FETCH)
    ]
    await facts.handle_batch(burst)
    known = await company_facts.known_companies(fake.scope())
    assert len(known) == FACTS_FETCH and known["co-7"].size == 7
    await facts.handle_batch(burst)
    assert len(await company_facts.known_companies(fake.scope())) == FACTS_FETCH
