"""The contacts service's audit log through GraphQL (in process, on the in-memory store):
an entry per change of a contact, its trail for whoever reads the contact, the workspace's
log for admins only. And `records.check`'s use case: which ids name no live record."""

from __future__ import annotations

from typing import Any

from crm_contacts.usecases import lookups
from crm_contacts.usecases.scope import Scope
from crm_kit.context import RequestContext

from .conftest import Caller, FakeStore, caller, error_of

CREATE = 'mutation { createContact(input: {firstName: "Ann", lastName: "Lee"}) { id } }'
UPDATE = 'mutation($id: ID!) { updateContact(id: $id, input: {title: "CTO"}) { id } }'
DELETE = "mutation($id: ID!) { deleteContact(id: $id) { id } }"
TRAIL = """query($id: ID!, $after: String) {
  contactsAuditTrail(recordId: $id, first: 2, after: $after) { totalCount
    pageInfo { hasNextPage endCursor }
    edges { node { action recordType changes { field before after } } } } }"""
LOG = '{ contactsAuditLog(filter: {recordType: "contact"}) { totalCount } }'


async def _contact_with_history(admin: Caller) -> str:
    contact_id: str = (await admin.data(CREATE))["createContact"]["id"]
    await admin.data(UPDATE, {"id": contact_id})
    await admin.data(DELETE, {"id": contact_id})
    return contact_id


async def test_a_contacts_trail_pages_its_changes_newest_first(
    store: FakeStore, admin: Caller
) -> None:
    contact_id = await _contact_with_history(admin)
    first = (await admin.data(TRAIL, {"id": contact_id}))["contactsAuditTrail"]
    assert first["totalCount"] == 3 and first["pageInfo"]["hasNextPage"]
    after = first["pageInfo"]["endCursor"]
    rest = (await admin.data(TRAIL, {"id": contact_id, "after": after}))["contactsAuditTrail"]
    nodes = [e["node"] for e in first["edges"] + rest["edges"]]
    assert [n["action"] for n in nodes] == ["delete", "update", "create"]
    assert {"field": "title", "before": None, "after": '"CTO"'} in nodes[1]["changes"]
    assert {n["recordType"] for n in nodes} == {"contact"}
    bad = await admin.execute(TRAIL, {"id": contact_id, "after": "not-a-cursor"})
    assert error_of(bad)["extensions"]["field"] == "after"


async def test_who_may_read_the_trail_and_the_log(store: FakeStore, admin: Caller) -> None:
    contact_id = (await admin.data(CREATE))["createContact"]["id"]
    rep = caller(store, roles="rep")
    assert (await rep.data(TRAIL, {"id": contact_id}))["contactsAuditTrail"]["totalCount"] == 1
    refused = error_of(await rep.execute(LOG))
    assert refused["extensions"]["code"] == "FORBIDDEN"
    assert (await admin.data(LOG))["contactsAuditLog"]["totalCount"] == 1
    elsewhere = caller(store, workspace="w2", roles="rep")
    hidden = error_of(await elsewhere.execute(TRAIL, {"id": contact_id}))
    assert hidden["extensions"] == {"code": "NOT_FOUND", "field": "recordId"}
    # A deleted contact's trail: managers and admins, as the contact itself.
    await admin.data(DELETE, {"id": contact_id})
    assert error_of(await rep.execute(TRAIL, {"id": contact_id}))["extensions"]["code"] == (
        "NOT_FOUND"
    )
    assert (await admin.data(TRAIL, {"id": contact_id}))["contactsAuditTrail"]["totalCount"] == 2


async def test_records_check_names_what_is_not_live_in_the_workspace(
    store: FakeStore, admin: Caller
) -> None:
    live = (await admin.data(CREATE))["createContact"]["id"]
    deleted = (await admin.data(CREATE.replace("Ann", "Bob")))["createContact"]["id"]
    await admin.data(DELETE, {"id": deleted})
    other: Any = caller(store, workspace="w2")
    theirs = (await other.data(CREATE))["createContact"]["id"]
    scope = Scope(store.for_workspace("w1"), RequestContext("w1", "u", frozenset({"rep"})))
    missing = await lookups.missing_references(
        scope, [live, deleted, theirs, "nonsense"], ["no-company"]
    )
    assert missing == ([deleted, theirs, "nonsense"], ["no-company"])
