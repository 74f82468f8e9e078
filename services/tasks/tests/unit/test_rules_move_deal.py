"""The MOVE_DEAL action: an automation rule asks the deals service to move the event's
deal, as the rule (the system on the automation path, a manager's rights); a refusal (exit
criteria unmet) fails the run with the reason after a bounded number of asks; a deals
service that does not answer is retried with the event; each ask names where the run saw
the deal, so a move asked again after the deal moved on is refused and the run ends
SUPERSEDED instead of taking the deal back."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from crm_contracts import tasks as contract
from crm_contracts.envelope import CloudEvent
from crm_kit.context import RequestContext
from crm_kit.testing import Clock
from crm_tasks.events import examples
from crm_tasks.store.port import DealMoveRefused, DealsUnavailable, SeenStage
from crm_tasks.usecases.automation import MOVE_RETRIES, RunAgainLater

from .conftest import FakeStore, Inbound
from .test_rules import RUNS, create_rule

# Where the example event's deal is unless a test says otherwise.
AT_PROPOSAL = SeenStage("proposal", 3)


@dataclass
class FakeDealMoves:
    """The deals service's answers: a move (made only where the mover saw the deal, as
    the deals service does), a refusal per deal, or no answer at all."""

    refusals: dict[str, tuple[str, str]] = field(default_factory=dict)
    unavailable: bool = False
    # Make the move, then lose the answer (as a crash of the asker after deals moved).
    lose_answer: bool = False
    stages: dict[str, SeenStage] = field(default_factory=dict)
    asked: list[tuple[RequestContext, str, str]] = field(default_factory=list)
    expected: list[SeenStage] = field(default_factory=list)
    looked: int = 0

    async def where(self, caller: RequestContext, deal_id: str) -> SeenStage:
        self.looked += 1
        if self.unavailable:
            raise DealsUnavailable("the deals service did not answer (TimeoutError)")
        return self.stages.get(deal_id, AT_PROPOSAL)

    async def move(
        self, caller: RequestContext, deal_id: str, stage_key: str, seen: SeenStage
    ) -> None:
        self.asked.append((caller, deal_id, stage_key))
        self.expected.append(seen)
        if self.unavailable:
            raise DealsUnavailable("the deals service did not answer (TimeoutError)")
        if deal_id in self.refusals:
            raise DealMoveRefused(*self.refusals[deal_id])
        now = self.stages.get(deal_id, AT_PROPOSAL)
        if now.stage_key == stage_key:
            return
        if now != seen:
            raise DealMoveRefused("STAGE_CHANGED", f"deal {deal_id} moved on")
        self.stages[deal_id] = SeenStage(stage_key, (now.sequence or 0) + 1)
        if self.lose_answer:
            raise DealsUnavailable("the deals service did not answer (TimeoutError)")


PROPOSAL_SENT = {
    "name": "Proposal sent: negotiate",
    "trigger": "TASK_COMPLETED",
    "conditions": [{"path": "task.source.templateKey", "op": "EQ", "value": "intro-call"}],
    "actions": [{"type": "MOVE_DEAL", "stageKey": "negotiation"}],
}


def completed_playbook_task() -> CloudEvent:
    event = examples.published_examples()[contract.TASK_COMPLETED]
    event.workspace = "w1"
    return event


@pytest.fixture
def deals() -> FakeDealMoves:
    return FakeDealMoves()


@pytest.fixture
def moving(store: FakeStore, clock: Clock, deals: FakeDealMoves) -> Inbound:
    return Inbound(store, clock, deals)


async def runs_of(caller: Any, rule_id: str) -> list[dict[str, Any]]:
    edges = (await caller.data(RUNS, {"id": rule_id}))["ruleRuns"]["edges"]
    return [edge["node"] for edge in edges]


async def test_a_completed_playbook_task_moves_its_deal_as_the_rule(
    caller: Any, moving: Inbound, deals: FakeDealMoves
) -> None:
    rule = await create_rule(caller, **PROPOSAL_SENT)
    event = completed_playbook_task()
    await moving.deliver(event)
    await moving.deliver(event)  # redelivered: the run is done, nothing asked again
    [(as_, deal_id, stage)] = deals.asked
    assert (deal_id, stage) == (event.data["task"]["dealId"], "negotiation")
    assert as_.workspace_id == "w1"
    assert as_.subject == f"service:tasks:automation:{rule['id']}"
    assert as_.roles == frozenset({"manager"})  # no admin: it can never override criteria
    assert [run["outcome"] for run in await runs_of(caller, rule["id"])] == ["SUCCEEDED"]


async def test_a_move_the_exit_criteria_refuse_fails_the_run_with_the_reason(
    caller: Any, moving: Inbound, deals: FakeDealMoves
) -> None:
    """Asked again on the event's next deliveries (the criteria may be met by an event on
    its way to the deals service), then the run fails with the refusal: no more asks."""
    event = completed_playbook_task()
    deals.refusals[event.data["task"]["dealId"]] = (
        "PRECONDITION_FAILED",
        "leaving 'Proposal' needs exit criteria that are not met: field:nextStep",
    )
    rule = await create_rule(caller, **PROPOSAL_SENT)
    for _ in range(MOVE_RETRIES):
        with pytest.raises(RunAgainLater):  # the consumer naks: redelivered with backoff
            await moving.deliver(event)
    await moving.deliver(event)
    await moving.deliver(event)
    assert len(deals.asked) == MOVE_RETRIES + 1
    [run] = await runs_of(caller, rule["id"])
    assert run["outcome"] == "FAILED"
    assert "PRECONDITION_FAILED" in run["error"] and "field:nextStep" in run["error"]


async def test_criteria_met_by_the_time_of_a_redelivery_move_the_deal(
    caller: Any, moving: Inbound, deals: FakeDealMoves
) -> None:
    event = completed_playbook_task()
    deal_id = event.data["task"]["dealId"]
    deals.refusals[deal_id] = ("PRECONDITION_FAILED", "playbook:intro-call not completed")
    rule = await create_rule(caller, **PROPOSAL_SENT)
    with pytest.raises(RunAgainLater):
        await moving.deliver(event)
    del deals.refusals[deal_id]  # the deals service heard the task's completion meanwhile
    await moving.deliver(event)
    assert [run["outcome"] for run in await runs_of(caller, rule["id"])] == ["SUCCEEDED"]


async def test_other_refusals_fail_the_run_at_once(
    caller: Any, moving: Inbound, deals: FakeDealMoves
) -> None:
    event = completed_playbook_task()
    deals.refusals[event.data["task"]["dealId"]] = ("NOT_FOUND", "no deal")
    rule = await create_rule(caller, **PROPOSAL_SENT)
    await moving.deliver(event)
    [run] = await runs_of(caller, rule["id"])
    assert run["outcome"] == "FAILED" and "NOT_FOUND" in run["error"]


async def test_an_unanswered_move_is_retried_with_the_event_and_then_done(
    caller: Any, moving: Inbound, deals: FakeDealMoves
) -> None:
    rule = await create_rule(caller, **PROPOSAL_SENT)
    event = completed_playbook_task()
    deals.unavailable = True
    with pytest.raises(DealsUnavailable):  # the consumer naks: JetStream redelivers
        await moving.deliver(event)
    assert [run["outcome"] for run in await runs_of(caller, rule["id"])] == ["RUNNING"]
    deals.unavailable = False
    await moving.deliver(event)
    # Deals did not answer the first look at the deal; the redelivery looked and moved.
    assert (deals.looked, len(deals.asked)) == (2, 1)
    assert [run["outcome"] for run in await runs_of(caller, rule["id"])] == ["SUCCEEDED"]


async def test_an_event_without_a_deal_fails_the_run(caller: Any, moving: Inbound) -> None:
    rule = await create_rule(caller, **{**PROPOSAL_SENT, "conditions": []})
    event = completed_playbook_task()
    event.data["task"]["dealId"] = None
    await moving.deliver(event)
    [run] = await runs_of(caller, rule["id"])
    assert run["outcome"] == "FAILED" and "names none" in run["error"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"actions": [{"type": "MOVE_DEAL"}]}, "input.actions.0.stageKey"),
        ({"actions": [{"type": "MOVE_DEAL", "stageKey": "lost"}]}, "input.actions.0.stageKey"),
        ({"actions": [{"type": "MOVE_DEAL", "stageKey": "Bad Key"}]}, "input.actions.0.stageKey"),
        ({"trigger": "CONTACT_CREATED", "conditions": []}, "input.actions.0.type"),
    ],
)
async def test_a_move_deal_action_is_checked_when_the_rule_is_saved(
    caller: Any, change: dict[str, Any], field: str
) -> None:
    error = await caller.error(
        """mutation($in: CreateAutomationRuleInput!) { createAutomationRule(input: $in) { id } }""",
        {"in": {**PROPOSAL_SENT, **change}},
    )
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": field}


async def test_a_move_asked_again_after_the_deal_moved_on_never_takes_it_back(
    caller: Any, moving: Inbound, deals: FakeDealMoves
) -> None:
    """The deal moved, the answer was lost (the run stays RUNNING, its event comes back);
    meanwhile a person took the deal back to the stage the run saw it in. The re-ask
    expects what the first did (kept on the run): refused, recorded, never asked again."""
    rule = await create_rule(caller, **PROPOSAL_SENT)
    event = completed_playbook_task()
    deal_id = event.data["task"]["dealId"]
    deals.lose_answer = True
    with pytest.raises(DealsUnavailable):
        await moving.deliver(event)
    assert deals.stages[deal_id] == SeenStage("negotiation", 4)
    deals.lose_answer = False
    deals.stages[deal_id] = SeenStage("proposal", 5)  # a person moved it back
    await moving.deliver(event)
    assert deals.expected == [AT_PROPOSAL, AT_PROPOSAL]  # the first ask's, not a new look
    assert deals.looked == 1
    [run] = await runs_of(caller, rule["id"])
    assert run["outcome"] == "SUPERSEDED"
    assert "moved on" in run["error"]
    await moving.deliver(event)  # delivered again: the run is over
    assert len(deals.asked) == 2
    assert deals.stages[deal_id] == SeenStage("proposal", 5)


async def test_a_late_stage_event_moves_nothing_that_moved_on(
    caller: Any, moving: Inbound, deals: FakeDealMoves
) -> None:
    """A rule on stage changes, fed an event delivered after the deal moved further: the
    move expects the stage and sequence the event announces, and is refused."""
    rule = await create_rule(
        caller,
        name="Qualified: engage",
        trigger="DEAL_STAGE_CHANGED",
        conditions=[{"path": "toStage", "op": "EQ", "value": "qualification"}],
        actions=[{"type": "MOVE_DEAL", "stageKey": "engaging"}],
    )
    event = examples.stage_changed(to_stage="qualification", playbook=[], stage_sequence=2)
    deals.stages["deal-1"] = SeenStage("proposal", 4)
    await moving.deliver(event)
    assert deals.expected == [SeenStage("qualification", 2)] and deals.looked == 0
    [run] = await runs_of(caller, rule["id"])
    assert run["outcome"] == "SUPERSEDED"
    assert deals.stages["deal-1"] == SeenStage("proposal", 4)
