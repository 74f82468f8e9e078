"""Training and applying the win model through the schema with the in-memory store:
estimates written only where they change (one `deal.updated` each), estimates for deals
created or moved later, roles and input errors, the cache, and the periodic retrain."""

from __future__ import annotations

from typing import Any

from crm_contracts import deals as contract
from crm_deals.store.memory import MemoryDatabase
from crm_deals.store.win_models import MemoryWinModelStores, ModelCache
from crm_deals.usecases.win_model import RetrainScheduler

CREATE = """mutation($input: CreateDealInput!) {
  createDeal(input: $input) { id probability modelProbability stageProbability }
}"""
WON = "mutation($id: ID!) { closeDealWon(id: $id) { id } }"
LOST = 'mutation($id: ID!) { closeDealLost(id: $id, reason: "price") { id } }'
TRAIN = """mutation($p: ID) { trainWinModel(pipelineId: $p) {
  pipelineId trainingDeals priorWeight trainedBy
  stages { key defaultProbability samples wins winRate estimate
    ageBuckets { minDays maxDays samples wins winRate estimate } }
  accuracy { testDeals predictions brierScore baselineBrierScore calibration { count } } } }"""
MODEL = """query($p: ID) { winModel(pipelineId: $p) {
  pipelineId trainingDeals stages { key samples } } }"""
DEAL = "query($id: ID!) { deal(id: $id) { probability modelProbability probabilityOverride } }"
MOVE = """mutation($id: ID!, $s: String!) {
  moveDeal(id: $id, stageKey: $s) { modelProbability probability } }"""


async def create(gql: Any, stage: str = "engaging", **fields: Any) -> str:
    values = {"title": "Deal", "amount": "100", "stageKey": stage, **fields}
    return (await gql.data(CREATE, {"input": values}))["createDeal"]["id"]


async def history(gql: Any, won: int, lost: int, days: float = 5) -> None:
    """`won` + `lost` deals that spent `days` in engaging, then closed."""
    ids = [await create(gql) for _ in range(won + lost)]
    gql.clock.advance(days=days)
    for i, deal_id in enumerate(ids):
        await gql.data(WON if i < won else LOST, {"id": deal_id})


def updated_events(db: MemoryDatabase) -> list[Any]:
    return [
        e
        for e in db.events(contract.DEAL_UPDATED)
        if e.data["changedFields"] == ["modelProbability"]
    ]


async def test_train_learns_stage_rates_and_writes_only_changed_estimates(gql: Any) -> None:
    await history(gql, won=8, lost=2)
    fresh = await create(gql)
    prospect = await create(gql, stage="prospecting")
    model = (await gql.data(TRAIN))["trainWinModel"]
    assert model["pipelineId"] == "w1:default" and model["trainingDeals"] == 10
    assert model["priorWeight"] == 10 and model["trainedBy"] == "alice"
    stages = {s["key"]: s for s in model["stages"]}
    # Engaging: (8 + 10 x 0.40) / 20 = 0.60; prospecting: no closed deal was there.
    assert stages["engaging"]["samples"] == 10 and stages["engaging"]["wins"] == 8
    assert stages["engaging"]["winRate"] == 0.6 and stages["engaging"]["estimate"] == 60
    assert stages["prospecting"]["samples"] == 0 and stages["prospecting"]["estimate"] == 10
    assert model["accuracy"]["testDeals"] == 2
    assert model["accuracy"]["predictions"] == 2

    fresh_deal = (await gql.data(DEAL, {"id": fresh}))["deal"]
    assert fresh_deal == {"probability": 60, "modelProbability": 60, "probabilityOverride": None}
    prospect_deal = (await gql.data(DEAL, {"id": prospect}))["deal"]
    assert prospect_deal["modelProbability"] == 10 and prospect_deal["probability"] == 10
    # One deal.updated per open deal whose estimate changed (from none), none for closed.
    events = updated_events(gql.db)
    assert sorted(e.subject for e in events) == sorted([fresh, prospect])
    assert {e.data["deal"]["probability"] for e in events} == {60, 10}
    trained = gql.db.events(contract.WIN_MODEL_TRAINED)
    assert len(trained) == 1 and trained[0].data["trainingDeals"] == 10
    contract.WinModelTrained.model_validate(trained[0].data)

    # Retraining on the same data changes no estimate: nothing written.
    await gql.data(TRAIN)
    assert len(updated_events(gql.db)) == 2
    assert len(gql.db.events(contract.WIN_MODEL_TRAINED)) == 2


