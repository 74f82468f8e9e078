"""The subgraph through `schema.execute` with the in-memory store."""

from __future__ import annotations

from typing import Any

import pytest

from crm_contacts.domain.merge import MergeRecord
from crm_contacts.usecases.merging import resume_merges
from crm_contracts import contacts as contract
from crm_kit.memory_db import MemoryRecords

from .conftest import Caller, FakeStore, caller, error_of

COMPANY = "mutation($i: CreateCompanyInput!) { createCompany(input: $i) { id name domain } }"
CONTACT = """mutation($i: CreateContactInput!) {
  createContact(input: $i) { id email emails phones company { id } lifecycleStage } }"""
UPDATE = """mutation($id: ID!, $i: UpdateContactInput!) {
  updateContact(id: $id, input: $i) { id firstName email emails title tags phones } }"""
LOG = "mutation($i: LogInteractionInput!) { logInteraction(input: $i) { id companyId } }"
GET = "query($id: ID!) { contact(id: $id) { id email deletedAt mergedIntoId } }"
LIST = """query($f: ContactFilter, $o: ContactOrder, $first: Int, $after: String) {
  contacts(filter: $f, orderBy: $o, first: $first, after: $after) {
    totalCount pageInfo { hasNextPage endCursor } edges { cursor node { id lastName } } } }"""
MERGE = """mutation($s: ID!, $d: ID!, $dry: Boolean) {
  mergeContacts(survivorId: $s, duplicateId: $d, dryRun: $dry) {
    dryRun mergedId movedInteractions interactionIds alreadyMerged
    changes { field before after } survivor { id emails phones title } } }"""


async def company(caller: Caller, name: str = "Acme", domain: str | None = "acme.com") -> str:
    data = await caller.data(COMPANY, {"i": {"name": name, "domain": domain}})
    return data["createCompany"]["id"]


async def contact(caller: Caller, first: str, last: str, email: str | None, **kw: Any) -> str:
    data = await caller.data(
        CONTACT, {"i": {"firstName": first, "lastName": last, "email": email, **kw}}
    )
    return data["createContact"]["id"]


async def test_acceptance_api_names(admin: Caller) -> None:
    company_id = await company(admin)
    created = await admin.data(
        CONTACT,
        {"i": {"firstName": "Ada", "lastName": "L", "email": "ada@acme.com",
               "companyId": company_id}},
    )  # fmt: skip
    contact_id = created["createContact"]["id"]
    assert created["createContact"]["company"] == {"id": company_id}
    assert created["createContact"]["lifecycleStage"] == "LEAD"
    logged = await admin.data(
        LOG,
        {"i": {"contactId": contact_id, "kind": "CALL", "occurredAt": "2026-01-02T10:00:00Z",
               "subject": "Hello"}},
    )  # fmt: skip
    assert logged["logInteraction"]["companyId"] == company_id  # defaults to the contact's
    data = await admin.data(
        """query($id: ID!) { contact(id: $id) { id email company { id name }
             interactions(first: 5) { totalCount edges { node { id kind subject } } } }
           contacts(filter: {text: "ADA"}, first: 10) { totalCount edges { node { id } } } }""",
        {"id": contact_id},
    )
    assert data["contact"]["company"]["name"] == "Acme"
    assert data["contact"]["interactions"]["edges"][0]["node"]["kind"] == "CALL"
    assert data["contacts"]["totalCount"] == 1


async def test_one_contact_per_email(admin: Caller, store: FakeStore) -> None:
    first = await contact(admin, "Ada", "L", "ada@x.com")
    error = error_of(
        await admin.execute(CONTACT, {"i": {"firstName": "Other", "email": " ADA@X.com"}})
    )
    assert error["extensions"]["code"] == "CONFLICT"
    assert error["extensions"]["existingId"] == first
    assert error["extensions"]["field"] == "input.email"
    # A secondary address counts too, both ways.
    second = await contact(admin, "Bob", "B", "bob@x.com", emails=["bob@home.org"])
    error = error_of(
        await admin.execute(CONTACT, {"i": {"firstName": "C", "email": "bob@home.org"}})
    )
    assert error["extensions"]["existingId"] == second
    error = error_of(await admin.execute(UPDATE, {"id": first, "i": {"emails": ["bob@x.com"]}}))
    assert error["extensions"]["code"] == "CONFLICT"
    assert error["extensions"]["field"] == "input.emails"
    assert len(store.events_of_type(contract.CONTACT_CREATED)) == 2


