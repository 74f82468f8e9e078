"""Queries: filters, keyset pagination, stale, the board, pipelines and versioning,
federation `_entities`, tenancy."""

from __future__ import annotations

from typing import Any

from .test_graphql_deals import MOVE, create

DEALS = """query($filter: DealFilter, $first: Int, $after: String, $order: DealOrder) {
  deals(filter: $filter, first: $first, after: $after, orderBy: $order) {
    totalCount pageInfo { hasNextPage endCursor } edges { cursor node { id title amount } } } }"""


async def test_pagination_and_filters(gql: Any) -> None:
    ids = [
        (await create(gql, title=f"D{i}", amount=f"{i}00", ownerId=f"o{i % 2}"))["id"]
        for i in range(5)
    ]
    page = (await gql.data(DEALS, {"first": 2}))["deals"]
    assert page["totalCount"] == 5 and page["pageInfo"]["hasNextPage"]
    assert [e["node"]["id"] for e in page["edges"]] == ids[::-1][:2]
    rest = (await gql.data(DEALS, {"first": 10, "after": page["pageInfo"]["endCursor"]}))["deals"]
    assert [e["node"]["id"] for e in rest["edges"]] == ids[::-1][2:]
    assert not rest["pageInfo"]["hasNextPage"]
    by_amount = await gql.data(
        DEALS,
        {
            "order": {"field": "AMOUNT", "direction": "ASC"},
            "filter": {"amountMin": "150", "amountMax": "350"},
        },
    )
    assert [e["node"]["amount"] for e in by_amount["deals"]["edges"]] == ["200.00", "300.00"]
    owner = await gql.data(DEALS, {"filter": {"ownerId": "o1"}})
    assert owner["deals"]["totalCount"] == 2
    error = await gql.error(DEALS, {"after": "garbage!"})
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    error = await gql.error(DEALS, {"first": 1000})
    assert error["extensions"]["field"] == "first"


async def test_status_contact_company_stage_and_close_date_filters(gql: Any) -> None:
    a = await create(gql, companyId="co1", primaryContactId="p1", expectedCloseDate="2026-02-10")
    b = await create(gql, companyId="co2", contactIds=["p1", "p2"], expectedCloseDate="2026-05-01")
    await gql.data("mutation($id: ID!) { closeDealWon(id: $id) { id } }", {"id": b["id"]})

    async def ids(f: dict[str, Any]) -> list[str]:
        data = await gql.data(DEALS, {"filter": f})
        return sorted(e["node"]["id"] for e in data["deals"]["edges"])

    assert await ids({"contactId": "p1"}) == sorted([a["id"], b["id"]])
    assert await ids({"companyId": "co1"}) == [a["id"]]
    assert await ids({"status": "WON"}) == [b["id"]]
    assert await ids({"status": "OPEN", "stageKey": "prospecting"}) == [a["id"]]
    assert await ids({"closeDateFrom": "2026-02-01", "closeDateTo": "2026-02-28"}) == [a["id"]]
    assert await ids({"pipelineId": "w1:default"}) == sorted([a["id"], b["id"]])


async def test_stale_is_a_stored_threshold(gql: Any, clock: Any) -> None:
    deal = await create(gql)
    assert (await gql.data(DEALS, {"filter": {"stale": True}}))["deals"]["totalCount"] == 0
    clock.advance(days=15)  # prospecting rots after 14 days
    stale = await gql.data(DEALS, {"filter": {"stale": True}})
    assert [e["node"]["id"] for e in stale["deals"]["edges"]] == [deal["id"]]
    assert (await gql.data(DEALS, {"filter": {"stale": False}}))["deals"]["totalCount"] == 0
    flag = await gql.data("query($id: ID!) { deal(id: $id) { stale staleAt } }", {"id": deal["id"]})
    assert flag["deal"]["stale"] is True


