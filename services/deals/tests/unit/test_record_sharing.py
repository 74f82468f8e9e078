"""Record sharing and field permissions on the deal reads (`crm_kit.sharing`), on both
profiles (the read index serves lists, the board and the reports on `ferretdb`): the
matrix sharing level x caller over lists, counts, the board, gets, references, the
request/reply endpoints and the reports; hidden amounts."""

from __future__ import annotations

import inspect
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest
from graphql import ExecutionResult
from graphql.execution.executor import Executor
from strawberry.types.graphql import OperationType

from crm_contracts import tasks as contract
from crm_deals.entrypoints.rpc import endpoints
from crm_deals.graphql.context import DealsContext, context_for
from crm_deals.graphql.field_access import amount_of
from crm_deals.graphql.schema import schema
from crm_deals.usecases import deals
from crm_deals.usecases.inputs import DealInput
from crm_deals.usecases.scope import Scopes, scopes
from crm_kit.access_view import AccessViews
from crm_kit.context import RequestContext
from crm_kit.errors import Forbidden
from crm_kit.graphql_prepared import PreparedOperations
from crm_kit.rpc import RpcError
from crm_kit.testing import GraphQLClient

from .conftest import FakeDeals

# East: managed by max, with otto. Rita is in no team.
EAST = contract.TeamChanged(
    id="east",
    name="East",
    manager_id="max",
    member_ids=["otto"],
    updated_at=datetime(2026, 1, 1, tzinfo=UTC),
)
CALLERS = {"rita": "rep", "otto": "rep", "max": "manager", "ada": "admin"}
# level -> caller -> the owners whose deals they see
SEES: dict[str, dict[str, set[str]]] = {
    "everyone": {name: {"rita", "otto"} for name in CALLERS},
    "team": {"rita": {"rita"}, "otto": {"otto"}, "max": {"otto"}, "ada": {"rita", "otto"}},
    "own": {"rita": {"rita"}, "otto": {"otto"}, "max": {"otto"}, "ada": {"rita", "otto"}},
}


class World:
    def __init__(self, fake: FakeDeals) -> None:
        self.fake = fake
        self.views = AccessViews(fake.db)
        self.ids: dict[str, str] = {}

    @property
    def scopes(self) -> Scopes:
        return scopes(
            self.fake.store,
            self.fake.clock,
            self.fake.spawn,
            views=self.views,
            references=self.fake.references,
        )

    def client(self, who: str) -> GraphQLClient:
        def context_of(caller: RequestContext) -> DealsContext:
            return context_for(self.scopes(caller))

        return GraphQLClient.in_process(schema, context_of, "w1", who, CALLERS[who])

    async def build(self, level: str, field_roles: list[contract.FieldRoles] = ()) -> World:
        await self.views.team_changed("w1", EAST)
        settings = contract.AccessSettingsChanged(
            sharing={"deal": level}, field_roles=list(field_roles), version=1
        )
        await self.views.settings_changed("w1", settings)
        for owner, amount in (("rita", "1111.11"), ("otto", "9876.54")):
            made = await deals.create_deal(
                self.fake.scope(roles="admin"),
                DealInput(title=f"{owner} deal", amount=amount, owner_id=owner),
            )
            self.ids[owner] = made.id
        return self


def owners(data: dict[str, Any], *path: str) -> set[str]:
    for key in path:
        data = data[key]
    return {edge["node"]["ownerId"] for edge in data["edges"]}


@pytest.mark.parametrize("level", list(SEES))
@pytest.mark.parametrize("who", list(CALLERS))
async def test_lists_counts_boards_and_gets_show_only_what_the_caller_sees(
    fake: FakeDeals, level: str, who: str
) -> None:
    world = await World(fake).build(level)
    expected = SEES[level][who]
    gql = world.client(who)
    data = await gql.data(
        """query($r: ID!, $o: ID!) {
          deals { totalCount edges { node { ownerId } } }
          pipelineBoard { columns { count deals { edges { node { ownerId } } } } }
          rita: deal(id: $r) { id }
          otto: deal(id: $o) { id }
          _entities(representations: [{__typename: "Deal", id: $o}]) { ... on Deal { id } }
        }""",
        {"r": world.ids["rita"], "o": world.ids["otto"]},
    )
    assert owners(data, "deals") == expected
    assert data["deals"]["totalCount"] == len(expected)
    columns = data["pipelineBoard"]["columns"]
    assert sum(column["count"] for column in columns) == len(expected)
    assert set().union(*(owners(column, "deals") for column in columns)) == expected
    assert {name for name in ("rita", "otto") if data[name] is not None} == expected
    assert (data["_entities"][0] is not None) == ("otto" in expected)