async def test_soft_delete_keeps_the_email_and_restore_works(
    admin: Caller, rep: Caller, store: FakeStore
) -> None:
    contact_id = await contact(admin, "Ada", "L", "ada@x.com")
    deleted = await admin.data("mutation($id: ID!) { deleteContact(id: $id) { deletedAt } }",
                               {"id": contact_id})  # fmt: skip
    assert deleted["deleteContact"]["deletedAt"]
    assert (await admin.data(GET, {"id": contact_id}))["contact"] is None
    assert (await admin.data(LIST))["contacts"]["totalCount"] == 0
    listed = await admin.data(LIST, {"f": {"includeDeleted": True}})
    assert listed["contacts"]["totalCount"] == 1
    error = error_of(await rep.execute(LIST, {"f": {"includeDeleted": True}}))
    assert error["extensions"]["code"] == "FORBIDDEN"
    error = error_of(await admin.execute(CONTACT, {"i": {"firstName": "X", "email": "ada@x.com"}}))
    assert error["extensions"] == {
        "code": "CONFLICT", "existingId": contact_id, "existingDeleted": True,
        "field": "input.email",
    }  # fmt: skip
    restored = await admin.data(
        "mutation($id: ID!) { restoreContact(id: $id) { id deletedAt email } }", {"id": contact_id}
    )
    assert restored["restoreContact"] == {"id": contact_id, "deletedAt": None, "email": "ada@x.com"}
    assert len(store.events_of_type(contract.CONTACT_DELETED)) == 1
    assert len(store.events_of_type(contract.CONTACT_RESTORED)) == 1


async def test_company_soft_delete_restore_and_rename(admin: Caller, store: FakeStore) -> None:
    company_id = await company(admin, "Initech", "initech.com")
    await contact(admin, "Peter", "Gibbons", "peter@initech.com", companyId=company_id)
    await admin.data(
        'mutation($id: ID!) { updateCompany(id: $id, input: {name: "Initrode"}) { name } }',
        {"id": company_id},
    )
    found = await admin.data(LIST, {"f": {"text": "initrode"}})
    assert found["contacts"]["totalCount"] == 1  # search sees the new company name
    await admin.data("mutation($id: ID!) { deleteCompany(id: $id) { id } }", {"id": company_id})
    assert (await admin.data("query($id: ID!) { company(id: $id) { id } }", {"id": company_id}))[
        "company"
    ] is None
    error = error_of(
        await admin.execute(CONTACT, {"i": {"firstName": "M", "companyId": company_id}})
    )
    assert error["extensions"]["code"] == "NOT_FOUND"
    assert error["extensions"]["field"] == "input.companyId"
    await admin.data("mutation($id: ID!) { restoreCompany(id: $id) { id } }", {"id": company_id})
    assert (await admin.data("query($id: ID!) { company(id: $id) { name } }", {"id": company_id}))[
        "company"
    ] == {"name": "Initrode"}
    kinds = [e.type for e in store.outbox if e.type.startswith("crm.contacts.company")]
    assert kinds == [
        contract.COMPANY_CREATED, contract.COMPANY_UPDATED, contract.COMPANY_DELETED,
        contract.COMPANY_RESTORED,
    ]  # fmt: skip
    updated = store.events_of_type(contract.COMPANY_UPDATED)[0]
    assert contract.CompanyUpdated.model_validate(updated.data).changed_fields == ["name"]
    error = error_of(
        await admin.execute(COMPANY, {"i": {"name": "Again", "domain": "INITECH.com"}})
    )
    assert error["extensions"]["code"] == "CONFLICT"
    assert error["extensions"]["existingId"] == company_id


