"""The real app over ASGI on a real FerretDB and NATS: Mongo mapping, indexes, queries."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from crm_kit.testing import GraphQLClient

pytestmark = pytest.mark.integration

COMPANY = "mutation($i: CreateCompanyInput!) { createCompany(input: $i) { id name domain } }"
CONTACT = """mutation($i: CreateContactInput!) {
  createContact(input: $i) { id email company { id } } }"""
LOG = "mutation($i: LogInteractionInput!) { logInteraction(input: $i) { id } }"
LIST = """query($f: ContactFilter, $o: ContactOrder, $first: Int, $after: String) {
  contacts(filter: $f, orderBy: $o, first: $first, after: $after) {
    totalCount pageInfo { hasNextPage endCursor } edges { node { id lastName email } } } }"""
MERGE = """mutation($s: ID!, $d: ID!, $dry: Boolean) {
  mergeContacts(survivorId: $s, duplicateId: $d, dryRun: $dry) {
    movedInteractions alreadyMerged survivor { emails phones title } } }"""


async def _contact(gql: GraphQLClient, first: str, last: str, email: str | None, **kw: Any) -> str:
    data = await gql.data(CONTACT, {"i": {"firstName": first, "lastName": last, "email": email,
                                          **kw}})  # fmt: skip
    return data["createContact"]["id"]


async def holder_of(running: Any, email: str) -> str | None:
    store = running.app.state.store.for_workspace("w1")
    holders = await store.find_contacts_with_emails([email])
    return holders[0].id if holders else None


def _error(body: dict) -> dict:
    assert body.get("errors"), body
    return body["errors"][0]


async def test_contacts_lifecycle_on_ferretdb(running: Any) -> None:
    gql = running.admin
    acme = (await gql.data(COMPANY, {"i": {"name": "Acme Corp", "domain": "acme.com"}}))[
        "createCompany"
    ]
    assert acme["domain"] == "acme.com"
    created = await gql.data(
        CONTACT,
        {"i": {"firstName": "Ada", "lastName": "Lovelace", "email": "Ada@Acme.com",
               "companyId": acme["id"]}},
    )  # fmt: skip
    ada = created["createContact"]
    assert ada == {"id": ada["id"], "email": "ada@acme.com", "company": {"id": acme["id"]}}
    # The unique index: one contact per email per workspace, case-insensitively.
    error = _error(await gql.execute(CONTACT, {"i": {"firstName": "X", "email": "ADA@acme.com"}}))
    assert error["extensions"]["code"] == "CONFLICT"
    assert error["extensions"]["existingId"] == ada["id"]
    # Further addresses are checked too (through the email claims), and a claim goes stale
    # when its holder drops the address.
    bob = await _contact(gql, "Bob", "B", "bob@acme.com", emails=["bob@home.org"])
    error = _error(await gql.execute(CONTACT, {"i": {"firstName": "X", "email": "BOB@home.org"}}))
    assert error["extensions"]["existingId"] == bob
    await gql.data(
        "mutation($id: ID!) { updateContact(id: $id, input: {emails: []}) { id } }", {"id": bob}
    )
    carol = await _contact(gql, "Carol", "C", "bob@home.org")
    found = await holder_of(running, "bob@home.org")
    assert found == carol
    for contact_id in (bob, carol):
        await gql.data("mutation($id: ID!) { deleteContact(id: $id) { id } }", {"id": contact_id})
    no_mail = [await _contact(gql, "No", f"Mail{i}", None) for i in range(2)]  # placeholders
    assert len(set(no_mail)) == 2

    for text, expected in [("acme corp", 1), ("LOVELACE", 1), ("ada@", 1), ("mail", 2),
                           ("(", 0), ("zzz", 0)]:  # fmt: skip
        found = await gql.data(LIST, {"f": {"text": text}})
        assert found["contacts"]["totalCount"] == expected, text

    # Keyset paging over every ordering returns every contact exactly once.
    for field in ("CREATED_AT", "UPDATED_AT", "LAST_NAME"):
        for direction in ("ASC", "DESC"):
            seen: list[str] = []
            after = None
            while True:
                page = (await gql.data(LIST, {"o": {"field": field, "direction": direction},
                                              "first": 2, "after": after}))["contacts"]  # fmt: skip
                seen += [e["node"]["id"] for e in page["edges"]]
                if not page["pageInfo"]["hasNextPage"]:
                    break
                after = page["pageInfo"]["endCursor"]
            assert sorted(seen) == sorted([ada["id"], *no_mail]), (field, direction)
            assert len(seen) == 3

    # Timeline, newest first, paged.
    for day in (1, 3, 2):
        await gql.data(LOG, {"i": {"contactId": ada["id"], "kind": "MEETING",
                                   "subject": f"d{day}",
                                   "occurredAt": f"2026-02-0{day}T09:00:00Z"}})  # fmt: skip
    timeline = await gql.data(
        """query($id: ID!, $c: ID!) { contact(id: $id) { interactions(first: 2) { totalCount
             pageInfo { hasNextPage } edges { node { subject company { name } } } } }
           company(id: $c) { interactions { totalCount } contacts { totalCount } } }""",
        {"id": ada["id"], "c": acme["id"]},
    )
    page = timeline["contact"]["interactions"]
    assert [e["node"]["subject"] for e in page["edges"]] == ["d3", "d2"]
    assert page["totalCount"] == 3 and page["pageInfo"]["hasNextPage"]
    assert page["edges"][0]["node"]["company"]["name"] == "Acme Corp"
    assert timeline["company"]["interactions"]["totalCount"] == 3
    assert timeline["company"]["contacts"]["totalCount"] == 1

    # Soft delete keeps the address reserved (CONFLICT names the deleted contact); restore.
    await gql.data("mutation($id: ID!) { deleteContact(id: $id) { id } }", {"id": ada["id"]})
    error = _error(await gql.execute(CONTACT, {"i": {"firstName": "X", "email": "ada@acme.com"}}))
    assert error["extensions"]["existingId"] == ada["id"]
    assert error["extensions"]["existingDeleted"] is True
    assert (await gql.data(LIST, {"f": {"text": "ada"}}))["contacts"]["totalCount"] == 0
    await gql.data("mutation($id: ID!) { restoreContact(id: $id) { id } }", {"id": ada["id"]})
    assert (await gql.data(LIST, {"f": {"text": "ada"}}))["contacts"]["totalCount"] == 1


async def test_concurrent_creates_of_one_email_yield_one_contact(running: Any) -> None:
    gql = running.admin
    bodies = await asyncio.gather(
        *[
            gql.execute(CONTACT, {"i": {"firstName": f"P{i}", "email": "same@x.com"}})
            for i in range(6)
        ]
    )
    winners = [b for b in bodies if not b.get("errors")]
    assert len(winners) == 1
    winner = winners[0]["data"]["createContact"]["id"]
    for body in bodies:
        if body.get("errors"):
            assert body["errors"][0]["extensions"]["code"] == "CONFLICT"
            assert body["errors"][0]["extensions"]["existingId"] == winner


async def test_merge_on_ferretdb_moves_interactions(running: Any) -> None:
    gql = running.admin
    survivor = await _contact(gql, "Ada", "Lovelace", "ada@acme.com")
    duplicate = await _contact(gql, "Ada", "Lovelace", "ada@home.org", phones=["4155552671"],
                               title="CTO")  # fmt: skip
    for n in range(3):
        await gql.data(LOG, {"i": {"contactId": duplicate, "kind": "NOTE", "subject": f"n{n}"}})
    shared = (await gql.data(LOG, {"i": {"contactId": survivor, "contactIds": [duplicate],
                                         "kind": "MEETING"}}))["logInteraction"]["id"]  # fmt: skip
    dry = (await gql.data(MERGE, {"s": survivor, "d": duplicate, "dry": True}))["mergeContacts"]
    assert dry["movedInteractions"] == 4
    assert dry["survivor"]["title"] is None
    done = (await gql.data(MERGE, {"s": survivor, "d": duplicate}))["mergeContacts"]
    assert done["survivor"] == {
        "emails": ["ada@acme.com", "ada@home.org"],
        "phones": ["+14155552671"],
        "title": "CTO",
    }
    data = await gql.data(
        """query($s: ID!, $d: ID!) { s: contact(id: $s) { interactions { totalCount
             edges { node { id contactIds } } } } d: contact(id: $d) { id } }""",
        {"s": survivor, "d": duplicate},
    )
    assert data["d"] is None
    edges = data["s"]["interactions"]["edges"]
    assert data["s"]["interactions"]["totalCount"] == 4
    assert all(e["node"]["contactIds"] == [survivor] for e in edges), edges
    assert shared in {e["node"]["id"] for e in edges}
    again = (await gql.data(MERGE, {"s": survivor, "d": duplicate}))["mergeContacts"]
    assert again["alreadyMerged"] is True
    # The duplicate's address moved to the survivor.
    error = _error(await gql.execute(CONTACT, {"i": {"firstName": "X", "email": "ada@home.org"}}))
    assert error["extensions"]["existingId"] == survivor


async def test_entities_and_tenancy_on_ferretdb(running: Any) -> None:
    gql = running.admin
    ids = [await _contact(gql, f"P{i}", "L", f"p{i}@x.com") for i in range(3)]
    query = """query($r: [_Any!]!) { _entities(representations: $r) {
                 ... on Contact { id email } } }"""
    reps = [{"__typename": "Contact", "id": i} for i in ids]
    found = (await gql.data(query, {"r": reps}))["_entities"]
    assert [e["id"] for e in found] == ids
    other = running.client("w2", "admin")
    assert (await other.data(query, {"r": reps}))["_entities"] == [None, None, None]
    assert (await other.data(LIST))["contacts"]["totalCount"] == 0
    body = await other.execute(
        'mutation($id: ID!) { updateContact(id: $id, input: {title: "x"}) { id } }', {"id": ids[0]}
    )
    assert _error(body)["extensions"]["code"] == "NOT_FOUND"
    body = await other.execute("mutation($id: ID!) { deleteContact(id: $id) { id } }",
                               {"id": ids[0]})  # fmt: skip
    assert _error(body)["extensions"]["code"] == "NOT_FOUND"
    assert (await gql.data("query($id: ID!) { contact(id: $id) { deletedAt } }", {"id": ids[0]}))[
        "contact"
    ] == {"deletedAt": None}


async def test_http_edge_cases(running: Any) -> None:
    http = running.http
    response = await http.post("/graphql", json={"query": "{ contacts { totalCount } }"})
    assert response.status_code == 401
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    bad = await http.post("/graphql", json={"query": "{ __typename }"},
                          headers={"Authorization": "Bearer not-a-jwt"})  # fmt: skip
    assert bad.status_code == 401
    assert (await http.get("/health")).json() == {"status": "ok"}
    ready = await http.get("/ready")
    assert ready.status_code == 200 and ready.json()["ready"] is True
    viewer = running.client("w1", "viewer")
    body = await viewer.execute(CONTACT, {"i": {"firstName": "V"}})
    assert _error(body)["extensions"]["code"] == "FORBIDDEN"
    for variables in ({"first": 201}, {"after": "%%%"}):
        body = await running.admin.execute(LIST, variables)
        assert _error(body)["extensions"]["code"] == "BAD_USER_INPUT"
    raw = await http.post(
        "/graphql",
        content=b"{not json",
        headers={"content-type": "application/json"},
        auth=running.admin.auth,
    )
    assert raw.status_code == 400
