"""Automation rules: managed through GraphQL, run once per event, every run recorded."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from crm_contracts import capture
from crm_contracts import tasks as contract
from crm_contracts.envelope import CloudEvent, new_event, service_of
from crm_kit.testing import Clock
from crm_tasks.domain.queries import TaskFilter
from crm_tasks.domain.rule import Rule
from crm_tasks.entrypoints.consumers import RULES_FETCH
from crm_tasks.entrypoints.scheduler import Scheduler
from crm_tasks.events import examples
from crm_tasks.graphql.enums import RuleTrigger
from crm_tasks.store.store import WorkspaceRecordStore
from crm_tasks.usecases.automation import TRIGGERS

from .conftest import T0, FakeStore, Inbound

CREATE_RULE = """mutation($in: CreateAutomationRuleInput!) {
  createAutomationRule(input: $in) { id name trigger enabled
    conditions { path op value }
    actions { type escalateMode task { title assignee { rule } } } } }"""
RUNS = """query($id: ID!, $after: String) { ruleRuns(ruleId: $id, first: 10, after: $after) {
  edges { node { ruleId eventId eventType outcome error taskIds notificationIds } }
  pageInfo { hasNextPage } } }"""


async def create_rule(caller: Any, **rule: Any) -> dict:
    return (await caller.data(CREATE_RULE, {"in": rule}))["createAutomationRule"]


BIG_DEAL_RULE = {
    "name": "Big deal in proposal: {{deal.title}}",
    "trigger": "DEAL_STAGE_CHANGED",
    "conditions": [
        {"path": "toStage", "op": "EQ", "value": "proposal"},
        {"path": "deal.amountMinor", "op": "GT", "value": 1000000},
    ],
    "actions": [
        {
            "type": "CREATE_TASK",
            "task": {
                "title": "Exec sponsor call for {{deal.title}}",
                "type": "CALL",
                "dueOffsetDays": 2,
            },
        },
        {"type": "NOTIFY", "userId": "vp-sales", "title": "Big deal: {{deal.title}}"},
    ],
}


async def test_rule_runs_once_per_event_and_records_the_run(
    caller: Any, inbound: Inbound, store: FakeStore
) -> None:
    rule = await create_rule(caller, **BIG_DEAL_RULE)
    assert rule["conditions"][1] == {"path": "deal.amountMinor", "op": "GT", "value": 1000000}
    event = examples.stage_changed(to_stage="proposal", playbook=[], title="Acme", changed_at=T0)
    await inbound.deliver(event)
    await inbound.deliver(event)  # a redelivery
    tasks = await store.for_workspace("w1").find_tasks(TaskFilter(), T0)
    [task] = tasks
    assert task.title == "Exec sponsor call for Acme"
    assert task.assignee_id == "owner-1"  # OWNER: the deal's owner
    assert task.source.kind == "rule" and task.source.rule_id == rule["id"]
    assert task.deal_id == "deal-1"
    expected_due = event.time + timedelta(days=2)
    assert task.due_at is not None
    assert abs(task.due_at - expected_due) < timedelta(milliseconds=1)
    [note] = store.events_of(contract.NOTIFICATION_CREATED)
    assert note.data["recipientUserId"] == "vp-sales"
    assert note.data["title"] == "Big deal: Acme"
    assert note.data["ruleId"] == rule["id"]
    runs = (await caller.data(RUNS, {"id": rule["id"]}))["ruleRuns"]["edges"]
    assert [r["node"]["outcome"] for r in runs] == ["SUCCEEDED"]
    assert runs[0]["node"]["eventId"] == event.id
    assert runs[0]["node"]["taskIds"] == [task.id]
    assert runs[0]["node"]["notificationIds"] == [note.subject]


async def test_a_fetch_of_events_reads_each_workspaces_rules_once(
    caller: Any, inbound: Inbound, store: FakeStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The events one fetch took run in order, with the rules of each (workspace, trigger)
    read once for them all, and one scope per workspace; each event's run is recorded as
    when it is handled alone."""
    rule = await create_rule(caller, **BIG_DEAL_RULE)
    reads: list[tuple[str, str | None]] = []
    list_rules = WorkspaceRecordStore.list_rules
    scoped: list[str] = []
    for_workspace = type(store.store).for_workspace

    def counted_scope(self: Any, workspace_id: str) -> Any:
        scoped.append(workspace_id)
        return for_workspace(self, workspace_id)

    monkeypatch.setattr(type(store.store), "for_workspace", counted_scope)

    async def counted(
        self: WorkspaceRecordStore, trigger: str | None = None, enabled: bool | None = None
    ) -> list[Rule]:
        reads.append((self.workspace_id, trigger))
        return await list_rules(self, trigger, enabled)

    monkeypatch.setattr(WorkspaceRecordStore, "list_rules", counted)
    events = [
        examples.stage_changed(deal_id=f"d{n}", to_stage=stage, playbook=[], title=f"D{n}")
        for n, stage in enumerate(["proposal", "qualify", "proposal"])
    ]
    events.append(examples.stage_changed(workspace="w2", to_stage="proposal", playbook=[]))
    events.append(examples.deal_closed(deal_id="d0"))
    await inbound.deliver_together("tasks-rules-deals", events)
    assert sorted(reads) == [
        ("w1", "deal_stage_changed"),
        ("w1", "deal_won"),
        ("w2", "deal_stage_changed"),
    ]
    assert sorted(scoped) == ["w1", "w2"]
    monkeypatch.undo()
    tasks = await store.for_workspace("w1").find_tasks(TaskFilter(), T0)
    assert sorted(t.title for t in tasks) == [
        "Exec sponsor call for D0",
        "Exec sponsor call for D2",
    ]
    runs = (await caller.data(RUNS, {"id": rule["id"]}))["ruleRuns"]["edges"]
    assert sorted(r["node"]["outcome"] for r in runs) == ["SKIPPED", "SUCCEEDED", "SUCCEEDED"]
    await inbound.deliver(events[0])  # redelivered alone: the run is recorded already
    assert len(await store.for_workspace("w1").find_tasks(TaskFilter(), T0)) == 2


