"""Consumed events with the in-memory store: playbooks, closing deals, contact merges,
reminders and overdue notices."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from prometheus_client import REGISTRY

from crm_contracts import tasks as contract
from crm_kit.consumer import PermanentFailure
from crm_kit.testing import Clock
from crm_tasks.domain.queries import TaskFilter
from crm_tasks.domain.task import Task
from crm_tasks.entrypoints.scheduler import Scheduler
from crm_tasks.events import examples
from crm_tasks.store.schedule import SCHEDULE_QUIET_MAX, ScheduleHint
from crm_tasks.usecases.inputs import TeamInput
from crm_tasks.usecases.scope import Scope
from crm_tasks.usecases.teams import create_team

from .conftest import SCHEDULER_LABEL, T0, FakeStore, Inbound


async def all_tasks(store: FakeStore, workspace: str = "w1") -> list[Task]:
    return await store.for_workspace(workspace).find_tasks(TaskFilter(), T0)


async def test_playbook_creates_tasks_due_relative_and_assigned_by_rule(
    inbound: Inbound, store: FakeStore, scope: Scope
) -> None:
    team = await create_team(scope, TeamInput(name="SDR", member_ids=["s1", "s2"]))
    event = examples.stage_changed(
        deal_id="d1",
        changed_at=T0,
        primary_contact_id="c1",
        playbook=[
            {"key": "a", "title": "Call", "type": "call", "dueOffsetDays": 1},
            {
                "key": "b",
                "title": "Deck",
                "type": "email",
                "dueOffsetDays": 3,
                "assignee": {"rule": "team", "teamId": team.id},
            },
            {
                "key": "c",
                "title": "Legal",
                "type": "todo",
                "assignee": {"rule": "user", "userId": "lawyer"},
            },
        ],
    )
    await inbound.deliver(event)
    tasks = {t.source.template_key: t for t in await all_tasks(store)}
    assert tasks["a"].due_at == T0 + timedelta(days=1)
    assert tasks["a"].assignee_id == "owner-1"
    assert tasks["b"].assignee_id == "s1" and tasks["b"].team_id == team.id
    assert tasks["c"].assignee_id == "lawyer" and tasks["c"].due_at == T0
    assert {t.deal_id for t in tasks.values()} == {"d1"}
    assert {t.contact_id for t in tasks.values()} == {"c1"}
    assert tasks["a"].source.kind == "playbook"
    assert tasks["a"].idem_key == f"playbook:{event.data['stageChangeId']}:a"
    created = store.events_of(contract.TASK_CREATED)
    assert len(created) == 3
    assert created[0].data["task"]["source"]["templateKey"] == "a"


async def test_duplicate_stage_change_creates_tasks_once(
    inbound: Inbound, store: FakeStore, scope: Scope
) -> None:
    team = await create_team(scope, TeamInput(name="SDR", member_ids=["s1", "s2"]))
    playbook = [{"key": "b", "title": "Deck", "assignee": {"rule": "team", "teamId": team.id}}]
    event = examples.stage_changed(playbook=playbook)
    again = examples.stage_changed(
        stage_change_id=event.data["stageChangeId"], playbook=playbook
    )  # same change, re-published with a new event id
    for e in (event, event, again):
        await inbound.deliver(e)
    assert len(await all_tasks(store)) == 1
    # The duplicate did not move the round-robin counter either.
    other = examples.stage_changed(playbook=playbook)
    await inbound.deliver(other)
    assignees = sorted(t.assignee_id for t in await all_tasks(store))
    assert assignees == ["s1", "s2"]


async def test_playbook_with_missing_team_falls_back_to_owner(
    inbound: Inbound, store: FakeStore
) -> None:
    playbook = [{"key": "x", "title": "X", "assignee": {"rule": "team", "teamId": "nope"}}]
    await inbound.deliver(examples.stage_changed(playbook=playbook))
    [task] = await all_tasks(store)
    assert task.assignee_id == "owner-1"


async def test_invalid_payload_is_a_permanent_failure(inbound: Inbound) -> None:
    event = examples.stage_changed()
    event.data.pop("stageChangeId")
    with pytest.raises(PermanentFailure):
        await inbound.deliver(event, "tasks-playbooks")


async def test_closing_a_deal_cancels_its_open_playbook_tasks(
    inbound: Inbound, store: FakeStore, caller: Any
) -> None:
    await inbound.deliver(examples.stage_changed(deal_id="d1"))
    manual = (
        await caller.data('mutation { createTask(input: {title: "m", dealId: "d1"}) { id } }')
    )["createTask"]
    first = next(t for t in await all_tasks(store) if t.source.kind == "playbook")
    await caller.data("mutation($id: ID!) { completeTask(id: $id) { id } }", {"id": first.id})
    closed = examples.deal_closed(deal_id="d1", won=False, at=T0)
    await inbound.deliver(closed)
    await inbound.deliver(closed)
    statuses = {t.id: (t.status, t.cancel_reason) for t in await all_tasks(store)}
    assert statuses[first.id] == ("done", None)
    assert statuses[manual["id"]] == ("open", None)
    assert sorted(statuses.values()) == [("cancelled", "deal lost"), ("done", None), ("open", None)]
    [cancelled] = store.events_of(contract.TASK_CANCELLED)
    assert cancelled.data["reason"] == "deal lost"
    outcomes = await store.for_workspace("w1").deal_outcomes(T0, T0 + timedelta(seconds=1))
    assert [(o.deal_id, o.outcome) for o in outcomes] == [("d1", "lost")]


async def test_contact_merge_repoints_tasks(
    inbound: Inbound, store: FakeStore, caller: Any
) -> None:
    for _ in range(2):
        await caller.data('mutation { createTask(input: {title: "m", contactId: "old"}) { id } }')
    await inbound.deliver(examples.contact_merged(survivor="new", merged="old"))
    assert {t.contact_id for t in await all_tasks(store)} == {"new"}
    assert len(store.events_of(contract.TASK_UPDATED)) == 2


async def test_reminder_then_overdue_fire_once_each(
    store: FakeStore, clock: Clock, caller: Any, scheduler: Scheduler
) -> None:
    query = """mutation($in: CreateTaskInput!) { createTask(input: $in) { id } }"""
    task = (
        await caller.data(
            query,
            {
                "in": {
                    "title": "Call",
                    "remindAt": (T0 + timedelta(minutes=5)).isoformat(),
                    "dueAt": (T0 + timedelta(minutes=10)).isoformat(),
                }
            },
        )
    )["createTask"]
    await caller.data('mutation { createTask(input: {title: "no times"}) { id } }')
    assert await scheduler.tick() == 0
    clock.advance(minutes=5)
    assert await scheduler.tick() == 1
    assert await scheduler.tick() == 0
    [reminder] = store.events_of(contract.TASK_REMINDER_DUE)
    assert reminder.data["task"]["id"] == task["id"]
    clock.advance(minutes=5)
    assert await scheduler.tick() == 1
    assert await scheduler.tick() == 0
    [overdue] = store.events_of(contract.TASK_OVERDUE)
    assert overdue.subject == task["id"]
    notes = [n.data for n in store.events_of(contract.NOTIFICATION_CREATED)]
    assert [n["reason"] for n in notes] == ["reminder", "overdue"]
    assert notes[1]["recipientUserId"] == "alice"


def _lag(job: str) -> tuple[float, float, float | None]:
    """The scheduler-lag metric of the tasks service for `job`: (count, sum, last)."""
    labels = {"service": SCHEDULER_LABEL, "kind": job}
    count = REGISTRY.get_sample_value("crm_scheduler_lag_seconds_count", labels) or 0.0
    total = REGISTRY.get_sample_value("crm_scheduler_lag_seconds_sum", labels) or 0.0
    return count, total, REGISTRY.get_sample_value("crm_scheduler_last_lag_seconds", labels)


async def test_scheduler_reports_how_late_each_item_fired(
    clock: Clock, caller: Any, scheduler: Scheduler
) -> None:
    """Lag = the scheduler's time of firing minus the task's time (the metric an alert
    watches): a tick 2 minutes after the reminder time, then 30 after the due time."""
    await caller.data(
        "mutation($r: DateTime, $d: DateTime) "
        '{ createTask(input: {title: "x", remindAt: $r, dueAt: $d}) { id } }',
        {
            "r": (T0 + timedelta(minutes=5)).isoformat(),
            "d": (T0 + timedelta(minutes=10)).isoformat(),
        },
    )
    reminders, overdues = _lag("reminder"), _lag("overdue")
    clock.advance(minutes=7)
    assert await scheduler.tick() == 1
    count, total, last = _lag("reminder")
    assert (count - reminders[0], total - reminders[1], last) == (1, 120, 120)
    assert _lag("overdue")[:2] == overdues[:2]  # not due yet: nothing observed
    clock.advance(minutes=33)
    assert await scheduler.tick() == 1
    count, total, last = _lag("overdue")
    assert (count - overdues[0], total - overdues[1], last) == (1, 1800, 1800)
    assert await scheduler.tick() == 0
    assert _lag("overdue")[0] == count  # fired once: observed once


async def test_done_task_never_goes_overdue(
    clock: Clock, caller: Any, scheduler: Scheduler
) -> None:
    task = (
        await caller.data(
            'mutation($d: DateTime) { createTask(input: {title: "x", dueAt: $d}) { id } }',
            {"d": (T0 + timedelta(minutes=1)).isoformat()},
        )
    )["createTask"]
    await caller.data("mutation($id: ID!) { completeTask(id: $id) { id } }", {"id": task["id"]})
    clock.advance(minutes=2)
    assert await scheduler.tick() == 0


async def test_events_ride_in_the_document_written_with_them(
    inbound: Inbound, store: FakeStore, clock: Clock, caller: Any, scheduler: Scheduler
) -> None:
    """The relay publishes a document's events by its `_id` (the writer wakes it for
    each write that carries events): a playbook's `task.created` events travel together
    in the deal's task list on the embedded database (one outbox document for the stage
    change), with each task on MongoDB (the same one insert statement)."""
    await inbound.deliver(examples.stage_changed(deal_id="d1"))
    playbook_ids = {t.id for t in await all_tasks(store)}
    created = [contract.TASK_CREATED] * 2
    if store.workarounds:
        assert store.carried == [("deal_tasks", "w1:d1", created)]
    else:
        assert sorted(store.carried) == sorted(
            ("tasks", task_id, [contract.TASK_CREATED]) for task_id in playbook_ids
        )
    store.carried.clear()
    await inbound.deliver(examples.deal_closed(deal_id="d1", won=True, at=T0))
    assert sorted(store.carried) == sorted(
        ("tasks", task_id, [contract.TASK_CANCELLED]) for task_id in playbook_ids
    )

    store.carried.clear()
    await caller.data(
        'mutation($d: DateTime) { createTask(input: {title: "x", dueAt: $d}) { id } }',
        {"d": (T0 + timedelta(minutes=1)).isoformat()},
    )
    store.carried.clear()
    clock.advance(minutes=2)
    assert await scheduler.tick() == 1
    [(collection, fire_id, types)] = store.carried
    assert collection == "scheduled_fires" and fire_id.startswith("overdue_sent:")
    assert types == [contract.TASK_OVERDUE, contract.NOTIFICATION_CREATED]


async def test_a_playbook_task_due_at_once_fires_with_its_creation(
    inbound: Inbound, store: FakeStore, clock: Clock, scheduler: Scheduler
) -> None:
    """A template without a due offset is due at the stage change: its overdue notice is
    written with the task (after its `task.created`, in the same outbox document), no
    schedule entry is armed for it, the scheduler fires nothing later, and a redelivery
    writes the same event ids again (one event each on the stream)."""
    playbook = [
        {"key": "now", "title": "Now", "assignee": {"rule": "user", "userId": "u1"}},
        {"key": "later", "title": "Later", "dueOffsetDays": 1},
    ]
    event = examples.stage_changed(deal_id="d1", changed_at=T0, playbook=playbook)
    await inbound.deliver(event)
    tasks = {t.source.template_key: t for t in await all_tasks(store)}
    assert (tasks["now"].overdue_sent, tasks["later"].overdue_sent) == (True, False)
    [overdue] = store.events_of(contract.TASK_OVERDUE)
    assert overdue.subject == tasks["now"].id
    [note] = store.events_of(contract.NOTIFICATION_CREATED)
    assert (note.data["reason"], note.data["recipientUserId"]) == ("overdue", "u1")
    overdue_and_note = [contract.TASK_OVERDUE, contract.NOTIFICATION_CREATED]
    if store.workarounds:
        [(_, _, types)] = store.carried
        assert types == [contract.TASK_CREATED, *overdue_and_note, contract.TASK_CREATED]
    else:
        carried = {doc_id: types for _, doc_id, types in store.carried}
        assert carried[tasks["now"].id] == [contract.TASK_CREATED, *overdue_and_note]
    # Only the later task's due time waits in the schedule.
    assert list(store.db.collections["schedule"]) == [f"overdue_sent:{tasks['later'].id}"]
    clock.advance(minutes=1)
    assert await scheduler.tick() == 0
    ids = {e.id for e in store.events_of(contract.TASK_OVERDUE)}
    ids |= {e.id for e in store.events_of(contract.NOTIFICATION_CREATED)}
    await inbound.deliver(event)
    again = {e.id for e in store.events_of(contract.TASK_OVERDUE)}
    again |= {e.id for e in store.events_of(contract.NOTIFICATION_CREATED)}
    assert again == ids and len(ids) == 2


def test_schedule_hint_skips_scans_only_while_nothing_can_be_due() -> None:
    t0 = T0
    hint = ScheduleHint()
    assert not hint.quiet(t0)  # never scanned
    hint.scan_started()
    hint.note(t0 + timedelta(seconds=1))  # written by this process during the scan
    hint.scanned_at(t0, t0 + timedelta(minutes=5))
    assert hint.quiet(t0 + timedelta(milliseconds=500))
    assert not hint.quiet(t0 + timedelta(seconds=1))  # the entry noted mid-scan is due
    hint.scan_started()
    hint.scanned_at(t0, t0 + timedelta(minutes=5))
    assert hint.quiet(t0 + timedelta(seconds=1))
    assert not hint.quiet(t0 + SCHEDULE_QUIET_MAX)  # other replicas' entries: rescan
    hint.note(t0 + timedelta(seconds=2))
    assert not hint.quiet(t0 + timedelta(seconds=2))
