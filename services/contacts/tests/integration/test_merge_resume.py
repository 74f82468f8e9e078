"""A merge interrupted by a crash is finished when the service starts again."""

from __future__ import annotations

from typing import Any

import pytest

from crm_contacts.app import create_app
from crm_contacts.domain.merge import MergeRecord
from crm_kit.testing import GraphQLClient, gateway_auth, running_app

pytestmark = pytest.mark.integration

CONTACT = "mutation($i: CreateContactInput!) { createContact(input: $i) { id } }"


async def test_open_merge_record_is_resumed_at_start(running: Any) -> None:
    gql = running.admin
    survivor = (await gql.data(CONTACT, {"i": {"firstName": "Ada", "email": "ada@a.com"}}))[
        "createContact"
    ]["id"]
    duplicate = (
        await gql.data(CONTACT, {"i": {"firstName": "Ada", "email": "ada@b.com", "title": "CTO"}})
    )["createContact"]["id"]
    await gql.data(
        "mutation($id: ID!) { logInteraction(input: {contactId: $id, kind: NOTE}) { id } }",
        {"id": duplicate},
    )
    # The "crashed" merge: its record written and the interactions moved, nothing else.
    store = running.app.state.store.for_workspace("w1")
    record = MergeRecord(duplicate, "w1", survivor, moved_interactions=1, changed_fields=["title"])
    assert await store.add_merge(record)
    await store.move_interactions(duplicate, survivor)

    restarted = create_app(running.settings)
    async with running_app(restarted) as http:
        client = GraphQLClient(http, gateway_auth("contacts", "w1", "alice", "admin"))
        data = await client.data(
            """query($s: ID!, $d: ID!) { s: contact(id: $s) { title emails
                 interactions { totalCount } } d: contact(id: $d, includeDeleted: true) {
                 mergedIntoId } }""",
            {"s": survivor, "d": duplicate},
        )
    assert data["s"] == {
        "title": "CTO",
        "emails": ["ada@a.com", "ada@b.com"],
        "interactions": {"totalCount": 1},
    }
    assert data["d"] == {"mergedIntoId": survivor}
    assert (await store.get_merge(duplicate)).status == "done"
