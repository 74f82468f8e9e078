"""`rpc.deals.deal.move` with the stage the mover saw the deal in (`fromStageKey`,
`stageSequence`): a deal still there moves; one already in the target stage is answered as
it is (the same request asked again); one that moved on meanwhile is refused with
STAGE_CHANGED and left alone, even when it came back to the stage the request names (its
sequence tells the difference), so a re-delivered or reordered request never takes a deal
back."""

from __future__ import annotations

from typing import Any

import pytest

from crm_deals.entrypoints.rpc import endpoints
from crm_deals.usecases import deals
from crm_kit.context import RequestContext
from crm_kit.rpc import RpcError

from .conftest import FakeDeals
from .test_graphql_deals import create

ADMIN = RequestContext("w1", "alice", frozenset({"admin"}))


def _handlers(fake: FakeDeals) -> dict[str, Any]:
    return {endpoint.name: endpoint.handler for endpoint in endpoints(fake.scopes)}


async def test_a_move_is_made_only_where_the_mover_saw_the_deal(gql: Any, fake: FakeDeals) -> None:
    deal_id = (await create(gql, companyId="co"))["id"]
    rpc = _handlers(fake)
    seen = await rpc["deal-get"](ADMIN, {"id": deal_id})
    assert (seen["stageKey"], seen["stageSequence"]) == ("prospecting", 1)
    ask = {"id": deal_id, "stageKey": "qualification", "fromStageKey": "prospecting"}
    ask["stageSequence"] = seen["stageSequence"]
    moved = await rpc["deal-move"](ADMIN, ask)
    assert (moved["stageKey"], moved["stageSequence"]) == ("qualification", 2)
    again = await rpc["deal-move"](ADMIN, ask)  # asked again: answered, nothing changed
    assert (again["stageKey"], again["stageSequence"]) == ("qualification", 2)
    # A person takes the deal back; the old request, delivered late, finds it in the stage
    # it names but after two more changes: refused, the deal stays where the person put it.
    await deals.move_deal(fake.scope(), deal_id, "prospecting")
    with pytest.raises(RpcError) as refused:
        await rpc["deal-move"](ADMIN, ask)
    assert refused.value.code == "STAGE_CHANGED"
    assert "moved on" in refused.value.message
    now = await rpc["deal-get"](ADMIN, {"id": deal_id})
    assert (now["stageKey"], now["stageSequence"]) == ("prospecting", 3)
    # Without a sequence, the stage alone is compared.
    with pytest.raises(RpcError) as elsewhere:
        await rpc["deal-move"](ADMIN, {**ask, "fromStageKey": "engaging", "stageSequence": None})
    assert elsewhere.value.code == "STAGE_CHANGED"
    # Closing won through a move is held to the same expectation.
    with pytest.raises(RpcError) as not_won:
        await rpc["deal-move"](ADMIN, {**ask, "stageKey": "won"})
    assert not_won.value.code == "STAGE_CHANGED"
    assert len((await fake.for_workspace("w1").get_deals([deal_id]))[0].stage_history) == 3


@pytest.mark.parametrize(
    "expectation",
    [{"fromStageKey": ""}, {"stageSequence": 2}, {"fromStageKey": "x", "stageSequence": 0}],
)
async def test_a_malformed_expectation_is_refused(
    gql: Any, fake: FakeDeals, expectation: dict[str, Any]
) -> None:
    deal_id = (await create(gql, companyId="co"))["id"]
    with pytest.raises(RpcError) as refused:
        await _handlers(fake)["deal-move"](
            ADMIN, {"id": deal_id, "stageKey": "qualification", **expectation}
        )
    assert refused.value.code == "BAD_REQUEST"
