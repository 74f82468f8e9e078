"""`dealChanged` and `boardChanged` over the live transport, fed by the service's own
JetStream events: every kind of change in order, the workspace's only, the board's changed
columns only."""

from __future__ import annotations

from typing import Any

import pytest

from crm_kit.live_testing import LiveStream

pytestmark = pytest.mark.integration

CHANGES = """
subscription($p: ID) {
  dealChanged(pipelineId: $p) {
    kind dealId changedFields fromStage { key } toStage { key } deal { title status }
  }
}
"""
BOARD = """
subscription($p: ID!) {
  boardChanged(pipelineId: $p) { columns { stage { key } count totalAmount } change { kind } }
}
"""
CREATE = "mutation($i: CreateDealInput!) { createDeal(input: $i) { id pipeline { id } } }"


async def _create(client: Any, title: str, amount: str = "100.00") -> tuple[str, str]:
    deal = {"title": title, "amount": amount, "currency": "USD", "companyId": "co1"}
    data = await client.data(CREATE, {"i": deal})
    return data["createDeal"]["id"], data["createDeal"]["pipeline"]["id"]


async def _results(stream: LiveStream, n: int) -> list[dict[str, Any]]:
    return [(await stream.result())["data"] for _ in range(n)]


async def test_every_kind_of_deal_change_in_order(service: dict[str, Any], db_name: str) -> None:
    workspace = db_name
    client = service["client"](workspace)
    stream = await LiveStream.open(service["app"], "deals", CHANGES, workspace=workspace)
    other = await LiveStream.open(service["app"], "deals", CHANGES, workspace=f"{workspace}-x")
    try:
        # Each change's result is awaited before the next change: `deal` is read when the
        # result is made ("the deal now"), so the status checked is the change's own.
        got: list[dict[str, Any]] = []
        deal, _ = await _create(client, "Printers")
        got += [r["dealChanged"] for r in await _results(stream, 1)]
        await client.data(
            'mutation($d: ID!) { updateDeal(id: $d, input: {title: "Laser printers"}) { id } }',
            {"d": deal},
        )
        got += [r["dealChanged"] for r in await _results(stream, 1)]
        await client.data(
            'mutation($d: ID!) { moveDeal(id: $d, stageKey: "qualification") { id } }', {"d": deal}
        )
        got += [r["dealChanged"] for r in await _results(stream, 1)]
        await client.data("mutation($d: ID!) { closeDealWon(id: $d) { id } }", {"d": deal})
        got += [r["dealChanged"] for r in await _results(stream, 1)]
        await client.data("mutation($d: ID!) { reopenDeal(id: $d) { id } }", {"d": deal})
        await client.data("mutation($d: ID!) { deleteDeal(id: $d) }", {"d": deal})
        got += [r["dealChanged"] for r in await _results(stream, 2)]
        assert [c["kind"] for c in got] == [
            "CREATED",
            "UPDATED",
            "MOVED",
            "WON",
            "REOPENED",
            "DELETED",
        ]
        assert {c["dealId"] for c in got} == {deal}
        assert got[1]["changedFields"] == ["title"]
        assert (got[2]["fromStage"]["key"], got[2]["toStage"]["key"]) == (
            "prospecting",
            "qualification",
        )
        assert (got[3]["fromStage"]["key"], got[3]["toStage"]["key"]) == ("qualification", "won")
        assert got[3]["deal"]["status"] == "WON"
        assert got[5]["deal"] is None
        # Another workspace's subscriber saw none of it (its own first event proves the
        # stream is live and in order).
        mine, _ = await _create(service["client"](f"{workspace}-x"), "Theirs")
        theirs = (await other.result())["data"]["dealChanged"]
        assert (theirs["kind"], theirs["dealId"]) == ("CREATED", mine)
    finally:
        await stream.close()
        await other.close()


async def test_the_board_sends_the_columns_that_changed(
    service: dict[str, Any], db_name: str
) -> None:
    workspace = db_name
    client = service["client"](workspace)
    # The first deal's event must be through before the board subscription starts (its
    # relay is asynchronous): a change subscription sees it first.
    changes = await LiveStream.open(service["app"], "deals", CHANGES, workspace=workspace)
    try:
        first, pipeline = await _create(client, "First", "100.00")
        await changes.result()
    finally:
        await changes.close()
    stream = await LiveStream.open(
        service["app"], "deals", BOARD, {"p": pipeline}, workspace=workspace
    )
    try:
        await _create(client, "Second", "50.00")
        initial = (await stream.result())["data"]["boardChanged"]
        by_key = {c["stage"]["key"]: c for c in initial["columns"]}
        assert by_key["prospecting"]["count"] == 2
        assert by_key["prospecting"]["totalAmount"] == "150.00"
        assert len(initial["columns"]) > 2  # the first change carries every column
        await client.data(
            'mutation($d: ID!) { moveDeal(id: $d, stageKey: "qualification") { id } }',
            {"d": first},
        )
        moved = (await stream.result())["data"]["boardChanged"]
        assert moved["change"]["kind"] == "MOVED"
        assert {c["stage"]["key"]: (c["count"], c["totalAmount"]) for c in moved["columns"]} == {
            "prospecting": (1, "50.00"),
            "qualification": (1, "100.00"),
        }
    finally:
        await stream.close()