async def test_update_distinguishes_missing_from_null(admin: Caller, store: FakeStore) -> None:
    contact_id = await contact(admin, "Ada", "L", "ada@x.com", title="CTO", tags=["vip"])
    data = await admin.data(
        UPDATE, {"id": contact_id, "i": {"title": None, "phones": ["4155552671"]}}
    )
    assert data["updateContact"]["title"] is None
    assert data["updateContact"]["tags"] == ["vip"]  # not sent: kept
    assert data["updateContact"]["phones"] == ["+14155552671"]
    event = store.events_of_type(contract.CONTACT_UPDATED)[-1]
    assert contract.ContactUpdated.model_validate(event.data).changed_fields == ["phones", "title"]
    # An update that changes nothing writes nothing.
    before = len(store.outbox)
    await admin.data(UPDATE, {"id": contact_id, "i": {"firstName": "Ada"}})
    assert len(store.outbox) == before


@pytest.mark.parametrize(
    ("query", "variables", "code", "field"),
    [
        (GET, {"id": "nope"}, "BAD_USER_INPUT", "id"),
        (CONTACT, {"i": {"firstName": "A", "email": "not-an-email"}}, "BAD_USER_INPUT",
         "input.email"),
        (CONTACT, {"i": {"firstName": "  ", "email": "a@b.co"}}, "BAD_USER_INPUT",
         "input.firstName"),
        (CONTACT, {"i": {"firstName": "A", "phones": ["12"]}}, "BAD_USER_INPUT",
         "input.phones[0]"),
        (CONTACT, {"i": {"firstName": "A", "companyId": "0" * 24}}, "NOT_FOUND",
         "input.companyId"),
        (CONTACT, {"i": {"firstName": "A", "companyId": "x"}}, "BAD_USER_INPUT",
         "input.companyId"),
        (CONTACT, {"i": {"firstName": "A", "customFields": [1]}}, "BAD_USER_INPUT",
         "input.customFields"),
        (CONTACT, {"i": {"firstName": "A", "customFields": {"a.b": 1}}}, "BAD_USER_INPUT",
         "input.customFields.a.b"),
        (CONTACT, {"i": {"firstName": "A", "customFields": {"hq": {"city": "Lyon"}}}},
         "BAD_USER_INPUT", "input.customFields.hq"),
        (COMPANY, {"i": {"name": "X", "customFields": {"$set": 1}}}, "BAD_USER_INPUT",
         "input.customFields.$set"),
        (LIST, {"first": 1000}, "BAD_USER_INPUT", "first"),
        (LIST, {"first": -1}, "BAD_USER_INPUT", "first"),
        (LIST, {"after": "garbage!"}, "BAD_USER_INPUT", "after"),
        (LIST, {"after": "WyJ4IiwieSJd"}, "BAD_USER_INPUT", "after"),  # ["x","y"]
        (LIST, {"f": {"companyId": "bad"}}, "BAD_USER_INPUT", "filter.companyId"),
        (UPDATE, {"id": "0" * 24, "i": {"title": "x"}}, "NOT_FOUND", "id"),
        (LOG, {"i": {"kind": "CALL"}}, "BAD_USER_INPUT", "input.contactId"),
        (LOG, {"i": {"kind": "CALL", "contactId": "0" * 24}}, "NOT_FOUND", "input.contactId"),
        (MERGE, {"s": "0" * 24, "d": "0" * 24}, "BAD_USER_INPUT", "duplicateId"),
        (MERGE, {"s": "0" * 24, "d": "1" * 24}, "NOT_FOUND", "survivorId"),
        (COMPANY, {"i": {"name": "X", "domain": "nope"}}, "BAD_USER_INPUT", "input.domain"),
        (COMPANY, {"i": {"name": ""}}, "BAD_USER_INPUT", "input.name"),
        ("mutation { createCompany(input: {name: \"X\", size: -1}) { id } }", {}, "BAD_USER_INPUT",
         "input.size"),
    ],
)  # fmt: skip
async def test_client_errors_have_codes_and_fields(
    admin: Caller, query: str, variables: dict, code: str, field: str
) -> None:
    error = error_of(await admin.execute(query, variables))
    assert error["extensions"]["code"] == code, error
    assert error["extensions"].get("field") == field, error
    assert "Traceback" not in str(error)


