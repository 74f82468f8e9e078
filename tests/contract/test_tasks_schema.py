"""Tasks service contracts: the committed SDL is current, and every event it publishes (and
each it consumes) validates against the shared payload models."""

from __future__ import annotations

import pytest

from crm_contracts import deals
from crm_contracts import tasks as contract
from crm_contracts.envelope import SUBJECT_PATTERN, CloudEvent, service_of
from crm_kit.paths import REPO_ROOT
from crm_tasks.events import examples
from crm_tasks.export_schema import sdl

PUBLISHED = examples.published_examples()


def test_committed_schema_is_current() -> None:
    committed = (REPO_ROOT / "services" / "tasks" / "schema.graphql").read_text()
    assert committed == sdl(), (
        "run: python -m crm_tasks.export_schema > services/tasks/schema.graphql"
    )


def test_schema_is_a_federation_2_9_subgraph_with_the_acceptance_names() -> None:
    text = sdl()
    assert 'schema @link(url: "https://specs.apollo.dev/federation/v2.9"' in text
    for needle in (
        'type Task @key(fields: "id")',
        'type Deal @key(fields: "id")',
        'type Contact @key(fields: "id")',
        "createTask(input: CreateTaskInput!): Task!",
        "completeTask(id: ID!, outcome: String = null): Task!",
        "createTeam(input: CreateTeamInput!): Team!",
        "createAutomationRule(input: CreateAutomationRuleInput!): AutomationRule!",
        "myTasks: [Task!]!",
        "tasks(status: TaskStatus = null): [Task!]!",
        "source: TaskSourceKind!",
    ):
        assert needle in text, needle


def test_every_published_subject_has_an_example() -> None:
    subjects = {
        value
        for name, value in vars(contract).items()
        if name.isupper() and isinstance(value, str) and value.startswith("crm.")
    }
    assert subjects == set(PUBLISHED)


@pytest.mark.parametrize("subject", sorted(PUBLISHED))
def test_published_examples_validate_on_both_sides(subject: str) -> None:
    event = PUBLISHED[subject]
    assert SUBJECT_PATTERN.match(event.type) and service_of(event.type) == "tasks"
    # Producer side: what the service builds is what the contract says.
    model = examples.PAYLOAD_MODELS[subject]
    assert model.model_validate(event.data).wire() == event.data
    # Consumer side: parse the wire bytes as another service would.
    received = CloudEvent.from_json(event.to_json())
    assert received.type == subject and received.workspace == "demo"
    model.model_validate(received.data)


def test_deals_reads_what_it_needs_from_task_completed() -> None:
    received = CloudEvent.from_json(PUBLISHED[contract.TASK_COMPLETED].to_json())
    completed = contract.TaskCompleted.model_validate(received.data)
    assert completed.task.source.kind == "playbook"
    assert completed.task.source.template_key == "intro-call"
    assert completed.task.deal_id
    assert completed.on_time is True


def test_consumed_examples_match_the_producers_contracts() -> None:
    change = examples.stage_changed(stage_change_id="sc-1")
    parsed = deals.DealStageChanged.model_validate(change.data)
    assert [t.key for t in parsed.playbook] == ["intro-call", "send-deck"]
    assert deals.DealClosed.model_validate(examples.deal_closed().data).deal.status == "won"
