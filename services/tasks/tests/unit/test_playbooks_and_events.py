"""Consumed events with the in-memory store: playbooks, closing deals, contact merges,
reminders and overdue notices."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from crm_contracts import tasks as contract
from crm_kit.consumer import PermanentFailure
from crm_tasks import examples
from crm_tasks.events.consume import EventHandlers
from crm_tasks.scheduler import Scheduler
from crm_tasks.store.memory import MemoryTasksStore
from crm_tasks.store.mongo import SCHEDULE_QUIET_MAX, ScheduleHint
from crm_tasks.store.protocol import TaskFilter, TasksStore
from crm_tasks.usecases.teams import create_team

from .conftest import T0, Clock


@pytest.fixture
def handlers(served: TasksStore, clock: Clock) -> EventHandlers:
    # Through the read index too (`served`), as the service runs its consumers.
    return EventHandlers(served, lambda *_: None, clock)


async def all_tasks(store: MemoryTasksStore, workspace: str = "w1") -> list:
    return await store.for_workspace(workspace).find_tasks(TaskFilter(), T0)


async def test_playbook_creates_tasks_due_relative_and_assigned_by_rule(
    handlers: EventHandlers, store: MemoryTasksStore, caller: Any
) -> None:
    team = await create_team(caller.scope(), name="SDR", member_ids=["s1", "s2"])
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
    await handlers.on_stage_changed(event)
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
    handlers: EventHandlers, store: MemoryTasksStore, caller: Any
) -> None:
    team = await create_team(caller.scope(), name="SDR", member_ids=["s1", "s2"])
    playbook = [{"key": "b", "title": "Deck", "assignee": {"rule": "team", "teamId": team.id}}]
    event = examples.stage_changed(playbook=playbook)
    again = examples.stage_changed(
        stage_change_id=event.data["stageChangeId"], playbook=playbook
    )  # same change, re-published with a new event id
    for e in (event, event, again):
        await handlers.on_stage_changed(e)
    assert len(await all_tasks(store)) == 1
    # The duplicate did not move the round-robin counter either.
    other = examples.stage_changed(playbook=playbook)
    await handlers.on_stage_changed(other)
    assignees = sorted(t.assignee_id for t in await all_tasks(store))
    assert assignees == ["s1", "s2"]


async def test_playbook_with_missing_team_falls_back_to_owner(
    handlers: EventHandlers, store: MemoryTasksStore
) -> None:
    playbook = [{"key": "x", "title": "X", "assignee": {"rule": "team", "teamId": "nope"}}]
    await handlers.on_stage_changed(examples.stage_changed(playbook=playbook))
    [task] = await all_tasks(store)
    assert task.assignee_id == "owner-1"


async def test_invalid_payload_is_a_permanent_failure(handlers: EventHandlers) -> None:
    event = examples.stage_changed()
    event.data.pop("stageChangeId")
    with pytest.raises(PermanentFailure):
        await handlers.on_stage_changed(event)


async def test_closing_a_deal_cancels_its_open_playbook_tasks(
    handlers: EventHandlers, store: MemoryTasksStore, caller: Any
) -> None:
    await handlers.on_stage_changed(examples.stage_changed(deal_id="d1"))
    manual = (
        await caller.data('mutation { createTask(input: {title: "m", dealId: "d1"}) { id } }')
    )["createTask"]
    first = (await all_tasks(store))[0]
    await caller.data("mutation($id: ID!) { completeTask(id: $id) { id } }", {"id": first.id})
    closed = examples.deal_closed(deal_id="d1", won=False, at=T0)
    await handlers.on_deal_lifecycle(closed)
    await handlers.on_deal_lifecycle(closed)
    statuses = {t.id: (t.status, t.cancel_reason) for t in await all_tasks(store)}
    assert statuses[first.id] == ("done", None)
    assert statuses[manual["id"]] == ("open", None)
    assert sorted(statuses.values()) == [("cancelled", "deal lost"), ("done", None), ("open", None)]
    [cancelled] = store.events_of(contract.TASK_CANCELLED)
    assert cancelled.data["reason"] == "deal lost"
    outcomes = await store.for_workspace("w1").deal_outcomes(T0, T0 + timedelta(seconds=1))
    assert [(o.deal_id, o.outcome) for o in outcomes] == [("d1", "lost")]


async def test_contact_merge_repoints_tasks(
    handlers: EventHandlers, store: MemoryTasksStore, caller: Any
) -> None:
    for _ in range(2):
        await caller.data('mutation { createTask(input: {title: "m", contactId: "old"}) { id } }')
    await handlers.on_merged(examples.contact_merged(survivor="new", merged="old"))
    assert {t.contact_id for t in await all_tasks(store)} == {"new"}
    assert len(store.events_of(contract.TASK_UPDATED)) == 2


async def test_reminder_then_overdue_fire_once_each(
    store: MemoryTasksStore, clock: Clock, caller: Any
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
    scheduler = Scheduler(store, lambda *_: None, clock=clock)
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


async def test_done_task_never_goes_overdue(
    store: MemoryTasksStore, clock: Clock, caller: Any
) -> None:
    task = (
        await caller.data(
            'mutation($d: DateTime) { createTask(input: {title: "x", dueAt: $d}) { id } }',
            {"d": (T0 + timedelta(minutes=1)).isoformat()},
        )
    )["createTask"]
    await caller.data("mutation($id: ID!) { completeTask(id: $id) { id } }", {"id": task["id"]})
    clock.advance(minutes=2)
    assert await Scheduler(store, lambda *_: None, clock=clock).tick() == 0


async def test_every_write_notifies_the_relay_of_that_document(
    store: MemoryTasksStore, clock: Clock, caller: Any
) -> None:
    """The relay is told which document holds new events (published by `_id`), never asked
    for a full pass over every outbox collection."""
    notified: list[tuple[str, Any]] = []
    handlers = EventHandlers(store, lambda *args: notified.append(args), clock)
    await handlers.on_stage_changed(examples.stage_changed(deal_id="d1"))
    playbook_ids = {t.id for t in await all_tasks(store)}
    # A playbook's task.created events travel together in the deal's task list document.
    assert notified == [("deal_tasks", "w1:d1")]
    notified.clear()
    await handlers.on_deal_lifecycle(examples.deal_closed(deal_id="d1", won=True, at=T0))
    assert set(notified) == {("tasks", task_id) for task_id in playbook_ids}

    notified.clear()
    await caller.data(
        'mutation($d: DateTime) { createTask(input: {title: "x", dueAt: $d}) { id } }',
        {"d": (T0 + timedelta(minutes=1)).isoformat()},
    )
    clock.advance(minutes=2)
    scheduler = Scheduler(store, lambda *args: notified.append(args), clock=clock)
    assert await scheduler.tick() == 1
    [(collection, fire_id)] = notified
    assert collection == "scheduled_fires" and fire_id.startswith("overdue_sent:")


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
