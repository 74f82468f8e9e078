"""handOverDeals through the schema (store and read index): roles, validation, only open
deals of the old owner move, each through the deal update path, one summary event, and a
repeat moves nothing."""

from __future__ import annotations

from typing import Any

from crm_contracts import deals as contract
from crm_deals.config import HANDOVERS

CREATE = """mutation($input: CreateDealInput!) { createDeal(input: $input) { id ownerId } }"""
HAND_OVER = """mutation($input: HandOverDealsInput!) {
  handOverDeals(input: $input) { fromOwnerId toOwnerId moved dealIds handedOverAt handoverId }
}"""
DEAL = """query($id: ID!) { deal(id: $id) { id ownerId status
  ownerChanges { fromOwnerId toOwnerId by handoverId note } } }"""
PIPELINE = """mutation { createPipeline(input: {name: "Renewals", stages: [
  {key: "open", name: "Open", probability: 50}]}) { id } }"""


async def deal(gql: Any, owner: str, **fields: Any) -> str:
    values = {"title": "Rack", "amount": "100.00", "ownerId": owner, **fields}
    return (await gql.data(CREATE, {"input": values}))["createDeal"]["id"]


async def hand_over(gql: Any, **fields: Any) -> dict[str, Any]:
    values = {"fromOwnerId": "rep-a", "toOwnerId": "rep-b", **fields}
    return (await gql.data(HAND_OVER, {"input": values}))["handOverDeals"]


async def test_moves_open_deals_of_the_owner_only_and_a_repeat_moves_nothing(
    gql: Any, fake: Any
) -> None:
    a1, a2 = await deal(gql, "rep-a"), await deal(gql, "rep-a")
    won = await deal(gql, "rep-a")
    await gql.data("mutation($id: ID!) { closeDealWon(id: $id) { id } }", {"id": won})
    other = await deal(gql, "rep-c")

    done = await hand_over(gql, note="territory change")
    assert done["moved"] == 2 and sorted(done["dealIds"]) == sorted([a1, a2])
    assert done["fromOwnerId"] == "rep-a" and done["toOwnerId"] == "rep-b"
    for deal_id in (a1, a2):
        found = (await gql.data(DEAL, {"id": deal_id}))["deal"]
        assert found["ownerId"] == "rep-b"
        assert found["ownerChanges"] == [
            {
                "fromOwnerId": "rep-a",
                "toOwnerId": "rep-b",
                "by": "alice",
                "handoverId": done["handoverId"],
                "note": "territory change",
            }
        ]
    assert (await gql.data(DEAL, {"id": won}))["deal"]["ownerId"] == "rep-a"
    assert (await gql.data(DEAL, {"id": other}))["deal"]["ownerId"] == "rep-c"

    updated = [
        e for e in fake.events(contract.DEAL_UPDATED) if e.data["changedFields"] == ["ownerId"]
    ]
    assert sorted(e.subject for e in updated) == sorted([a1, a2])
    [summary] = fake.events(contract.DEALS_HANDED_OVER)
    payload = contract.DealsHandedOver.model_validate(summary.data)
    assert sorted(payload.deal_ids) == sorted([a1, a2])
    assert (payload.from_owner_id, payload.to_owner_id) == ("rep-a", "rep-b")
    assert payload.note == "territory change" and payload.handed_over_by == "alice"
    assert payload.workspace_id == "w1" and summary.workspace == "w1"
    assert list(fake.collections[HANDOVERS]) == [done["handoverId"]]

    events_before = len(fake.events())
    again = await hand_over(gql, note="territory change")
    assert again["moved"] == 0 and again["dealIds"] == [] and again["handoverId"] is None
    assert len(fake.events()) == events_before


async def test_limited_to_one_pipeline(gql: Any, fake: Any) -> None:
    pipeline = (await gql.data(PIPELINE))["createPipeline"]["id"]
    in_default = await deal(gql, "rep-a")
    in_other = await deal(gql, "rep-a", pipelineId=pipeline)
    done = await hand_over(gql, pipelineId=pipeline)
    assert done["dealIds"] == [in_other]
    assert (await gql.data(DEAL, {"id": in_default}))["deal"]["ownerId"] == "rep-a"
    [summary] = fake.events(contract.DEALS_HANDED_OVER)
    assert summary.data["pipelineId"] == pipeline


async def test_handing_back_and_forth_sends_a_summary_each_time(gql: Any, fake: Any) -> None:
    deal_id = await deal(gql, "rep-a")
    assert (await hand_over(gql))["moved"] == 1
    assert (await hand_over(gql, fromOwnerId="rep-b", toOwnerId="rep-a"))["moved"] == 1
    assert (await hand_over(gql))["moved"] == 1
    summaries = fake.events(contract.DEALS_HANDED_OVER)
    assert len({e.id for e in summaries}) == 3
    changes = (await gql.data(DEAL, {"id": deal_id}))["deal"]["ownerChanges"]
    assert [c["toOwnerId"] for c in changes] == ["rep-b", "rep-a", "rep-b"]


async def test_roles_and_validation(gql: Any, fake: Any) -> None:
    await deal(gql, "rep-a")
    for roles in ("rep", "viewer"):
        error = await gql.as_user(roles=roles).error(
            HAND_OVER, {"input": {"fromOwnerId": "rep-a", "toOwnerId": "rep-b"}}
        )
        assert error["extensions"]["code"] == "FORBIDDEN", roles
    cases = [
        ({"fromOwnerId": " ", "toOwnerId": "rep-b"}, "input.fromOwnerId"),
        ({"fromOwnerId": "rep-a", "toOwnerId": ""}, "input.toOwnerId"),
        ({"fromOwnerId": "rep-a", "toOwnerId": " rep-a "}, "input.toOwnerId"),
        ({"fromOwnerId": "rep-a", "toOwnerId": "rep-b", "pipelineId": " "}, "input.pipelineId"),
        ({"fromOwnerId": "rep-a", "toOwnerId": "rep-b", "note": "x" * 501}, "input.note"),
    ]
    for values, field in cases:
        error = await gql.error(HAND_OVER, {"input": values})
        assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": field}, values
    error = await gql.error(
        HAND_OVER, {"input": {"fromOwnerId": "rep-a", "toOwnerId": "rep-b", "pipelineId": "nope"}}
    )
    assert error["extensions"]["code"] == "NOT_FOUND"
    assert error["extensions"]["field"] == "input.pipelineId"
    # Nothing moved by any refused call; a manager may.
    assert not fake.events(contract.DEALS_HANDED_OVER)
    done = await gql.as_user(subject="boss", roles="manager").data(
        HAND_OVER, {"input": {"fromOwnerId": "rep-a", "toOwnerId": "rep-b"}}
    )
    assert done["handOverDeals"]["moved"] == 1


async def test_update_deal_owner_records_an_owner_change(gql: Any) -> None:
    deal_id = await deal(gql, "rep-a")
    await gql.data(
        'mutation($id: ID!) { updateDeal(id: $id, input: {ownerId: "rep-z"}) { id } }',
        {"id": deal_id},
    )
    changes = (await gql.data(DEAL, {"id": deal_id}))["deal"]["ownerChanges"]
    assert changes == [
        {
            "fromOwnerId": "rep-a",
            "toOwnerId": "rep-z",
            "by": "alice",
            "handoverId": None,
            "note": None,
        }
    ]