async def test_board_columns_totals_and_pages(gql: Any) -> None:
    for amount in ("100", "200", "300"):
        await create(gql, amount=amount, companyId="c")
    moved = await create(gql, amount="1000", companyId="c")
    await gql.data(MOVE, {"id": moved["id"], "stage": "engaging", "override": True})
    board = await gql.data(
        """query($p: ID) { pipelineBoard(pipelineId: $p) { currency columns {
             stage { key name probability }
             count totalAmount weightedAmount deals(first: 2) { edges { node { id amount } }
             pageInfo { hasNextPage endCursor } totalCount } } } }""",
        {"p": "w1:default"},
    )
    columns = {c["stage"]["key"]: c for c in board["pipelineBoard"]["columns"]}
    assert list(columns) == [
        "prospecting",
        "qualification",
        "engaging",
        "proposal",
        "negotiation",
        "won",
        "lost",
    ]
    assert columns["prospecting"]["count"] == 3
    assert columns["prospecting"]["totalAmount"] == "600.00"
    assert columns["prospecting"]["weightedAmount"] == "60.00"
    assert [e["node"]["amount"] for e in columns["prospecting"]["deals"]["edges"]] == [
        "300.00",
        "200.00",
    ]
    assert columns["prospecting"]["deals"]["pageInfo"]["hasNextPage"]
    after = columns["prospecting"]["deals"]["pageInfo"]["endCursor"]
    rest = await gql.data(
        """query($a: String) { pipelineBoard { columns { stage { key }
             deals(first: 2, after: $a) { edges { node { amount } } pageInfo { hasNextPage } }
        } } }""",
        {"a": after},
    )
    page2 = rest["pipelineBoard"]["columns"][0]["deals"]
    assert [e["node"]["amount"] for e in page2["edges"]] == ["100.00"]
    assert page2["pageInfo"]["hasNextPage"] is False
    assert columns["engaging"]["weightedAmount"] == "400.00"
    assert columns["won"]["count"] == 0 and columns["won"]["totalAmount"] == "0.00"


async def test_pipelines_versioning(gql: Any) -> None:
    pipelines = (
        await gql.data("{ pipelines { id name version stages { key name probability } } }")
    )["pipelines"]
    assert [p["id"] for p in pipelines] == ["w1:default"]
    deal = await create(gql, companyId="c")
    updated = await gql.data(
        """mutation { updatePipeline(id: "w1:default", input: {name: "Short", stages: [
             {key: "prospecting", name: "Prospecting", probability: 15, rottingDays: 7},
             {key: "closing", name: "Closing", probability: 70, forecastCategory: COMMIT,
              playbook: [{key: "sign", title: "Get it signed", type: CALL, dueOffsetDays: 1,
                          assignee: {rule: USER, userId: "ceo"}}],
              exitCriteria: {playbookKeys: ["sign"], requiredFields: ["expectedCloseDate"]}}]}) {
             version name stages { key } versions { version name } } }"""
    )
    assert updated["updatePipeline"]["version"] == 2
    assert updated["updatePipeline"]["versions"] == [{"version": 1, "name": "Sales pipeline"}]
    info = await gql.data(
        "query($id: ID!) { deal(id: $id) { pipelineVersion stage { probability } } }",
        {"id": deal["id"]},
    )
    assert info["deal"] == {"pipelineVersion": 1, "stage": {"probability": 10}}
    moved = await gql.data(MOVE, {"id": deal["id"], "stage": "closing"})
    assert moved["moveDeal"]["probability"] == 70
    history = await gql.data(
        "query($id: ID!) { deal(id: $id) { pipelineVersion stageHistory { pipelineVersion } } }",
        {"id": deal["id"]},
    )
    assert history["deal"]["pipelineVersion"] == 2
    assert [h["pipelineVersion"] for h in history["deal"]["stageHistory"]] == [1, 2]
    same = await gql.data(
        'mutation { updatePipeline(id: "w1:default", input: {name: "Short"}) { version } }'
    )
    assert same["updatePipeline"]["version"] == 2  # no change, no new version
    created = await gql.data(
        'mutation { createPipeline(input: {name: "Renewals", stages: '
        '[{key: "due", name: "Due", probability: 50}]}) { id version stages { key } } }'
    )
    assert [s["key"] for s in created["createPipeline"]["stages"]] == ["due", "won", "lost"]
    bad = await gql.error(
        'mutation { createPipeline(input: {name: "X",'
        ' stages: [{key: "a", name: "A", probability: 500}]}) { id } }'
    )
    assert bad["extensions"] == {"code": "BAD_USER_INPUT", "field": "input.stages.0.probability"}