async def test_contact_and_company_deals_leave_out_hidden_ones(fake: FakeDeals) -> None:
    world = await World(fake).build("own")
    for owner in ("rita", "otto"):
        await deals.create_deal(
            fake.scope(roles="admin"),
            DealInput(title="shared", amount="1", owner_id=owner, company_id="c1"),
        )
    data = await world.client("rita").data(
        """{ _entities(representations: [{__typename: "Company", id: "c1"}]) {
               ... on Company { deals { totalCount edges { node { ownerId } } } } } }"""
    )
    found = data["_entities"][0]["deals"]
    assert found["totalCount"] == 1 and owners(found) == {"rita"}


async def test_request_reply_acts_for_the_caller(fake: FakeDeals) -> None:
    world = await World(fake).build(
        "own", [contract.FieldRoles(field="deal.amount", roles=["manager"])]
    )
    by_name = {endpoint.name: endpoint.handler for endpoint in endpoints(world.scopes)}
    rita = RequestContext("w1", "rita", frozenset({"rep"}))
    with pytest.raises(RpcError) as refused:
        await by_name["deal-get"](rita, {"id": world.ids["otto"]})
    assert refused.value.code == "NOT_FOUND"
    mine = await by_name["deal-get"](rita, {"id": world.ids["rita"]})
    assert mine["amount"] is None and mine["amountMinor"] is None
    # No trace of the amount (1111.11, 111111 minor units, "$1,111.11") in any field but
    # the id, whose random hex may hold any digits.
    assert "1111" not in str({key: value for key, value in mine.items() if key != "id"})
    manager = RequestContext("w1", "max", frozenset({"manager"}))
    ottos = await by_name["deal-get"](manager, {"id": world.ids["otto"]})
    assert ottos["amount"] == "9876.54"


async def test_hidden_amounts_read_as_null_and_cannot_be_filtered_ordered_or_summed(
    fake: FakeDeals,
) -> None:
    world = await World(fake).build(
        "everyone", [contract.FieldRoles(field="deal.amount", roles=["manager"])]
    )
    rita = world.client("rita")
    body = await rita.execute(
        "query($id: ID!) { deal(id: $id) { title amount weightedAmount } }",
        {"id": world.ids["otto"]},
    )
    assert body["data"]["deal"] == {"title": "otto deal", "amount": None, "weightedAmount": None}
    assert sorted(e["extensions"]["field"] for e in body["errors"]) == [
        "amount",
        "weightedAmount",
    ]
    assert all(e["extensions"]["code"] == "FORBIDDEN" for e in body["errors"])
    assert "9876" not in str(body)
    for query, field in (
        ('{ deals(filter: {amountMin: "9000"}) { totalCount } }', "filter.amountMin"),
        ('{ deals(filter: {amountMax: "9000"}) { totalCount } }', "filter.amountMax"),
        ("{ deals(orderBy: {field: AMOUNT}) { totalCount } }", "orderBy.field"),
        ('{ forecast(from: "2026-01-01", to: "2026-03-01") { pipelineId } }', "amount"),
        ("{ pipelineBoard { columns { weightedAmount } } }", "weightedAmount"),
    ):
        error = await rita.error(query)
        assert error["extensions"]["code"] == "FORBIDDEN", query
        assert error["extensions"]["field"] == field, query
    # The board still lists her columns' deals (newest first: no order by amount).
    board = await rita.data(
        "{ pipelineBoard { columns { count deals { edges { node { id } } } } } }"
    )
    assert sum(column["count"] for column in board["pipelineBoard"]["columns"]) == 2
    # A manager reads them.
    data = await world.client("max").data(
        "query($id: ID!) { deal(id: $id) { amount } }", {"id": world.ids["otto"]}
    )
    assert data["deal"]["amount"] == "9876.54"