async def test_deals_created_or_moved_after_training_get_the_estimate(gql: Any) -> None:
    await history(gql, won=8, lost=2)
    engaging = {"title": "x", "amount": "1", "stageKey": "engaging"}
    before = (await gql.data(CREATE, {"input": engaging}))["createDeal"]
    assert before["modelProbability"] is None and before["probability"] == 40
    await gql.data(TRAIN)
    created = (await gql.data(CREATE, {"input": engaging}))["createDeal"]
    assert created["modelProbability"] == 60 and created["probability"] == 60
    assert created["stageProbability"] == 40
    # Moving back to prospecting (no criteria backwards): the model knows no closed deal
    # there, so its estimate is the stage default.
    moved = (await gql.data(MOVE, {"id": created["id"], "s": "prospecting"}))["moveDeal"]
    assert moved == {"modelProbability": 10, "probability": 10}
    # A manual override still wins over the model.
    with_override = {**engaging, "probabilityOverride": 15}
    overridden = (await gql.data(CREATE, {"input": with_override}))["createDeal"]
    assert overridden["modelProbability"] == 60 and overridden["probability"] == 15
    # Closing keeps the last estimate (what was predicted), the outcome is effective.
    await gql.data(WON, {"id": overridden["id"]})
    closed = (await gql.data(DEAL, {"id": overridden["id"]}))["deal"]
    assert closed["modelProbability"] == 60 and closed["probability"] == 100


async def test_query_roles_and_input_errors(gql: Any) -> None:
    viewer = gql.as_user(roles="viewer")
    assert (await viewer.data(MODEL))["winModel"] is None  # never trained
    for roles in ("rep", "viewer"):
        error = await gql.as_user(roles=roles).error(TRAIN)
        assert error["extensions"]["code"] == "FORBIDDEN", roles
    manager = gql.as_user(roles="manager")
    assert (await manager.data(TRAIN))["trainWinModel"]["trainingDeals"] == 0
    assert (await viewer.data(MODEL))["winModel"]["pipelineId"] == "w1:default"
    error = await viewer.error(MODEL, {"p": "nope"})
    assert error["extensions"] == {"code": "NOT_FOUND", "field": "pipelineId"}
    error = await manager.error(TRAIN, {"p": "nope"})
    assert error["extensions"] == {"code": "NOT_FOUND", "field": "pipelineId"}
    error = await manager.error(TRAIN, {"p": "  "})
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "pipelineId"}
    # Another workspace has no model, and cannot read this one's by its pipeline id.
    other = gql.as_user(workspace="w2", roles="admin")
    assert (await other.data(MODEL))["winModel"] is None
    error = await other.error(MODEL, {"p": "w1:default"})
    assert error["extensions"]["code"] == "NOT_FOUND"


async def test_model_cache_serves_reads_until_a_retrain_invalidates_it(db: MemoryDatabase) -> None:
    now = [0.0]
    stores = MemoryWinModelStores(db, ModelCache(ttl=60, clock=lambda: now[0]))
    store = stores.for_workspace("w1")
    assert await store.get_model("p1") is None
    assert await store.get_model("p1") is None
    assert stores.reads == 1  # the absence is cached too
    await store.save_model({"_id": "w1:p1", "pipeline_id": "p1", "trained_at": None}, [])
    assert (await store.get_model("p1"))["pipeline_id"] == "p1"
    assert stores.reads == 2
    await store.get_model("p1")
    assert stores.reads == 2
    now[0] = 61.0  # another replica's retrain is seen after the TTL
    await store.get_model("p1")
    assert stores.reads == 3
    # Scoped: another workspace does not see it.
    assert await stores.for_workspace("w2").get_model("p1") is None


async def test_periodic_retrain_once_per_period_across_replicas(gql: Any) -> None:
    await history(gql, won=8, lost=2)
    await gql.data(TRAIN)
    open_id = await create(gql)
    assert (await gql.data(DEAL, {"id": open_id}))["deal"]["modelProbability"] == 60
    replicas = [
        RetrainScheduler(
            gql.db,
            MemoryWinModelStores(gql.db),
            period_hours=24,
            clock=gql.clock,
        )
        for _ in range(2)
    ]
    assert await replicas[0].run_once() == []  # trained less than a period ago
    await history(gql, won=0, lost=10, days=0.5)  # the world changed since training
    gql.clock.advance(hours=25)
    results = [await r.run_once() for r in replicas]
    assert results == [[("w1", "w1:default")], []]  # one replica per period
    assert len(gql.db.events(contract.WIN_MODEL_TRAINED)) == 2
    # (8 + 4) / 30 = 0.40 now; the open deal follows, written by the system user.
    deal = (await gql.data(DEAL, {"id": open_id}))["deal"]
    assert deal["modelProbability"] == 40
    last = updated_events(gql.db)[-1]
    assert last.subject == open_id
    assert replicas[0].check_seconds == 600.0
