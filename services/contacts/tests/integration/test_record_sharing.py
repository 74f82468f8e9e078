"""Record sharing on the real FerretDB and NATS (`crm_kit.sharing`): the tasks service's
team and settings events reach this service's projection through its durable consumer,
the visibility filter runs in the database, and hidden addresses stay hidden."""

from __future__ import annotations

from uuid import uuid4

import pytest
from nats.aio.client import Client

from crm_kit.sharing_testing import publish_settings, publish_team
from crm_kit.testing import GraphQLClient, eventually, gateway_auth

from .conftest import Running

pytestmark = pytest.mark.integration

CREATE = """mutation($o: String!, $e: String!) {
  createContact(input: {firstName: "Pat", lastName: $o, email: $e, ownerId: $o}) { id }
  createCompany(input: {name: $o, ownerId: $o}) { id }
}"""
VIEW = """{ contacts { totalCount edges { node { lastName } } }
           companies { totalCount } }"""


async def test_the_projection_narrows_what_each_caller_reads(running: Running, nc: Client) -> None:
    workspace = f"ws-share-{uuid4().hex[:8]}"

    def as_(subject: str, roles: str) -> GraphQLClient:
        return GraphQLClient(running.http, gateway_auth("contacts", workspace, subject, roles))

    admin = as_("ada", "admin")
    for owner in ("rita", "otto"):
        await admin.data(CREATE, {"o": owner, "e": f"{owner}.c@example.com"})
    js = nc.jetstream()
    await publish_team(js, workspace, "east", "max", ["otto"])
    await publish_settings(js, workspace, 1, {"contact": "own"}, {"contact.email": ["manager"]})
    rita = as_("rita", "rep")

    async def narrowed() -> bool:
        return (await rita.data(VIEW))["contacts"]["totalCount"] == 1

    await eventually(narrowed, timeout=15)
    data = await rita.data(VIEW)
    assert [e["node"]["lastName"] for e in data["contacts"]["edges"]] == ["rita"]
    assert data["companies"]["totalCount"] == 1
    manager = await as_("max", "manager").data(VIEW)
    assert [e["node"]["lastName"] for e in manager["contacts"]["edges"]] == ["otto"]
    body = await rita.execute("{ contacts { edges { node { lastName email } } } }")
    assert body["data"]["contacts"]["edges"] == [{"node": {"lastName": "rita", "email": None}}]
    assert body["errors"][0]["extensions"] == {"code": "FORBIDDEN", "field": "email"}
    # Searching by an address finds nothing; by name, her own.
    search = '{ contacts(filter: {text: "%s"}) { totalCount } }'
    assert (await rita.data(search % "rita.c@"))["contacts"]["totalCount"] == 0
    assert (await rita.data(search % "rita"))["contacts"]["totalCount"] == 1
