"""A closed deal keeps no open playbook task whatever order the events arrive in: a close
before the stage change that carries the playbook, a close handled while the playbook's
tasks are being stored, redeliveries, and a reopen's later stage change (which does get
its tasks)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest

from crm_tasks.domain.queries import TaskFilter
from crm_tasks.domain.task import ACTIVE_STATUSES
from crm_tasks.events import examples
from crm_tasks.usecases import playbooks

from .conftest import T0, FakeStore, Inbound

PLAYBOOK = [{"key": "a", "title": "Call"}, {"key": "b", "title": "Deck"}]


async def open_playbook_tasks(store: FakeStore, deal_id: str) -> list[Any]:
    return await store.for_workspace("w1").find_tasks(
        TaskFilter(deal_ids=[deal_id], statuses=ACTIVE_STATUSES, source_kind="playbook"), T0
    )


async def test_a_close_that_arrives_first_leaves_no_playbook_task(
    inbound: Inbound, store: FakeStore
) -> None:
    entered = examples.stage_changed(deal_id="d1", changed_at=T0, playbook=PLAYBOOK)
    closed = examples.deal_closed(deal_id="d1", won=False, at=T0 + timedelta(minutes=1))
    await inbound.deliver(closed)
    await inbound.deliver(entered)
    await inbound.deliver(entered)  # redelivered late
    assert await open_playbook_tasks(store, "d1") == []


async def test_a_close_handled_while_the_playbook_is_stored_cancels_it(
    inbound: Inbound, store: FakeStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The close looks for open tasks before the playbook's are stored: the playbook sees
    the recorded close after storing and cancels its own tasks."""
    store_deal_tasks = playbooks.store_deal_tasks
    closed = examples.deal_closed(deal_id="d1", won=True, at=T0 + timedelta(minutes=1))

    async def close_meanwhile(scope: Any, deal_id: str, tasks: list[Any]) -> list[Any]:
        await inbound.deliver(closed)
        return await store_deal_tasks(scope, deal_id, tasks)

    monkeypatch.setattr(playbooks, "store_deal_tasks", close_meanwhile)
    await inbound.deliver(examples.stage_changed(deal_id="d1", changed_at=T0, playbook=PLAYBOOK))
    assert await open_playbook_tasks(store, "d1") == []
    every = await store.for_workspace("w1").find_tasks(TaskFilter(deal_ids=["d1"]), T0)
    assert {(t.status, t.cancel_reason) for t in every} == {("cancelled", "deal closed")}


async def test_many_deals_closing_concurrently_with_their_playbooks(
    inbound: Inbound, store: FakeStore
) -> None:
    deliveries = []
    for n in range(20):
        deal = f"d{n}"
        entered = examples.stage_changed(deal_id=deal, changed_at=T0, playbook=PLAYBOOK)
        closed = examples.deal_closed(deal_id=deal, won=n % 2 == 0, at=T0 + timedelta(seconds=1))
        pair = [inbound.deliver(entered), inbound.deliver(closed)]
        deliveries.extend(pair if n % 3 else reversed(pair))
    await asyncio.gather(*deliveries)
    for n in range(20):
        assert await open_playbook_tasks(store, f"d{n}") == []


async def test_the_stage_changes_after_a_reopen_get_their_tasks(
    inbound: Inbound, store: FakeStore
) -> None:
    await inbound.deliver(examples.deal_closed(deal_id="d1", won=False, at=T0))
    # The reopen's own stage change comes after the close: its playbook applies, even if the
    # reopened event itself has not been handled yet.
    later = examples.stage_changed(
        deal_id="d1", changed_at=T0 + timedelta(hours=1), playbook=PLAYBOOK
    )
    await inbound.deliver(later)
    assert len(await open_playbook_tasks(store, "d1")) == 2
    # A late redelivery of the old close changes nothing.
    await inbound.deliver(examples.deal_closed(deal_id="d1", won=False, at=T0 - timedelta(days=1)))
    outcome = await store.for_workspace("w1").deal_outcome("d1")
    assert outcome is not None and outcome.closed_at == T0
    assert len(await open_playbook_tasks(store, "d1")) == 2