@pytest.mark.parametrize(
    "query",
    [
        '{ contacts(first: "ten") { totalCount } }',
        "{ contact { id } }",
        "mutation { logInteraction(input: {kind: PHONE_CALL}) { id } }",
        "{ nope }",
        "{ contacts(",
    ],
)
async def test_malformed_operations_are_client_errors(admin: Caller, query: str) -> None:
    error = error_of(await admin.execute(query))
    assert error["extensions"]["code"] in {
        "BAD_USER_INPUT", "GRAPHQL_VALIDATION_FAILED", "GRAPHQL_PARSE_FAILED",
    }  # fmt: skip


async def test_viewer_reads_but_cannot_write(admin: Caller, viewer: Caller) -> None:
    contact_id = await contact(admin, "Ada", "L", "ada@x.com")
    assert (await viewer.data(GET, {"id": contact_id}))["contact"]["id"] == contact_id
    for query, variables in [
        (CONTACT, {"i": {"firstName": "V"}}),
        (COMPANY, {"i": {"name": "V"}}),
        (UPDATE, {"id": contact_id, "i": {"title": "x"}}),
        ("mutation($id: ID!) { deleteContact(id: $id) { id } }", {"id": contact_id}),
        (LOG, {"i": {"kind": "NOTE", "contactId": contact_id}}),
        (MERGE, {"s": contact_id, "d": "1" * 24, "dry": False}),
    ]:
        error = error_of(await viewer.execute(query, variables))
        assert error["extensions"]["code"] == "FORBIDDEN", (query, error)


async def test_workspaces_are_isolated(admin: Caller, other_workspace: Caller) -> None:
    company_id = await company(admin)
    contact_id = await contact(admin, "Ada", "L", "ada@x.com", companyId=company_id)
    other = other_workspace
    assert (await other.data(GET, {"id": contact_id}))["contact"] is None
    assert (await other.data(LIST))["contacts"]["totalCount"] == 0
    assert (await other.data("query($id: ID!) { company(id: $id) { id } }", {"id": company_id}))[
        "company"
    ] is None
    for query, variables in [
        (UPDATE, {"id": contact_id, "i": {"title": "pwned"}}),
        ("mutation($id: ID!) { deleteContact(id: $id) { id } }", {"id": contact_id}),
        ("mutation($id: ID!) { restoreContact(id: $id) { id } }", {"id": contact_id}),
        ('mutation($id: ID!) { updateCompany(id: $id, input: {name: "x"}) { id } }',
         {"id": company_id}),
        ("mutation($id: ID!) { deleteCompany(id: $id) { id } }", {"id": company_id}),
        (LOG, {"i": {"kind": "NOTE", "contactId": contact_id}}),
        (CONTACT, {"i": {"firstName": "X", "companyId": company_id}}),
        ("query($id: ID!) { findDuplicates(contactId: $id) { reasons } }", {"id": contact_id}),
    ]:  # fmt: skip
        error = error_of(await other.execute(query, variables))
        assert error["extensions"]["code"] == "NOT_FOUND", (query, error)
    entities = await other.data(
        """query($r: [_Any!]!) { _entities(representations: $r) { ... on Contact { id } } }""",
        {"r": [{"__typename": "Contact", "id": contact_id}]},
    )
    assert entities["_entities"] == [None]
    # The same email is free in another workspace.
    await contact(other, "Ada", "Twin", "ada@x.com")
    assert (await admin.data(GET, {"id": contact_id}))["contact"]["email"] == "ada@x.com"


class CountingStore:
    """Counts the contact batches the resolvers ask the store for."""

    def __init__(self, fake: FakeStore) -> None:
        self.fake = fake
        self.batches: list[list[str]] = []

    def for_workspace(self, workspace_id: str) -> Any:
        scoped = self.fake.for_workspace(workspace_id)
        original = scoped.get_contacts

        async def counted(ids: Any) -> Any:
            self.batches.append(list(ids))
            return await original(ids)

        scoped.get_contacts = counted  # type: ignore[method-assign]
        return scoped


