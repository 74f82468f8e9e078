"""Record sharing and field permissions on the contact and company reads
(`crm_kit.sharing`, record type `contact`): lists, gets, references, look-ups, duplicates
and the request/reply endpoints show only what the caller sees; hidden addresses and
numbers read as null with FORBIDDEN and are not found by searching."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from crm_contacts.entrypoints.rpc import endpoints
from crm_contacts.graphql.context import GraphQLContext, context_for
from crm_contacts.graphql.schema import schema
from crm_contacts.usecases.scope import Scope, Scopes
from crm_contracts import tasks as contract
from crm_kit.access_view import AccessViews
from crm_kit.context import RequestContext
from crm_kit.rpc import RpcError
from crm_kit.testing import GraphQLClient

from .conftest import FakeStore

CALLERS = {"rita": "rep", "otto": "rep", "max": "manager", "ada": "admin"}
EAST = contract.TeamChanged(
    id="east",
    name="East",
    manager_id="max",
    member_ids=["otto"],
    updated_at=datetime(2026, 1, 1, tzinfo=UTC),
)
HIDE_ADDRESSES = [
    contract.FieldRoles(field="contact.email", roles=["manager"]),
    contract.FieldRoles(field="contact.phone", roles=["manager"]),
]


class World:
    def __init__(self, store: FakeStore) -> None:
        self.store = store
        self.views = AccessViews(store.db)
        self.ids: dict[str, str] = {}

    @property
    def scopes(self) -> Scopes:
        def scope_of(caller: RequestContext) -> Scope:
            scoped = self.store.for_workspace(caller.workspace_id)
            return Scope(scoped, caller, phone_region="US", views=self.views)

        return scope_of

    def client(self, who: str) -> GraphQLClient:
        def context_of(caller: RequestContext) -> GraphQLContext:
            return context_for(self.scopes(caller))

        return GraphQLClient.in_process(schema, context_of, "w1", who, CALLERS[who])

    async def build(
        self, level: str, field_roles: list[contract.FieldRoles] | None = None
    ) -> World:
        await self.views.team_changed("w1", EAST)
        settings = contract.AccessSettingsChanged(
            sharing={"contact": level}, field_roles=field_roles or [], version=1
        )
        await self.views.settings_changed("w1", settings)
        ada = self.client("ada")
        for owner in ("rita", "otto"):
            made = await ada.data(
                """mutation($o: String!, $e: String!) {
                  company: createCompany(input: {name: $o, ownerId: $o}) { id }
                  contact: createContact(input: {firstName: "Pat", lastName: $o, email: $e,
                      phones: ["+14155550100"], ownerId: $o}) { id }
                }""",
                {"o": owner, "e": f"{owner}.client@example.com"},
            )
            self.ids[f"{owner}-contact"] = made["contact"]["id"]
            self.ids[f"{owner}-company"] = made["company"]["id"]
        return self


@pytest.mark.parametrize(
    ("level", "who", "expected"),
    [
        ("everyone", "rita", {"rita", "otto"}),
        ("own", "rita", {"rita"}),
        ("team", "otto", {"otto"}),
        ("own", "max", {"otto"}),
        ("own", "ada", {"rita", "otto"}),
    ],
)
async def test_reads_show_only_what_the_caller_sees(
    store: FakeStore, level: str, who: str, expected: set[str]
) -> None:
    world = await World(store).build(level)
    gql = world.client(who)
    data = await gql.data(
        """query($c: ID!, $k: ID!) {
          contacts { totalCount edges { node { lastName } } }
          companies { totalCount edges { node { name } } }
          _entities(representations: [{__typename: "Contact", id: $c},
                                      {__typename: "Company", id: $k}]) {
            ... on Contact { lastName }
            ... on Company { name }
          }
        }""",
        {"c": world.ids["otto-contact"], "k": world.ids["otto-company"]},
    )
    assert {e["node"]["lastName"] for e in data["contacts"]["edges"]} == expected
    assert data["contacts"]["totalCount"] == len(expected)
    assert {e["node"]["name"] for e in data["companies"]["edges"]} == expected
    contact, company = data["_entities"]
    assert (contact is not None) == ("otto" in expected)
    assert (company is not None) == ("otto" in expected)
    body = await gql.execute(
        "query($id: ID!) { contact(id: $id) { lastName } }", {"id": world.ids["otto-contact"]}
    )
    if "otto" in expected:
        assert body["data"]["contact"]["lastName"] == "otto"
    else:
        assert body["data"]["contact"] is None
        assert "otto.client" not in str(body)


async def test_request_reply_acts_for_the_caller(store: FakeStore) -> None:
    world = await World(store).build("own", HIDE_ADDRESSES)
    by_name = {endpoint.name: endpoint.handler for endpoint in endpoints(world.scopes)}
    rita = RequestContext("w1", "rita", frozenset({"rep"}))
    with pytest.raises(RpcError) as refused:
        await by_name["contact-get"](rita, {"id": world.ids["otto-contact"]})
    assert refused.value.code == "NOT_FOUND"
    mine = await by_name["contact-get"](rita, {"id": world.ids["rita-contact"]})
    assert (mine["email"], mine["emails"], mine["phones"]) == (None, None, None)
    with pytest.raises(RpcError) as refused:
        await by_name["contact-find-by-email"](rita, {"email": "rita.client@example.com"})
    assert refused.value.code == "FORBIDDEN"
    max_ = RequestContext("w1", "max", frozenset({"manager"}))
    found = await by_name["contact-find-by-email"](max_, {"email": "rita.client@example.com"})
    assert found is None  # Rita's contact is not his to see
    ottos = await by_name["contact-find-by-email"](max_, {"email": "otto.client@example.com"})
    assert ottos["phones"] == ["+14155550100"]
    # The platform's services see everything, whatever role they carry.
    capture = RequestContext("w1", "service:capture", frozenset({"viewer"}))
    assert await by_name["contact-find-by-email"](capture, {"email": "rita.client@example.com"})


async def test_hidden_addresses_read_as_null_and_are_not_searched(store: FakeStore) -> None:
    world = await World(store).build("everyone", HIDE_ADDRESSES)
    rita = world.client("rita")
    body = await rita.execute(
        "query($id: ID!) { contact(id: $id) { lastName email emails phones } }",
        {"id": world.ids["otto-contact"]},
    )
    assert body["data"]["contact"] == {
        "lastName": "otto",
        "email": None,
        "emails": None,
        "phones": None,
    }
    assert {(e["extensions"]["code"], e["extensions"]["field"]) for e in body["errors"]} == {
        ("FORBIDDEN", "email"),
        ("FORBIDDEN", "emails"),
        ("FORBIDDEN", "phones"),
    }
    assert "otto.client" not in str(body) and "4155550100" not in str(body)
    # Searching finds by name, never by address.
    search = '{ contacts(filter: {text: "%s"}) { totalCount } }'
    assert (await rita.data(search % "otto.client"))["contacts"]["totalCount"] == 0
    assert (await rita.data(search % "OTTO"))["contacts"]["totalCount"] == 1
    assert (await world.client("max").data(search % "otto.client"))["contacts"]["totalCount"] == 1
    error = await rita.error(
        "query($id: ID!) { findDuplicates(contactId: $id) { reasons } }",
        {"id": world.ids["otto-contact"]},
    )
    assert error["extensions"]["code"] == "FORBIDDEN"


WRITES = {
    "updateContact": "mutation($id: ID!) { updateContact(id: $id, input: {title: 'X'}) { id } }",
    "deleteContact": "mutation($id: ID!) { deleteContact(id: $id) { id } }",
    "updateCompany": "mutation($id: ID!) { updateCompany(id: $id, input: {industry: 'X'}) { id } }",
    "deleteCompany": "mutation($id: ID!) { deleteCompany(id: $id) { id } }",
}


@pytest.mark.parametrize("mutation", sorted(WRITES))
async def test_a_write_to_a_hidden_record_is_not_found_as_for_no_record(
    store: FakeStore, mutation: str
) -> None:
    """Under `own`, Otto's records answer Rita exactly as an id that names nothing (FORBIDDEN
    would tell her they exist); under `everyone` she sees them and is FORBIDDEN."""
    query = WRITES[mutation].replace("'X'", '"X"')
    kind = "contact" if "Contact" in mutation else "company"
    world = await World(store).build("own")
    rita = world.client("rita")
    hidden = (await rita.execute(query, {"id": world.ids[f"otto-{kind}"]}))["errors"][0]
    nothing = (await rita.execute(query, {"id": "0" * 24}))["errors"][0]
    assert hidden["extensions"] == nothing["extensions"] == {"code": "NOT_FOUND", "field": "id"}
    assert hidden["message"].replace(world.ids[f"otto-{kind}"], "0" * 24) == nothing["message"]
    seen = await World(FakeStore()).build("everyone")
    refused = await seen.client("rita").execute(query, {"id": seen.ids[f"otto-{kind}"]})
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"


CLASHES = {
    # A new contact with Otto's address (the unique index answers).
    "create": """mutation { createContact(
        input: {firstName: "A", email: "otto.client@example.com"}) { id } }""",
    # Rita's own contact given Otto's address as a further one (checked by the use case).
    "update": """mutation($id: ID!) { updateContact(id: $id,
        input: {emails: ["rita.client@example.com", "otto.client@example.com"]}) { id } }""",
    # A new company with the domain of Otto's.
    "company": 'mutation { createCompany(input: {name: "B", domain: "otto.example"}) { id } }',
}


@pytest.mark.parametrize("level", ["own", "everyone"])
@pytest.mark.parametrize("clash", sorted(CLASHES))
async def test_a_conflict_names_the_other_record_only_when_the_caller_sees_it(
    store: FakeStore, level: str, clash: str
) -> None:
    world = await World(store).build(level)
    await world.client("ada").data(
        'mutation($id: ID!) { updateCompany(id: $id, input: {domain: "otto.example"}) { id } }',
        {"id": world.ids["otto-company"]},
    )
    body = await world.client("rita").execute(CLASHES[clash], {"id": world.ids["rita-contact"]})
    error = body["errors"][0]
    assert error["extensions"]["code"] == "CONFLICT", body
    other = world.ids["otto-company" if clash == "company" else "otto-contact"]
    if level == "everyone":
        assert error["extensions"]["existingId"] == other
    else:
        assert "existingId" not in error["extensions"]
        assert other not in str(body)


async def test_a_list_answers_its_rows_addresses_and_companies_as_a_get_does(
    store: FakeStore,
) -> None:
    """A list's rows answer `email`, `emails`, `phones` and `company` at once (the caller's
    access read to narrow the list, the rows' companies read in one batch before they are
    completed): the same values and FORBIDDEN errors, at each row's path, as one contact
    read by id."""
    world = await World(store).build("everyone", HIDE_ADDRESSES)
    ada = world.client("ada")
    companies = {}
    for name in ("Acme", "Globex"):
        made = await ada.data(
            "mutation($n: String!) { createCompany(input: {name: $n}) { id } }", {"n": name}
        )
        companies[name] = made["createCompany"]["id"]
    for last, company in (("a-acme", "Acme"), ("b-globex", "Globex"), ("c-acme", "Acme")):
        await ada.data(
            """mutation($l: String!, $c: ID!, $e: String!) { createContact(input: {
                firstName: "Pat", lastName: $l, companyId: $c, email: $e}) { id } }""",
            {"l": last, "c": companies[company], "e": f"{last}@example.com"},
        )
    row = "id lastName email emails phones company { id name }"
    listed = "{ contacts(orderBy: {field: LAST_NAME, direction: ASC}) { edges { node { %s } } } }"
    one = "query($id: ID!) { contact(id: $id) { %s } }"
    for who, hidden in (("rita", True), ("max", False)):
        client = world.client(who)
        body = await client.execute(listed % row)
        nodes = [edge["node"] for edge in body["data"]["contacts"]["edges"]]
        assert [n["lastName"] for n in nodes] == ["a-acme", "b-globex", "c-acme", "otto", "rita"]
        assert [(n["company"] or {}).get("name") for n in nodes] == [
            "Acme", "Globex", "Acme", None, None,
        ]  # fmt: skip
        errors = {
            (tuple(e["path"]), e["extensions"]["code"], e["extensions"]["field"])
            for e in body.get("errors") or []
        }
        expected = {
            (("contacts", "edges", i, "node", name), "FORBIDDEN", name)
            for i in range(len(nodes))
            for name in ("email", "emails", "phones")
        }
        assert errors == (expected if hidden else set())
        for node in nodes:
            alone = await client.execute(one % row, {"id": node["id"]})
            assert alone["data"]["contact"] == node
            assert len(alone.get("errors") or []) == (3 if hidden else 0)
        if not hidden:
            assert nodes[0]["email"] == "a-acme@example.com"
            assert nodes[0]["emails"] == ["a-acme@example.com"]
