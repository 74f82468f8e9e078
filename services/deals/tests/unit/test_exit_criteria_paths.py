"""Exit criteria hold on every path into a later stage: createDeal with a `stageKey`,
reopenDeal into a later stage, and an admin's explicit, audited override."""

from __future__ import annotations

from typing import Any

from crm_contracts import deals as contract
from crm_deals.entrypoints.consumers import subscriptions

from .test_consumers_and_concurrency import _task_event as task_completed

CREATE = """mutation($input: CreateDealInput!) {
  createDeal(input: $input) { id stage { key } stageHistory { kind overridden } } }"""
REOPEN = """mutation($id: ID!, $stage: String, $override: Boolean! = false) {
  reopenDeal(id: $id, stageKey: $stage, override: $override) {
    stage { key } stageHistory { kind overridden } } }"""
MOVE = """mutation($id: ID!, $stage: String!, $override: Boolean! = false) {
  moveDeal(id: $id, stageKey: $stage, override: $override) { stage { key }
    stageHistory { kind overridden } } }"""

# Everything qualification asks for except its playbook task.
READY = {
    "title": "Rack",
    "amount": "100",
    "companyId": "co1",
    "primaryContactId": "p1",
    "expectedCloseDate": "2030-01-31",
}


async def test_create_at_a_later_stage_names_every_unmet_criterion(gql: Any, fake: Any) -> None:
    error = await gql.error(
        CREATE, {"input": {"title": "Rack", "amount": "100", "stageKey": "engaging"}}
    )
    assert error["extensions"]["code"] == "PRECONDITION_FAILED"
    assert [u["criterion"] for u in error["extensions"]["unmet"]] == [
        "field:company",
        "field:expectedCloseDate",
        "playbook:discovery_call",
        "primaryContact",
    ]
    assert "field:company" in error["message"] and "Engaging" in error["message"]
    assert fake.events(contract.DEAL_CREATED) == []  # no deal written


async def test_create_at_a_later_stage_with_every_field_but_a_playbook_task(gql: Any) -> None:
    error = await gql.error(CREATE, {"input": {**READY, "stageKey": "engaging"}})
    assert [u["criterion"] for u in error["extensions"]["unmet"]] == ["playbook:discovery_call"]
    # The first stage needs nothing: a create there is as before.
    deal = (await gql.data(CREATE, {"input": {"title": "Rack", "amount": "1"}}))["createDeal"]
    assert deal["stageHistory"] == [{"kind": "create", "overridden": []}]
    # Qualification is passed by nothing but prospecting (a company): that holds.
    at_qualification = await gql.data(CREATE, {"input": {**READY, "stageKey": "qualification"}})
    assert at_qualification["createDeal"]["stage"] == {"key": "qualification"}


async def test_an_admin_override_is_recorded_on_the_history_and_in_the_event(
    gql: Any, fake: Any
) -> None:
    created = await gql.data(CREATE, {"input": {**READY, "stageKey": "engaging", "override": True}})
    deal = created["createDeal"]
    assert deal["stage"] == {"key": "engaging"}
    assert deal["stageHistory"] == [{"kind": "create", "overridden": ["playbook:discovery_call"]}]
    event = fake.events(contract.DEAL_STAGE_CHANGED)[-1]
    changed = contract.DealStageChanged.model_validate(event.data)
    assert changed.overridden_criteria == ["playbook:discovery_call"]


async def test_only_an_admin_may_override(gql: Any, fake: Any) -> None:
    rep = gql.as_user(subject="bob", roles="rep")
    error = await rep.error(CREATE, {"input": {**READY, "stageKey": "engaging", "override": True}})
    assert error["extensions"] == {"code": "FORBIDDEN", "field": "override"}
    # Even where nothing would be overridden: the flag itself is an admin's act.
    error = await rep.error(CREATE, {"input": {"title": "Rack", "amount": "1", "override": True}})
    assert error["extensions"]["code"] == "FORBIDDEN"
    deal = (await rep.data(CREATE, {"input": {"title": "Rack", "amount": "1"}}))["createDeal"]
    error = await rep.error(MOVE, {"id": deal["id"], "stage": "qualification", "override": True})
    assert error["extensions"]["code"] == "FORBIDDEN"


async def test_reopen_into_a_later_stage_checks_the_stages_before_it(gql: Any, fake: Any) -> None:
    deal = (await gql.data(CREATE, {"input": READY}))["createDeal"]
    await gql.data("mutation($id: ID!) { closeDealWon(id: $id) { id } }", {"id": deal["id"]})
    error = await gql.error(REOPEN, {"id": deal["id"], "stage": "proposal"})
    assert error["extensions"]["code"] == "PRECONDITION_FAILED"
    assert [u["criterion"] for u in error["extensions"]["unmet"]] == [
        "playbook:discovery_call",
        "playbook:product_demo",
    ]
    # Into the first stage (the default) nothing is passed.
    first = await gql.data(REOPEN, {"id": deal["id"], "stage": None})
    assert first["reopenDeal"]["stage"] == {"key": "prospecting"}
    await gql.data("mutation($id: ID!) { closeDealWon(id: $id) { id } }", {"id": deal["id"]})
    forced = await gql.data(REOPEN, {"id": deal["id"], "stage": "proposal", "override": True})
    assert forced["reopenDeal"]["stageHistory"][-1] == {
        "kind": "reopen",
        "overridden": ["playbook:discovery_call", "playbook:product_demo"],
    }