async def test_conditions_not_met_records_a_skipped_run(
    caller: Any, inbound: Inbound, store: FakeStore
) -> None:
    rule = await create_rule(caller, **BIG_DEAL_RULE)
    await inbound.deliver(examples.stage_changed(to_stage="qualify", playbook=[]))
    assert await store.for_workspace("w1").find_tasks(TaskFilter(), T0) == []
    runs = (await caller.data(RUNS, {"id": rule["id"]}))["ruleRuns"]["edges"]
    assert [r["node"]["outcome"] for r in runs] == ["SKIPPED"]


async def test_disabled_and_other_workspace_rules_do_not_run(
    caller: Any, make_caller: Any, inbound: Inbound, store: FakeStore
) -> None:
    rule = await create_rule(caller, **BIG_DEAL_RULE)
    await caller.data(
        "mutation($id: ID!) { disableAutomationRule(id: $id) { enabled } }", {"id": rule["id"]}
    )
    await inbound.deliver(examples.stage_changed(to_stage="proposal", playbook=[]))
    await inbound.deliver(examples.stage_changed(workspace="w2", to_stage="proposal", playbook=[]))
    assert store.db.collections["rule_runs"] == {}
    other = make_caller(workspace="w2")
    assert (await other.data("{ automationRules { id } }"))["automationRules"] == []
    error = await other.error(RUNS, {"id": rule["id"]})
    assert error["extensions"]["code"] == "NOT_FOUND"


async def test_failed_action_is_recorded_with_its_error(caller: Any, inbound: Inbound) -> None:
    team = (
        await caller.data('mutation { createTeam(input: {name: "T", memberIds: ["a"]}) { id } }')
    )["createTeam"]
    rule = await create_rule(
        caller,
        name="Escalate overdue",
        trigger="TASK_OVERDUE",
        actions=[{"type": "ESCALATE", "teamId": team["id"], "escalateMode": "REASSIGN"}],
    )
    task = examples.published_examples()[contract.TASK_OVERDUE]
    task.workspace = "w1"
    await inbound.deliver(task)
    [run] = (await caller.data(RUNS, {"id": rule["id"]}))["ruleRuns"]["edges"]
    assert run["node"]["outcome"] == "FAILED"
    assert "no manager" in run["node"]["error"]


