"""Deals through the schema with the in-memory store: creation, money input, stage
changes with exit criteria, history, closing, reopening, errors and roles."""

from __future__ import annotations

from typing import Any

from crm_contracts import deals as contract

CREATE = """mutation($input: CreateDealInput!) {
  createDeal(input: $input) { id stage { key } amount currency weightedAmount probability
    status ownerId company { id } primaryContact { id } contacts { id } pipelineVersion }
}"""
MOVE = """mutation($id: ID!, $stage: String!, $override: Boolean! = false) {
  moveDeal(id: $id, stageKey: $stage, override: $override) {
    id stage { key } probability forecastCategory }
}"""
DEAL = """query($id: ID!) { deal(id: $id) { id status stage { key } lostReason closedAt
  stageHistory { fromStage toStage at by secondsInFromStage pipelineVersion kind } } }"""


async def create(gql: Any, **fields: Any) -> dict[str, Any]:
    base = {"title": "Rack upgrade", "amount": "1250.50", "currency": "USD"}
    return (await gql.data(CREATE, {"input": {**base, **fields}}))["createDeal"]


async def test_create_deal_acceptance_shape(gql: Any, fake: Any) -> None:
    deal = await create(gql, companyId="co1", primaryContactId="p1", pipelineId="w1:default")
    assert deal["stage"] == {"key": "prospecting"}
    assert deal["amount"] == "1250.50" and deal["weightedAmount"] == "125.05"
    assert deal["probability"] == 10 and deal["status"] == "OPEN"
    assert deal["ownerId"] == "alice"
    assert deal["company"] == {"id": "co1"} and deal["primaryContact"] == {"id": "p1"}
    assert deal["contacts"] == [{"id": "p1"}]
    types = [e.type for e in fake.events()]
    assert contract.DEAL_CREATED in types and contract.DEAL_STAGE_CHANGED in types


async def test_amount_input_errors_name_the_field(gql: Any) -> None:
    for amount, currency in (("12.345", "USD"), ("1,000", "USD"), ("abc", "USD"), ("10.5", "JPY")):
        error = await gql.error(
            CREATE, {"input": {"title": "T", "amount": amount, "currency": currency}}
        )
        assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "input.amount"}, amount
    error = await gql.error(CREATE, {"input": {"title": "T", "amount": "1", "currency": "XXX"}})
    assert error["extensions"]["field"] == "input.currency"
    error = await gql.error(CREATE, {"input": {"title": " ", "amount": "1"}})
    assert error["extensions"]["field"] == "input.title"
    jpy = await create(gql, amount="1250", currency="JPY")
    assert jpy["amount"] == "1250"
    kwd = await create(gql, amount="1.234", currency="KWD")
    assert kwd["amount"] == "1.234"


async def test_move_blocked_lists_every_unmet_criterion_and_changes_nothing(
    gql: Any, fake: Any
) -> None:
    deal = await create(gql)
    error = await gql.error(MOVE, {"id": deal["id"], "stage": "qualification"})
    assert error["extensions"]["code"] == "PRECONDITION_FAILED"
    assert [u["criterion"] for u in error["extensions"]["unmet"]] == ["field:company"]
    events_before = len(fake.events())
    await gql.data(
        'mutation($id: ID!) { updateDeal(id: $id, input: {companyId: "co1"}) { id } }',
        {"id": deal["id"]},
    )
    await gql.data(MOVE, {"id": deal["id"], "stage": "qualification"})
    error = await gql.error(MOVE, {"id": deal["id"], "stage": "proposal"})
    # Qualification's criteria (the stage left) and engaging's (skipped on the way).
    assert [u["criterion"] for u in error["extensions"]["unmet"]] == [
        "field:expectedCloseDate",
        "playbook:discovery_call",
        "primaryContact",
        "playbook:product_demo",
    ]
    state = (await gql.data(DEAL, {"id": deal["id"]}))["deal"]
    assert state["stage"]["key"] == "qualification"
    assert len(state["stageHistory"]) == 2
    # updateDeal emitted one event, the move two (stage_changed); the refused move none.
    assert len(fake.events()) == events_before + 2


async def test_moving_back_needs_no_criteria_and_history_is_recorded(
    gql: Any, clock: Any, fake: Any
) -> None:
    deal = await create(gql, companyId="co1")
    clock.advance(hours=2)
    # Skipping qualification, whose criteria do not hold: the admin's override.
    moved = (await gql.data(MOVE, {"id": deal["id"], "stage": "engaging", "override": True}))[
        "moveDeal"
    ]
    assert moved["probability"] == 40 and moved["forecastCategory"] == "BEST_CASE"
    clock.advance(hours=1)
    await gql.data(MOVE, {"id": deal["id"], "stage": "prospecting"})
    history = (await gql.data(DEAL, {"id": deal["id"]}))["deal"]["stageHistory"]
    assert [(h["fromStage"], h["toStage"]) for h in history] == [
        (None, "prospecting"),
        ("prospecting", "engaging"),
        ("engaging", "prospecting"),
    ]
    assert [h["secondsInFromStage"] for h in history] == [None, 7200, 3600]
    assert history[1]["by"] == "alice" and history[1]["kind"] == "move"
    changed = fake.events(contract.DEAL_STAGE_CHANGED)
    payload = contract.DealStageChanged.model_validate(changed[1].data)
    assert payload.to_stage == "engaging" and payload.seconds_in_from_stage == 7200
    assert [t.key for t in payload.playbook] == ["product_demo", "technical_review"]
    assert payload.playbook[1].assignee.rule == "team"
    ids = {e.data["stageChangeId"] for e in changed}
    assert len(ids) == len(changed)