async def test_hidden_amounts_on_every_card_of_the_board_and_of_a_reference(
    fake: FakeDeals,
) -> None:
    """The cards' amounts answer at once, the request having read the caller's access to
    filter the rows: nulls with FORBIDDEN errors for a rep, the figures for a manager; a
    reference's the same."""
    world = await World(fake).build(
        "everyone", [contract.FieldRoles(field="deal.amount", roles=["manager"])]
    )
    board = """{ pipelineBoard { columns { deals { edges { node { ownerId amount
                 weightedAmount } } } } } }"""
    reference = """query($id: ID!) { _entities(representations: [{__typename: "Deal", id: $id}])
                   { ... on Deal { amount weightedAmount } } }"""
    body = await world.client("rita").execute(board)
    cards = [
        edge["node"]
        for column in body["data"]["pipelineBoard"]["columns"]
        for edge in column["deals"]["edges"]
    ]
    assert sorted(card["ownerId"] for card in cards) == ["otto", "rita"]
    assert all(card["amount"] is None and card["weightedAmount"] is None for card in cards)
    assert sorted(e["extensions"]["field"] for e in body["errors"]) == [
        "amount",
        "amount",
        "weightedAmount",
        "weightedAmount",
    ]
    assert all(e["extensions"]["code"] == "FORBIDDEN" for e in body["errors"])
    hidden = await world.client("rita").execute(reference, {"id": world.ids["otto"]})
    assert hidden["data"]["_entities"] == [{"amount": None, "weightedAmount": None}]
    assert sorted(e["extensions"]["field"] for e in hidden["errors"]) == [
        "amount",
        "weightedAmount",
    ]
    data = await world.client("max").data(board)
    amounts = {
        edge["node"]["ownerId"]: edge["node"]["amount"]
        for column in data["pipelineBoard"]["columns"]
        for edge in column["deals"]["edges"]
    }
    assert amounts == {"rita": "1111.11", "otto": "9876.54"}
    shown = await world.client("max").data(reference, {"id": world.ids["otto"]})
    assert shown["_entities"][0]["amount"] == "9876.54"