async def test_escalate_reassigns_an_overdue_team_task_to_the_manager(
    caller: Any, inbound: Inbound, store: FakeStore, clock: Clock, scheduler: Scheduler
) -> None:
    team = (
        await caller.data(
            'mutation { createTeam(input: {name: "T", memberIds: ["a"], managerId: "boss"}) '
            "{ id } }"
        )
    )["createTeam"]
    await create_rule(
        caller,
        name="Escalate overdue",
        trigger="TASK_OVERDUE",
        conditions=[{"path": "task.priority", "op": "IN", "value": ["high", "urgent"]}],
        actions=[{"type": "ESCALATE", "escalateMode": "REASSIGN", "body": "{{task.title}}"}],
    )
    task = (
        await caller.data(
            'mutation($t: ID!, $d: DateTime) { createTask(input: {title: "Renewal", '
            "priority: URGENT, teamId: $t, dueAt: $d}) { id assigneeId } }",
            {"t": team["id"], "d": (T0 + timedelta(minutes=1)).isoformat()},
        )
    )["createTask"]
    assert task["assigneeId"] == "a"
    clock.advance(minutes=2)
    await scheduler.tick()
    [overdue] = store.events_of(contract.TASK_OVERDUE)
    await inbound.deliver(overdue)
    [stored] = await store.for_workspace("w1").get_tasks([task["id"]])
    assert stored.assignee_id == "boss"
    escalation = [
        n.data
        for n in store.events_of(contract.NOTIFICATION_CREATED)
        if n.data["reason"] == "escalation"
    ]
    assert escalation == [
        {
            **escalation[0],
            "recipientUserId": "boss",
            "taskId": task["id"],
            "body": "Renewal",
        }
    ]


async def test_interaction_logged_rule_creates_a_follow_up(
    caller: Any, inbound: Inbound, store: FakeStore
) -> None:
    await create_rule(
        caller,
        name="Follow up inbound calls",
        trigger="INTERACTION_LOGGED",
        conditions=[
            {"path": "kind", "op": "EQ", "value": "call"},
            {"path": "direction", "op": "EXISTS"},
        ],
        actions=[
            {
                "type": "CREATE_TASK",
                "task": {
                    "title": "Follow up: {{subject}}",
                    "type": "FOLLOW_UP",
                    "dueOffsetHours": 4,
                    "assignee": {"rule": "USER", "userId": "sdr"},
                },
            }
        ],
    )
    await inbound.deliver(examples.interaction_logged(contact_id="c9"))
    [task] = await store.for_workspace("w1").find_tasks(TaskFilter(), T0)
    assert (task.title, task.type, task.assignee_id, task.contact_id) == (
        "Follow up: Pricing question",
        "follow_up",
        "sdr",
        "c9",
    )


def email_captured(stage: str, revision: int = 1, message: str = "m1") -> CloudEvent:
    """What the capture service publishes for an email on an open deal of its contact."""
    payload = capture.EmailCaptured(
        interaction_id=f"email-{message}",
        revision=revision,
        kind="email",
        occurred_at=T0,
        direction="inbound",
        subject="Can we sign this week?",
        contact_ids=["c7"],
        deal_id="deal-7",
        deal=capture.DealRef(id="deal-7", stage_key=stage, status="open", owner_id="owner-7"),
        logged_by="rita",
        message_id=f"<{message}@acme.example>",
        thread_id=f"<{message}@acme.example>",
        channel="smtp",
    )
    return new_event(
        event_type=capture.EMAIL_CAPTURED,
        source="crm/capture",
        workspace="w1",
        subject=payload.interaction_id,
        data=payload.wire(),
    )