async def test_close_won_lost_and_reopen(gql: Any, fake: Any) -> None:
    won = await create(gql)
    data = await gql.data(
        "mutation($id: ID!) { closeDealWon(id: $id) {"
        " status probability weightedAmount closedAt } }",
        {"id": won["id"]},
    )
    assert data["closeDealWon"]["status"] == "WON" and data["closeDealWon"]["probability"] == 100
    assert data["closeDealWon"]["weightedAmount"] == "1250.50"
    assert fake.events(contract.DEAL_WON)

    lost = await create(gql)
    error = await gql.error(
        "mutation($id: ID!) { closeDealLost(id: $id) { id } }", {"id": lost["id"]}
    )
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "reason"}
    error = await gql.error(
        'mutation($id: ID!) { closeDealLost(id: $id, reason: "  ") { id } }', {"id": lost["id"]}
    )
    assert error["extensions"]["field"] == "reason"
    await gql.data(
        'mutation($id: ID!) { closeDealLost(id: $id, reason: "Budget cut") { id } }',
        {"id": lost["id"]},
    )
    state = (await gql.data(DEAL, {"id": lost["id"]}))["deal"]
    assert state["status"] == "LOST" and state["lostReason"] == "Budget cut"
    assert state["stageHistory"][-1]["kind"] == "lost"
    closed = contract.DealClosed.model_validate(fake.events(contract.DEAL_LOST)[0].data)
    assert closed.lost_reason == "Budget cut"

    error = await gql.error(MOVE, {"id": lost["id"], "stage": "engaging"})
    assert error["extensions"]["code"] == "PRECONDITION_FAILED"
    refused = await gql.error(
        'mutation($id: ID!) { reopenDeal(id: $id, stageKey: "engaging") { id } }',
        {"id": lost["id"]},
    )
    assert refused["extensions"]["code"] == "PRECONDITION_FAILED"
    assert "playbook:discovery_call" in refused["message"]
    reopened = await gql.data(
        'mutation($id: ID!) { reopenDeal(id: $id, stageKey: "engaging", override: true) {'
        " status stage { key } lostReason } }",
        {"id": lost["id"]},
    )
    assert reopened["reopenDeal"] == {
        "status": "OPEN",
        "stage": {"key": "engaging"},
        "lostReason": None,
    }
    assert fake.events(contract.DEAL_REOPENED)
    last_change = fake.events(contract.DEAL_STAGE_CHANGED)[-1]
    assert last_change.data["toStage"] == "engaging" and last_change.data["playbook"]


async def test_errors_for_unknown_things(gql: Any) -> None:
    error = await gql.error(MOVE, {"id": "nope", "stage": "engaging"})
    assert error["extensions"]["code"] == "NOT_FOUND"
    deal = await create(gql)
    error = await gql.error(MOVE, {"id": deal["id"], "stage": "nowhere"})
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "stageKey"}
    error = await gql.error(MOVE, {"id": deal["id"], "stage": "lost"})
    assert error["extensions"]["field"] == "stageKey"
    error = await gql.error(CREATE, {"input": {"title": "T", "amount": "1", "pipelineId": "x"}})
    assert error["extensions"] == {"code": "NOT_FOUND", "field": "input.pipelineId"}
    assert (await gql.data(DEAL, {"id": "missing"}))["deal"] is None


async def test_viewers_cannot_write_and_reps_cannot_change_pipelines(gql: Any) -> None:
    viewer = gql.as_user(roles="viewer")
    error = await viewer.error(CREATE, {"input": {"title": "T", "amount": "1"}})
    assert error["extensions"]["code"] == "FORBIDDEN"
    rep = gql.as_user(roles="rep")
    assert (await rep.data(CREATE, {"input": {"title": "T", "amount": "1"}}))["createDeal"]["id"]
    error = await rep.error(
        'mutation { createPipeline(input: {name: "P",'
        ' stages: [{key: "a", name: "A", probability: 5}]}) { id } }'
    )
    assert error["extensions"]["code"] == "FORBIDDEN"


async def test_update_deal_and_probability_override(gql: Any, fake: Any) -> None:
    deal = await create(gql)
    data = await gql.data(
        """mutation($id: ID!) { updateDeal(id: $id, input: {probabilityOverride: 75,
             expectedCloseDate: "2026-03-31",
             customFields: {tier: "gold", seats: 12, score: 4.5}}) {
             probability stageProbability probabilityOverride weightedAmount closeMonth
             customFields } }""",
        {"id": deal["id"]},
    )
    updated = data["updateDeal"]
    assert updated["probability"] == 75 and updated["stageProbability"] == 10
    assert updated["weightedAmount"] == "937.88"  # 93787.5 -> 93788 (half to even)
    assert updated["closeMonth"] == "2026-03"
    assert updated["customFields"] == {"tier": "gold", "seats": 12, "score": 4.5}
    changed = fake.events(contract.DEAL_UPDATED)[-1].data["changedFields"]
    assert set(changed) == {"probabilityOverride", "expectedCloseDate", "customFields"}
    cleared = await gql.data(
        "mutation($id: ID!) { updateDeal(id: $id, input: {probabilityOverride: null})"
        " { probability } }",
        {"id": deal["id"]},
    )
    assert cleared["updateDeal"]["probability"] == 10
    error = await gql.error(
        "mutation($id: ID!, $cf: JSON) { updateDeal(id: $id, input: {customFields: $cf}) { id } }",
        {"id": deal["id"], "cf": {"a.b": 1}},
    )
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "input.customFields.a.b"}
