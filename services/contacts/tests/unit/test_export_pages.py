"""The export pages of companies, contacts and interactions, and the names endpoint
(`crm_contracts.export_pages`), on the in-memory store: rows read as the caller (record
sharing; hidden addresses and numbers empty), the GraphQL filters with errors naming
`filter.<key>`, paging to the end, references written as the imports read them."""

from __future__ import annotations

from typing import Any

import pytest

from crm_contacts.entrypoints.exports import export_endpoints
from crm_contacts.graphql.export_pages import export_readers
from crm_kit.context import RequestContext
from crm_kit.exports import page_endpoints
from crm_kit.rpc import RpcError

from .conftest import FakeStore
from .test_record_sharing import HIDE_ADDRESSES, World

RITA = RequestContext("w1", "rita", frozenset({"rep"}))
ADA = RequestContext("w1", "ada", frozenset({"admin"}))


def handlers(world: World) -> dict[str, Any]:
    found = [*page_endpoints(export_readers(world.scopes)), *export_endpoints(world.scopes)]
    return {endpoint.subject: endpoint.handler for endpoint in found}


async def all_rows(handler: Any, caller: RequestContext, filter: dict[str, Any]) -> list[dict]:
    rows: list[dict] = []
    after = None
    while True:
        reply = await handler(caller, {"filter": filter, "after": after, "limit": 1})
        rows.extend(reply["rows"])
        after = reply["after"]
        if after is None:
            return rows


async def test_contacts_follow_sharing_and_hidden_fields_are_empty(store: FakeStore) -> None:
    world = await World(store).build("own", HIDE_ADDRESSES)
    pages = handlers(world)
    contacts = pages["rpc.contacts.export_contacts.page"]
    (mine,) = await all_rows(contacts, RITA, {})
    assert (mine["last_name"], mine["owner_id"]) == ("rita", "rita")
    assert mine["email"] is None and mine["emails"] is None and mine["phones"] is None
    assert mine["external_id"] == mine["id"] == world.ids["rita-contact"]
    everyone = await all_rows(contacts, ADA, {})
    assert sorted((r["last_name"], r["email"], tuple(r["phones"])) for r in everyone) == [
        ("otto", "otto.client@example.com", ("+14155550100",)),
        ("rita", "rita.client@example.com", ("+14155550100",)),
    ]
    companies = await all_rows(pages["rpc.contacts.export_companies.page"], RITA, {})
    assert [c["name"] for c in companies] == ["rita"]


async def test_the_list_filters_narrow_and_their_errors_name_the_key(store: FakeStore) -> None:
    world = await World(store).build("everyone")
    pages = handlers(world)
    contacts = pages["rpc.contacts.export_contacts.page"]
    assert [r["last_name"] for r in await all_rows(contacts, ADA, {"ownerId": "otto"})] == ["otto"]
    for subject, bad, field in (
        ("rpc.contacts.export_contacts.page", {"lifecycleStage": "ALIEN"}, "filter.lifecycleStage"),
        ("rpc.contacts.export_contacts.page", {"companyId": "nope"}, "filter.companyId"),
        ("rpc.contacts.export_companies.page", {"colour": "red"}, "filter.colour"),
        ("rpc.contacts.export_interactions.page", {"dealId": "x"}, "filter.dealId"),
    ):
        with pytest.raises(RpcError) as refused:
            await pages[subject](ADA, {"filter": bad})
        assert refused.value.code == "BAD_REQUEST", bad
        assert refused.value.message.startswith(f"{field}: "), refused.value.message


async def test_interactions_name_their_people_and_company(store: FakeStore) -> None:
    world = await World(store).build("own", HIDE_ADDRESSES)
    ada = world.client("ada")
    for owner in ("rita", "otto"):
        await ada.data(
            """mutation($c: ID!, $s: String!) { logInteraction(input: {kind: CALL,
                contactId: $c, subject: $s, durationSeconds: 60}) { id } }""",
            {"c": world.ids[f"{owner}-contact"], "s": f"call {owner}"},
        )
    timeline = handlers(world)["rpc.contacts.export_interactions.page"]
    everything = await all_rows(timeline, ADA, {})
    assert sorted((r["subject"], r["contact_email"]) for r in everything) == [
        ("call otto", "otto.client@example.com"),
        ("call rita", "rita.client@example.com"),
    ]
    assert all(r["kind"] == "call" and r["duration_seconds"] == 60 for r in everything)
    # Rita sees her contact's entry only, without the address her role may not read.
    (hers,) = await all_rows(timeline, RITA, {})
    assert (hers["subject"], hers["contact_email"]) == ("call rita", None)
    one = await all_rows(timeline, ADA, {"contactId": world.ids["otto-contact"]})
    assert [r["subject"] for r in one] == ["call otto"]


async def test_names_answer_what_the_caller_sees(store: FakeStore) -> None:
    world = await World(store).build("own", HIDE_ADDRESSES)
    names = handlers(world)["rpc.contacts.export.names"]
    request = {
        "companyIds": [world.ids["rita-company"], world.ids["otto-company"]],
        "contactIds": [world.ids["rita-contact"], world.ids["otto-contact"]],
    }
    assert await names(RITA, request) == {
        "companies": {world.ids["rita-company"]: "rita"},
        "emails": {},
    }
    answered = await names(ADA, request)
    assert answered["emails"] == {
        world.ids["rita-contact"]: "rita.client@example.com",
        world.ids["otto-contact"]: "otto.client@example.com",
    }