async def test_entities_resolve_in_one_batch(store: FakeStore) -> None:
    counting = CountingStore(store)
    admin = caller(counting, "w1", "admin")
    ids = [await contact(admin, f"P{i}", "L", f"p{i}@x.com") for i in range(5)]
    company_id = await company(admin)
    counting.batches.clear()
    representations = [{"__typename": "Contact", "id": i} for i in ids] + [
        {"__typename": "Contact", "id": ids[0]},
        {"__typename": "Contact", "id": "0" * 24},
        {"__typename": "Contact", "id": "not-an-id"},
        {"__typename": "Company", "id": company_id},
    ]
    data = await admin.data(
        """query($r: [_Any!]!) { _entities(representations: $r) {
             ... on Contact { id email } ... on Company { id name } } }""",
        {"r": representations},
    )
    found = data["_entities"]
    assert [e["id"] if e else None for e in found] == [*ids, ids[0], None, None, company_id]
    assert len(counting.batches) == 1
    assert sorted(counting.batches[0]) == sorted([*ids, "0" * 24])  # de-duplicated, valid ids


async def test_service_sdl_has_keys_and_link(admin: Caller) -> None:
    sdl = (await admin.data("{ _service { sdl } }"))["_service"]["sdl"]
    assert 'type Contact @key(fields: "id")' in sdl
    assert 'type Company @key(fields: "id")' in sdl
    assert "federation/v2.9" in sdl