async def test_entities_contacts_companies_and_tenancy(gql: Any) -> None:
    deal = await create(gql, companyId="co1", primaryContactId="p1")
    query = """query($r: [_Any!]!) { _entities(representations: $r) {
        ... on Deal { id title } ... on Pipeline { id name }
        ... on Contact { id deals { totalCount edges { node { id } } } }
        ... on Company { id deals(status: OPEN) { totalCount } } } }"""
    reps = [
        {"__typename": "Deal", "id": deal["id"]},
        {"__typename": "Pipeline", "id": "w1:default"},
        {"__typename": "Contact", "id": "p1"},
        {"__typename": "Company", "id": "co1"},
        {"__typename": "Deal", "id": "missing"},
    ]
    types = [r["__typename"] for r in reps]
    entities = (await gql.data(query, {"r": [dict(r) for r in reps]}))["_entities"]
    assert entities[0] == {"id": deal["id"], "title": "Rack upgrade"}
    assert entities[1]["name"] == "Sales pipeline"
    assert entities[2]["deals"]["edges"] == [{"node": {"id": deal["id"]}}]
    assert entities[3]["deals"]["totalCount"] == 1
    assert entities[4] is None
    other = gql.as_user(workspace="w2")
    fresh = [dict(r, __typename=t) for r, t in zip(reps, types, strict=True)]
    theirs = (await other.data(query, {"r": fresh}))["_entities"]
    assert theirs[0] is None and theirs[1] is None
    assert theirs[2]["deals"]["totalCount"] == 0
    error = await other.error(MOVE, {"id": deal["id"], "stage": "engaging"})
    assert error["extensions"]["code"] == "NOT_FOUND"


async def test_entity_references_are_batched(gql: Any, fake: Any) -> None:
    deals = [await create(gql, title=f"D{i}") for i in range(5)]
    calls = 0
    original = type(fake.for_workspace("w1")).get_deals

    async def counting(self: Any, ids: list[str]) -> list:
        nonlocal calls
        calls += 1
        return await original(self, ids)

    type(fake.for_workspace("w1")).get_deals = counting  # type: ignore[method-assign]
    try:
        reps = [{"__typename": "Deal", "id": d["id"]} for d in deals]
        data = await gql.data(
            "query($r: [_Any!]!) { _entities(representations: $r) { ... on Deal { id } } }",
            {"r": reps},
        )
    finally:
        type(fake.for_workspace("w1")).get_deals = original  # type: ignore[method-assign]
    assert len(data["_entities"]) == 5 and calls == 1


async def test_board_narrows_by_owner_and_title_text_totals_and_pages_included(gql: Any) -> None:
    for title, owner, amount in (
        ("Rack upgrade Initech", "bob", "100"),
        ("rack refresh Globex", "bob", "200"),
        ("RACK for Initech", "carol", "400"),
        ("Cabling Initech", "bob", "800"),
    ):
        await create(gql, title=title, ownerId=owner, amount=amount)
    board = """query($o: String, $t: String, $a: String) {
      pipelineBoard(ownerId: $o, text: $t) { columns { stage { key } count totalAmount
        deals(first: 1, after: $a) { edges { node { title } } pageInfo { hasNextPage endCursor } }
      } } }"""
    first = (await gql.data(board, {"o": "bob", "t": "rack"}))["pipelineBoard"]["columns"][0]
    assert first["count"] == 2 and first["totalAmount"] == "300.00"
    assert [e["node"]["title"] for e in first["deals"]["edges"]] == ["rack refresh Globex"]
    after = first["deals"]["pageInfo"]["endCursor"]
    rest = (await gql.data(board, {"o": "bob", "t": "rack", "a": after}))["pipelineBoard"]
    page2 = rest["columns"][0]["deals"]
    assert [e["node"]["title"] for e in page2["edges"]] == ["Rack upgrade Initech"]
    assert page2["pageInfo"]["hasNextPage"] is False
    # Regex characters are literal text, and the same filter serves the deal list.
    empty = (await gql.data(board, {"t": "rack.*"}))["pipelineBoard"]["columns"][0]
    assert empty["count"] == 0
    listed = await gql.data(DEALS, {"filter": {"text": "initech"}, "first": 10})
    assert listed["deals"]["totalCount"] == 3


async def test_board_text_is_bounded(gql: Any) -> None:
    error = await gql.error('{ pipelineBoard(text: "%s") { currency } }' % ("x" * 101))
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["extensions"]["field"] == "text"