async def test_a_forward_move_override_is_audited(gql: Any, fake: Any) -> None:
    deal = (await gql.data(CREATE, {"input": {"title": "Rack", "amount": "1"}}))["createDeal"]
    error = await gql.error(MOVE, {"id": deal["id"], "stage": "qualification"})
    assert [u["criterion"] for u in error["extensions"]["unmet"]] == ["field:company"]
    moved = await gql.data(MOVE, {"id": deal["id"], "stage": "qualification", "override": True})
    assert moved["moveDeal"]["stageHistory"][-1] == {
        "kind": "move",
        "overridden": ["field:company"],
    }
    event = fake.events(contract.DEAL_STAGE_CHANGED)[-1]
    assert event.data["overriddenCriteria"] == ["field:company"]


async def test_a_playbook_with_an_unknown_placeholder_is_refused(gql: Any) -> None:
    create = """mutation($title: String!) { createPipeline(input: {name: "P", stages: [
      {key: "a", name: "A", probability: 10},
      {key: "b", name: "B", probability: 50, playbook: [{key: "t", title: $title}]}]})
      { id stages { playbook { title } } } }"""
    error = await gql.error(create, {"title": "Call {{company.name}}"})
    assert error["extensions"] == {
        "code": "BAD_USER_INPUT",
        "field": "input.stages.1.playbook.0.title",
    }
    assert "company.name" in error["message"]
    saved = await gql.data(create, {"title": "Call about {{deal.title}} ({{deal.amount}})"})
    assert saved["createPipeline"]["stages"][1]["playbook"] == [
        {"title": "Call about {{deal.title}} ({{deal.amount}})"}
    ]


async def test_a_move_that_skips_stages_needs_the_criteria_of_each_one_skipped(
    gql: Any, fake: Any
) -> None:
    """Prospecting -> proposal passes prospecting (left), qualification and engaging
    (skipped): every unmet criterion of the three is named, nothing moves."""
    deal = (await gql.data(CREATE, {"input": {"title": "Rack", "amount": "1"}}))["createDeal"]
    error = await gql.error(MOVE, {"id": deal["id"], "stage": "proposal"})
    assert error["extensions"]["code"] == "PRECONDITION_FAILED"
    assert [u["criterion"] for u in error["extensions"]["unmet"]] == [
        "field:company",
        "field:expectedCloseDate",
        "playbook:discovery_call",
        "primaryContact",
        "playbook:product_demo",
    ]
    assert "skipping 'Qualification', 'Engaging'" in error["message"]
    assert len(fake.events(contract.DEAL_STAGE_CHANGED)) == 1  # the create's only


async def test_a_skip_whose_left_stage_holds_is_still_refused_for_a_skipped_one(
    gql: Any,
) -> None:
    # Everything prospecting and qualification ask for, but not engaging's playbook task.
    deal = (await gql.data(CREATE, {"input": READY}))["createDeal"]
    await gql.data(MOVE, {"id": deal["id"], "stage": "qualification", "override": True})
    error = await gql.error(MOVE, {"id": deal["id"], "stage": "proposal"})
    assert [u["criterion"] for u in error["extensions"]["unmet"]] == [
        "playbook:discovery_call",
        "playbook:product_demo",
    ]
    # Moving back never needs criteria, and an admin's override of a skip is audited.
    back = await gql.data(MOVE, {"id": deal["id"], "stage": "prospecting"})
    assert back["moveDeal"]["stage"] == {"key": "prospecting"}
    forced = await gql.data(MOVE, {"id": deal["id"], "stage": "proposal", "override": True})
    assert forced["moveDeal"]["stageHistory"][-1] == {
        "kind": "move",
        "overridden": ["playbook:discovery_call", "playbook:product_demo"],
    }


async def test_a_skip_over_stages_whose_criteria_hold_moves(gql: Any, fake: Any) -> None:
    deal = (await gql.data(CREATE, {"input": READY}))["createDeal"]
    completed = {s.durable: s for s in subscriptions(fake.scopes)}["deals-task-completed"]
    for key in ("discovery_call", "product_demo"):
        await completed.handle(task_completed(deal["id"], key))
    moved = await gql.data(MOVE, {"id": deal["id"], "stage": "proposal"})
    assert moved["moveDeal"]["stage"] == {"key": "proposal"}
    assert moved["moveDeal"]["stageHistory"][-1] == {"kind": "move", "overridden": []}


async def test_stage_events_carry_their_place_in_the_deals_history(gql: Any, fake: Any) -> None:
    """create 1, close 2, reopen 3: what the tasks service orders a late close by."""
    deal = (await gql.data(CREATE, {"input": READY}))["createDeal"]
    await gql.data("mutation($id: ID!) { closeDealWon(id: $id) { id } }", {"id": deal["id"]})
    await gql.data(REOPEN, {"id": deal["id"], "stage": None})
    changed = [e.data["stageSequence"] for e in fake.events(contract.DEAL_STAGE_CHANGED)]
    assert changed == [1, 2, 3]
    (won,) = fake.events(contract.DEAL_WON)
    (reopened,) = fake.events(contract.DEAL_REOPENED)
    assert won.data["stageSequence"] == 2
    assert reopened.data["stageSequence"] == 3 and reopened.data["reopenedAt"] is not None