async def test_a_captured_email_on_a_deal_in_negotiation_makes_a_task_for_its_owner(
    caller: Any, inbound: Inbound, store: FakeStore
) -> None:
    """The issue's example: an email from a contact with an open deal in negotiation ->
    a task for the deal's owner, once per email (its later revisions do not count)."""
    await create_rule(
        caller,
        name="Answer negotiation mail",
        trigger="EMAIL_CAPTURED",
        conditions=[
            {"path": "deal.stageKey", "op": "EQ", "value": "negotiation"},
            {"path": "direction", "op": "EQ", "value": "inbound"},
            {"path": "revision", "op": "EQ", "value": 1},
        ],
        actions=[{"type": "CREATE_TASK", "task": {"title": "Answer: {{subject}}"}}],
    )
    await inbound.deliver(email_captured("negotiation"))
    await inbound.deliver(email_captured("negotiation", revision=2))  # matched again later
    await inbound.deliver(email_captured("qualify", message="m2"))  # another stage
    [task] = await store.for_workspace("w1").find_tasks(TaskFilter(), T0)
    assert (task.title, task.assignee_id, task.deal_id, task.contact_id) == (
        "Answer: Can we sign this week?",
        "owner-7",  # OWNER: the deal's owner, not the rep who captured it
        "deal-7",
        "c7",
    )


async def test_rule_validation_errors(caller: Any) -> None:
    bad = {**BIG_DEAL_RULE, "conditions": [{"path": "x", "op": "IN", "value": 3}]}
    error = await caller.error(CREATE_RULE, {"in": bad})
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "input.conditions.0"}
    bad = {**BIG_DEAL_RULE, "actions": [{"type": "NOTIFY"}]}
    error = await caller.error(CREATE_RULE, {"in": bad})
    assert error["extensions"]["field"] == "input.actions.0.userId"
    bad = {**BIG_DEAL_RULE, "actions": []}
    error = await caller.error(CREATE_RULE, {"in": bad})
    assert error["extensions"]["field"] == "input.actions"
    bad = {**BIG_DEAL_RULE, "actions": [{"type": "ESCALATE"}]}
    error = await caller.error(CREATE_RULE, {"in": bad})
    assert error["extensions"]["field"] == "input.actions.0.escalateMode"


async def test_update_list_and_delete_rules(caller: Any) -> None:
    rule = await create_rule(caller, **BIG_DEAL_RULE)
    data = await caller.data(
        """mutation($id: ID!) { updateAutomationRule(id: $id, input: {name: "Renamed",
        conditions: []}) { name conditions { path } } }""",
        {"id": rule["id"]},
    )
    assert data["updateAutomationRule"] == {"name": "Renamed", "conditions": []}
    listed = await caller.data("{ automationRules(trigger: DEAL_STAGE_CHANGED) { id name } }")
    assert listed["automationRules"] == [{"id": rule["id"], "name": "Renamed"}]
    deleted = await caller.data(
        "mutation($id: ID!) { deleteAutomationRule(id: $id) }", {"id": rule["id"]}
    )
    assert deleted["deleteAutomationRule"] == rule["id"]
    error = await caller.error(
        "mutation($id: ID!) { deleteAutomationRule(id: $id) }", {"id": rule["id"]}
    )
    assert error["extensions"]["code"] == "NOT_FOUND"


def test_the_trigger_table_drives_the_api_and_the_consumers(inbound: Inbound) -> None:
    """A trigger is one entry of `TRIGGERS`: the GraphQL enum offers it and a rules
    consumer (one durable per owning service, declared in crm_contracts.access) hears it."""
    assert [t.value for t in RuleTrigger] == [t.name for t in TRIGGERS]
    rules = [sub for sub in inbound.subscriptions if sub.durable.startswith("tasks-rules-")]
    heard = {(sub.durable, subject) for sub in rules for subject in sub.subjects}
    assert heard == {(f"tasks-rules-{service_of(t.subject)}", t.subject) for t in TRIGGERS}
    assert not any(sub.record_processed for sub in rules)  # runs are idempotent by id
    # A burst behind (an import's events) is taken in fetches of up to RULES_FETCH.
    assert {sub.fetch for sub in rules} == {RULES_FETCH}
    [playbooks] = [sub for sub in inbound.subscriptions if sub.durable == "tasks-playbooks"]
    assert playbooks.workers == 4 and playbooks.subjects == ["crm.deals.deal.stage_changed.v1"]