async def test_filters_ordering_and_keyset_paging(admin: Caller) -> None:
    acme = await company(admin, "Acme")
    names = ["Zed", "Young", "Xu", "Walker", "Vance", "Upton", "Tanaka"]
    ids = {}
    for n, last in enumerate(names):
        ids[last] = await contact(
            admin, "P", last, f"{last.lower()}@x.com",
            companyId=acme if n % 2 == 0 else None,
            tags=["vip"] if n < 3 else [],
            ownerId="darcel-schlecht" if n == 1 else None,
            lifecycleStage="CUSTOMER" if n == 2 else "LEAD",
        )  # fmt: skip
    seen: list[str] = []
    after = None
    while True:
        page = (
            await admin.data(
                LIST, {"o": {"field": "LAST_NAME", "direction": "ASC"}, "first": 3, "after": after}
            )
        )["contacts"]
        assert page["totalCount"] == 7
        seen += [e["node"]["lastName"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == sorted(names)
    newest = (await admin.data(LIST, {"first": 2}))["contacts"]["edges"]
    assert [e["node"]["lastName"] for e in newest] == ["Tanaka", "Upton"]

    async def count(f: dict) -> int:
        return (await admin.data(LIST, {"f": f}))["contacts"]["totalCount"]

    assert await count({"companyId": acme}) == 4
    assert await count({"tag": "VIP"}) == 3
    assert await count({"ownerId": "darcel-schlecht"}) == 1
    assert await count({"lifecycleStage": "CUSTOMER"}) == 1
    assert await count({"text": "acme"}) == 4
    assert await count({"text": "WALKER@X"}) == 1
    assert await count({"text": "p zed"}) == 1
    assert await count({"text": ".*"}) == 0  # literal, not a regex
    assert await count({"createdAfter": "2000-01-01T00:00:00Z"}) == 7
    assert await count({"createdBefore": "2000-01-01T00:00:00Z"}) == 0
    # A cursor from another ordering is refused.
    error = error_of(await admin.execute(LIST, {"first": 1, "after": after}))
    assert error["extensions"]["field"] == "after"


async def test_timelines_are_newest_first_and_paged(admin: Caller) -> None:
    acme = await company(admin)
    ada = await contact(admin, "Ada", "L", "ada@x.com", companyId=acme)
    bob = await contact(admin, "Bob", "B", "bob@x.com", companyId=acme)
    for day, who in [(1, ada), (3, ada), (2, bob), (4, ada)]:
        await admin.data(
            LOG, {"i": {"contactId": who, "kind": "EMAIL", "subject": f"d{day}",
                        "occurredAt": f"2026-01-0{day}T00:00:00Z", "dealId": "deal-1"}}
        )  # fmt: skip
    query = """query($id: ID!, $after: String) { contact(id: $id) {
        interactions(first: 2, after: $after) { totalCount pageInfo { hasNextPage endCursor }
          edges { node { subject dealId contacts { id } } } } } }"""
    first = (await admin.data(query, {"id": ada}))["contact"]["interactions"]
    assert [e["node"]["subject"] for e in first["edges"]] == ["d4", "d3"]
    assert first["totalCount"] == 3
    assert first["edges"][0]["node"]["dealId"] == "deal-1"
    rest = await admin.data(query, {"id": ada, "after": first["pageInfo"]["endCursor"]})
    assert [e["node"]["subject"] for e in rest["contact"]["interactions"]["edges"]] == ["d1"]
    company_view = await admin.data(
        """query($id: ID!) { company(id: $id) { contacts { totalCount }
             interactions(first: 10) { edges { node { subject } } } } }""",
        {"id": acme},
    )
    assert company_view["company"]["contacts"]["totalCount"] == 2
    subjects = [e["node"]["subject"] for e in company_view["company"]["interactions"]["edges"]]
    assert subjects == ["d4", "d3", "d2", "d1"]


async def test_find_duplicates(admin: Caller) -> None:
    acme = await company(admin)
    jon = await contact(admin, "Jon", "Smith", "jon@acme.com", companyId=acme,
                        phones=["415 555 2671"])  # fmt: skip
    john = await contact(admin, "John", "Smith", "john.smith@acme.com", companyId=acme)
    same_phone = await contact(admin, "J", "S", "js@else.org", phones=["+1 415-555-2671"])
    await contact(admin, "Mary", "Jones", "mary@acme.com", companyId=acme)
    found = await admin.data(
        "query($id: ID!) { findDuplicates(contactId: $id) { contact { id } reasons } }",
        {"id": jon},
    )
    assert found["findDuplicates"] == [
        {"contact": {"id": john}, "reasons": ["SIMILAR_NAME"]},
        {"contact": {"id": same_phone}, "reasons": ["SAME_PHONE"]},
    ] or found["findDuplicates"] == [
        {"contact": {"id": same_phone}, "reasons": ["SAME_PHONE"]},
        {"contact": {"id": john}, "reasons": ["SIMILAR_NAME"]},
    ]


async def test_merge_dry_run_then_apply_then_repeat(admin: Caller, store: FakeStore) -> None:
    acme = await company(admin)
    survivor = await contact(admin, "Ada", "Lovelace", "ada@acme.com")
    duplicate = await contact(admin, "Ada", "Lovelace", "ada@home.org", companyId=acme,
                              phones=["4155552671"], title="CTO")  # fmt: skip
    for n in range(3):
        await admin.data(LOG, {"i": {"contactId": duplicate, "kind": "NOTE", "subject": f"n{n}"}})
    variables = {"s": survivor, "d": duplicate, "dry": True}
    plan = (await admin.data(MERGE, variables))["mergeContacts"]
    assert plan["dryRun"] is True
    assert plan["movedInteractions"] == 3
    assert len(plan["interactionIds"]) == 3
    changes = {c["field"]: c["after"] for c in plan["changes"]}
    assert changes["emails"] == ["ada@acme.com", "ada@home.org"]
    assert changes["companyId"] == acme and changes["title"] == "CTO"
    assert (await admin.data(GET, {"id": duplicate}))["contact"]["mergedIntoId"] is None
    assert store.events_of_type(contract.CONTACT_MERGED) == []

    applied = (await admin.data(MERGE, {**variables, "dry": False}))["mergeContacts"]
    assert applied["dryRun"] is False
    assert applied["survivor"]["emails"] == ["ada@acme.com", "ada@home.org"]
    assert applied["survivor"]["phones"] == ["+14155552671"]
    assert (await admin.data(GET, {"id": duplicate}))["contact"] is None
    timeline = await admin.data(
        "query($id: ID!) { contact(id: $id) { interactions { totalCount } } }", {"id": survivor}
    )
    assert timeline["contact"]["interactions"]["totalCount"] == 3
    merged_events = store.events_of_type(contract.CONTACT_MERGED)
    assert len(merged_events) == 1
    payload = contract.ContactMerged.model_validate(merged_events[0].data)
    assert (payload.survivor_id, payload.merged_id, payload.moved_interactions) == (
        survivor,
        duplicate,
        3,
    )
    # Repeating is harmless; restoring a merged contact is refused.
    again = (await admin.data(MERGE, {**variables, "dry": False}))["mergeContacts"]
    assert again["alreadyMerged"] is True
    assert len(store.events_of_type(contract.CONTACT_MERGED)) == 1
    error = error_of(await admin.execute(
        "mutation($id: ID!) { restoreContact(id: $id) { id } }", {"id": duplicate}
    ))  # fmt: skip
    assert error["extensions"]["code"] == "CONFLICT"
    assert error["extensions"]["existingId"] == survivor
    # The merged address now belongs to the survivor.
    error = error_of(
        await admin.execute(CONTACT, {"i": {"firstName": "X", "email": "ada@home.org"}})
    )
    assert error["extensions"]["existingId"] == survivor
    # Merging into another survivor is a conflict.
    third = await contact(admin, "T", "T", "t@x.com")
    error = error_of(await admin.execute(MERGE, {"s": third, "d": duplicate}))
    assert error["extensions"]["code"] == "CONFLICT"


async def test_interrupted_merge_resumes(
    admin: Caller, store: FakeStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    survivor = await contact(admin, "Ada", "L", "ada@acme.com")
    duplicate = await contact(admin, "Ada", "L", "ada@home.org", title="CTO")
    await admin.data(LOG, {"i": {"contactId": duplicate, "kind": "NOTE"}})
    original = MemoryRecords.save
    calls = 0

    async def crash_once(self: MemoryRecords[Any], record: Any, **kwargs: Any) -> bool:
        # The process dies after writing the survivor, before marking the duplicate.
        nonlocal calls
        if getattr(record, "merged_into", None):
            calls += 1
            if calls == 1:
                raise ConnectionError("simulated crash")
        return await original(self, record, **kwargs)

    monkeypatch.setattr(MemoryRecords, "save", crash_once)
    body = await admin.execute(MERGE, {"s": survivor, "d": duplicate})
    assert error_of(body)["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
    assert "simulated" not in str(body)  # no internals leak
    pending = await store.pending_merges()
    assert [m.duplicate_id for m in pending] == [duplicate]
    # Re-running the same merge finishes it; the survivor update is not applied twice.
    done = (await admin.data(MERGE, {"s": survivor, "d": duplicate}))["mergeContacts"]
    assert done["survivor"]["title"] == "CTO"
    assert calls == 2
    assert await store.pending_merges() == []
    assert len(store.events_of_type(contract.CONTACT_MERGED)) == 1
    updates = [e for e in store.events_of_type(contract.CONTACT_UPDATED) if e.subject == survivor]
    assert len(updates) == 1


async def test_merges_a_crash_left_are_finished_at_start(admin: Caller, store: FakeStore) -> None:
    survivor = await contact(admin, "Ada", "L", "ada@acme.com")
    duplicate = await contact(admin, "Ada", "L", "ada@home.org", title="CTO")
    scoped = store.for_workspace("w1")
    record = MergeRecord(duplicate, "w1", survivor, moved_interactions=0, changed_fields=["title"])
    assert await scoped.add_merge(record)
    assert await resume_merges(store.store) == 1
    assert await store.pending_merges() == []
    found = (await admin.data(GET, {"id": duplicate}))["contact"]
    assert found is None  # merged, so deleted
    # The survivor holds the duplicate's address (the claims read model too).
    error = error_of(
        await admin.execute(CONTACT, {"i": {"firstName": "X", "email": "ada@home.org"}})
    )
    assert error["extensions"]["existingId"] == survivor
