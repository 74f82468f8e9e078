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
    store_playbook_tasks = playbooks.store_playbook_tasks
    closed = examples.deal_closed(deal_id="d1", won=True, at=T0 + timedelta(minutes=1))

    async def close_meanwhile(scope: Any, by_deal: dict[str, list[Any]]) -> list[Any]:
        await inbound.deliver(closed)
        return await store_playbook_tasks(scope, by_deal)

    monkeypatch.setattr(playbooks, "store_playbook_tasks", close_meanwhile)
    await inbound.deliver(examples.stage_changed(deal_id="d1", changed_at=T0, playbook=PLAYBOOK))
    assert await open_playbook_tasks(store, "d1") == []
    every = await store.for_workspace("w1").find_tasks(TaskFilter(deal_ids=["d1"]), T0)
    assert {(t.status, t.cancel_reason) for t in every} == {("cancelled", "deal closed")}


async def test_a_close_the_first_check_does_not_know_yet_is_seen_after_storing(
    inbound: Inbound, store: FakeStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The check before storing asks for the outcomes as this process knows them (no probe
    of the outcomes' log: a close recorded on another replica may be missing); the check
    after storing asks for them as they are, and cancels the tasks of a close the first
    missed. Here the first check knows nothing: the close, recorded first, is found by the
    second, and the deal keeps no open playbook task."""
    workspace_store = type(store.for_workspace("w1"))
    outcomes_of = workspace_store.outcomes_of
    asked: list[bool] = []

    async def first_knows_nothing(
        self: Any, deal_ids: Any, *, current: bool = True
    ) -> dict[str, Any]:
        asked.append(current)
        return await outcomes_of(self, deal_ids) if current else {}

    monkeypatch.setattr(workspace_store, "outcomes_of", first_knows_nothing)
    await inbound.deliver(
        examples.deal_closed(deal_id="d1", won=True, at=T0 + timedelta(minutes=1))
    )
    await inbound.deliver(examples.stage_changed(deal_id="d1", changed_at=T0, playbook=PLAYBOOK))
    assert asked == [False, True]
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


# --- a close delivered after the reopen that followed it -----------------------------------
# The deal's stage history: 1 created, 2 moved (playbook A), 3 won, 4 reopened into a stage
# with a playbook (B). The events carry those places (`stageSequence`), which tell an old
# close from the reopen after it whatever the order and the clocks.

REOPENED_PLAYBOOK = [{"key": "again", "title": "Call again"}]


async def _reopen_story(inbound: Inbound, order: list[str]) -> None:
    events = {
        "moved": examples.stage_changed(
            deal_id="d1", changed_at=T0, playbook=PLAYBOOK, stage_sequence=2
        ),
        "won": examples.deal_closed(
            deal_id="d1", won=True, at=T0 + timedelta(minutes=1), stage_sequence=3
        ),
        "reopened": examples.deal_reopened(
            deal_id="d1", at=T0 + timedelta(minutes=2), stage_sequence=4
        ),
        "reentered": examples.stage_changed(
            deal_id="d1",
            changed_at=T0 + timedelta(minutes=2),
            playbook=REOPENED_PLAYBOOK,
            stage_sequence=4,
        ),
    }
    for name in order:
        await inbound.deliver(events[name])


@pytest.mark.parametrize(
    "order",
    [
        ["moved", "won", "reopened", "reentered"],  # as sent
        ["moved", "reentered", "reopened", "won"],  # the close delayed past the reopen
        ["moved", "reentered", "won", "reopened"],  # the close before its reopen is heard
        ["reentered", "reopened", "won", "moved"],  # everything late but the reopen's
        ["won", "reopened", "reentered", "moved", "won"],  # and the close redelivered
    ],
)
async def test_a_late_close_never_cancels_the_reopened_deals_new_tasks(
    inbound: Inbound, store: FakeStore, order: list[str]
) -> None:
    await _reopen_story(inbound, order)
    open_tasks = await open_playbook_tasks(store, "d1")
    assert sorted(t.source.template_key for t in open_tasks) == ["again"]
    outcome = await store.for_workspace("w1").deal_outcome("d1")
    assert outcome is not None and outcome.outcome == "reopened" and outcome.sequence == 4


async def test_a_reopened_deal_is_no_closed_deal_in_the_analytics(
    inbound: Inbound, store: FakeStore
) -> None:
    await _reopen_story(inbound, ["moved", "reentered", "reopened", "won"])
    closed = await store.for_workspace("w1").deal_outcomes(T0, T0 + timedelta(hours=1))
    assert closed == []
    # Its next close counts, and cancels the reopen's tasks.
    await inbound.deliver(
        examples.deal_closed(
            deal_id="d1", won=False, at=T0 + timedelta(minutes=3), stage_sequence=5
        )
    )
    assert await open_playbook_tasks(store, "d1") == []
    closed = await store.for_workspace("w1").deal_outcomes(T0, T0 + timedelta(hours=1))
    assert [(o.outcome, o.sequence) for o in closed] == [("lost", 5)]


async def test_a_reopen_delivered_after_a_newer_close_changes_nothing(
    inbound: Inbound, store: FakeStore
) -> None:
    await _reopen_story(inbound, ["moved", "won", "reentered"])
    closed_again = examples.deal_closed(
        deal_id="d1", won=False, at=T0 + timedelta(minutes=3), stage_sequence=5
    )
    await inbound.deliver(closed_again)
    await inbound.deliver(
        examples.deal_reopened(deal_id="d1", at=T0 + timedelta(minutes=2), stage_sequence=4)
    )
    outcome = await store.for_workspace("w1").deal_outcome("d1")
    assert outcome is not None and (outcome.outcome, outcome.sequence) == ("lost", 5)
    assert await open_playbook_tasks(store, "d1") == []