async def test_board_cards_complete_in_one_pass_for_a_caller_who_reads_amounts(
    fake: FakeDeals, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The web app's card fields (amount, stale, stageEnteredAt, company among the plain
    ones) are values of the deal and the request: no card goes through graphql-core's
    per-field completion for a manager (`crm_kit.graphql_rows`), and a rep's cards do,
    for their FORBIDDEN amounts."""
    world = await World(fake).build(
        "everyone", [contract.FieldRoles(field="deal.amount", roles=["manager"])]
    )
    board = """{ pipelineBoard { columns { deals(first: 20) { edges { node { id title amount
                 currency ownerId stale stageEnteredAt createdAt company { __typename id } } }
                 pageInfo { hasNextPage endCursor } } } } }"""
    completed: list[str] = []
    real = Executor.complete_object_value

    def spying(self: Any, return_type: Any, *args: Any) -> Any:
        completed.append(return_type.name)
        return real(self, return_type, *args)

    monkeypatch.setattr(Executor, "complete_object_value", spying)
    # As the service runs it: the prepared document (`SubgraphGraphQL.respond`).
    prepared = PreparedOperations(schema)
    found = prepared.prepared_for(board, None, {OperationType.QUERY})
    assert found is not None

    async def run(who: str) -> ExecutionResult:
        caller = RequestContext("w1", who, frozenset({CALLERS[who]}))
        result = await prepared.execute(
            found,
            variables=None,
            context=context_for(world.scopes(caller)),
            operation_name=None,
            operation_extensions=None,
        )
        assert isinstance(result, ExecutionResult) and result.data is not None
        return result

    data = (await run("max")).data
    assert data is not None
    cards = [
        edge["node"]
        for column in data["pipelineBoard"]["columns"]
        for edge in column["deals"]["edges"]
    ]
    assert sorted(card["amount"] for card in cards) == ["1111.11", "9876.54"]
    assert all(card["stale"] is False and card["stageEnteredAt"] for card in cards)
    assert "Deal" not in completed
    completed.clear()
    hidden = await run("rita")
    assert hidden.errors and completed.count("Deal") == 2


async def test_an_amount_asked_before_the_access_is_read_awaits_it(fake: FakeDeals) -> None:
    """`amount_of` answers an awaitable while the request has not read the caller's access,
    with the same answer as once it has."""
    world = await World(fake).build(
        "everyone", [contract.FieldRoles(field="deal.amount", roles=["manager"])]
    )
    for who, allowed in (("rita", False), ("max", True)):
        scope = world.scopes(RequestContext("w1", who, frozenset({CALLERS[who]})))
        info = SimpleNamespace(context=SimpleNamespace(scope=scope))
        pending = amount_of(info, "amount", 123450, "USD")  # type: ignore[arg-type]
        assert inspect.isawaitable(pending)
        if allowed:
            assert await pending == "1234.50"
            assert amount_of(info, "amount", 123450, "USD") == "1234.50"  # type: ignore[arg-type]
            continue
        with pytest.raises(Forbidden) as refused:
            await pending
        assert refused.value.field == "amount"
        with pytest.raises(Forbidden):
            amount_of(info, "amount", 123450, "USD")  # type: ignore[arg-type]


DEAL_WRITES = {
    "updateDeal": 'mutation($id: ID!) { updateDeal(id: $id, input: {title: "X"}) { id } }',
    "deleteDeal": "mutation($id: ID!) { deleteDeal(id: $id) }",
    "moveDeal": 'mutation($id: ID!) { moveDeal(id: $id, stageKey: "qualified") { id } }',
    "closeDealWon": "mutation($id: ID!) { closeDealWon(id: $id) { id } }",
    "closeDealLost": 'mutation($id: ID!) { closeDealLost(id: $id, reason: "price") { id } }',
}


@pytest.mark.parametrize("mutation", sorted(DEAL_WRITES))
async def test_a_write_to_a_hidden_deal_is_not_found_as_for_no_deal(
    fake: FakeDeals, mutation: str
) -> None:
    """Under `own`, Otto's deal answers Rita exactly as an id that names nothing; under
    `everyone` she sees it and may not change it: FORBIDDEN. Either way it is unchanged."""
    world = await World(fake).build("own")
    rita = world.client("rita")
    query = DEAL_WRITES[mutation]
    hidden = (await rita.execute(query, {"id": world.ids["otto"]}))["errors"][0]
    nothing = (await rita.execute(query, {"id": "0" * 24}))["errors"][0]
    assert hidden["extensions"] == nothing["extensions"] == {"code": "NOT_FOUND", "field": "id"}
    assert hidden["message"].replace(world.ids["otto"], "0" * 24) == nothing["message"]
    await world.views.settings_changed(
        "w1",
        contract.AccessSettingsChanged(sharing={"deal": "everyone"}, field_roles=[], version=2),
    )
    refused = await world.client("rita").execute(query, {"id": world.ids["otto"]})
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN", refused
    unchanged = await deals.get_deal(world.fake.scope(roles="admin"), world.ids["otto"])
    assert (unchanged.title, unchanged.status, unchanged.deleted) == ("otto deal", "open", False)


async def test_a_deals_trail_by_its_field_and_by_request_follows_the_deals_visibility(
    fake: FakeDeals,
) -> None:
    """`Deal.auditTrail` and `rpc.deals.audit.trail` (what the single `auditTrail` asks):
    Rita reads her deal's trail, Otto's is NOT_FOUND for her as the deal is; an admin any
    deal's, and NOT_FOUND for an id this service holds nothing of."""
    world = await World(fake).build("own")
    data = await world.client("rita").data(
        "query($id: ID!) { deal(id: $id) { auditTrail { totalCount "
        "edges { node { action recordId } } } } }",
        {"id": world.ids["rita"]},
    )
    trail = data["deal"]["auditTrail"]
    assert trail["totalCount"] == 1
    assert trail["edges"][0]["node"] == {"action": "create", "recordId": world.ids["rita"]}
    ask = {e.name: e.handler for e in endpoints(world.scopes)}["audit-trail"]
    rita = RequestContext("w1", "rita", frozenset({"rep"}))
    mine = await ask(rita, {"recordId": world.ids["rita"]})
    assert [e["action"] for e in mine["entries"]] == ["create"]
    assert mine["totalCount"] == 1 and mine["entries"][0]["cursor"]
    with pytest.raises(RpcError) as refused:
        await ask(rita, {"recordId": world.ids["otto"]})
    assert refused.value.code == "NOT_FOUND"
    admin = RequestContext("w1", "ada", frozenset({"admin"}))
    assert (await ask(admin, {"recordId": world.ids["otto"]}))["totalCount"] == 1
    for wrong, code in (({"recordId": "0" * 24}, "NOT_FOUND"), ({"first": 5}, "BAD_REQUEST")):
        with pytest.raises(RpcError) as refused:
            await ask(admin, wrong)
        assert refused.value.code == code
