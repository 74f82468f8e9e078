"""The deals export page endpoint (`crm_contracts.export_pages`) on the in-memory store:
rows read through the list use case as the caller (record sharing, hidden amounts), the
GraphQL filter with errors naming `filter.<key>`, paging to the end, companies by name."""

from __future__ import annotations

from collections.abc import Iterable

import pytest

from crm_contracts import tasks as contract
from crm_contracts.export_pages import ExportNames
from crm_deals.graphql.export_pages import export_readers
from crm_kit.context import RequestContext
from crm_kit.exports import page_endpoints
from crm_kit.rpc import RpcError

from .conftest import FakeDeals
from .test_record_sharing import World


class Names:
    """The contacts service as far as an export page asks it."""

    def __init__(self) -> None:
        self.asked: list[list[str]] = []

    async def names(
        self, caller: RequestContext, company_ids: Iterable[str], contact_ids: Iterable[str]
    ) -> ExportNames:
        ids = sorted(company_ids)
        self.asked.append(ids)
        return ExportNames(companies={i: f"Company {i}" for i in ids})


async def pages(handler, caller: RequestContext, filter: dict, limit: int = 500) -> list[dict]:
    rows: list[dict] = []
    after = None
    while True:
        reply = await handler(caller, {"filter": filter, "after": after, "limit": limit})
        rows.extend(reply["rows"])
        after = reply["after"]
        if after is None:
            return rows


async def test_rows_follow_sharing_and_hide_amounts_from_reps(fake: FakeDeals) -> None:
    world = await World(fake).build(
        "own", [contract.FieldRoles(field="deal.amount", roles=["manager", "admin"])]
    )
    names = Names()
    (endpoint,) = page_endpoints(export_readers(world.scopes, names))
    assert endpoint.subject == "rpc.deals.export_deals.page"
    rita = RequestContext("w1", "rita", frozenset({"rep"}))
    rows = await pages(endpoint.handler, rita, {})
    assert [(r["title"], r["owner"], r["amount"]) for r in rows] == [("rita deal", "rita", None)]
    assert rows[0]["id"] == world.ids["rita"]
    assert rows[0]["external_id"] == f"crm:{world.ids['rita']}"  # an API deal's key
    assert rows[0]["stage"] and rows[0]["pipeline"] and rows[0]["currency"]
    # Selecting by a field her role may not read would tell its values.
    with pytest.raises(RpcError) as refused:
        await endpoint.handler(rita, {"filter": {"amountMin": "1000"}})
    assert refused.value.code == "FORBIDDEN"
    assert refused.value.message.startswith("filter.amountMin: ")
    admin = RequestContext("w1", "ada", frozenset({"admin"}))
    rows = await pages(endpoint.handler, admin, {}, limit=1)
    assert sorted((r["owner"], r["amount"]) for r in rows) == [
        ("otto", "9876.54"),
        ("rita", "1111.11"),
    ]


async def test_the_graphql_filter_narrows_and_its_errors_name_the_key(fake: FakeDeals) -> None:
    world = await World(fake).build("everyone")
    (endpoint,) = page_endpoints(export_readers(world.scopes, Names()))
    admin = RequestContext("w1", "ada", frozenset({"admin"}))
    rows = await pages(endpoint.handler, admin, {"ownerId": "otto", "status": "OPEN"})
    assert [r["owner"] for r in rows] == ["otto"]
    assert await pages(endpoint.handler, admin, {"status": "WON"}) == []
    for bad, field in (
        ({"status": "NOPE"}, "filter.status"),
        ({"closeDateFrom": "yesterday"}, "filter.closeDateFrom"),
        ({"color": "red"}, "filter.color"),
        ({"text": "x" * 101}, "filter.text"),
    ):
        with pytest.raises(RpcError) as refused:
            await endpoint.handler(admin, {"filter": bad})
        assert refused.value.code == "BAD_REQUEST", bad
        assert refused.value.message.startswith(f"{field}: "), refused.value.message
