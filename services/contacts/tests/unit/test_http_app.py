"""The HTTP app wired with the in-memory store: authentication gate, health, GraphQL."""

from __future__ import annotations

from crm_contacts.app import create_app
from crm_kit.settings import Settings
from crm_kit.testing import GraphQLClient, gateway_auth, running_app

from .conftest import FakeStore


async def test_app_with_fake_store() -> None:
    store = FakeStore()
    app = create_app(Settings(service="contacts"), store=store.store)
    async with running_app(app) as http:
        refused = await http.post("/graphql", json={"query": "{ __typename }"})
        assert refused.status_code == 401
        assert refused.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
        assert (await http.get("/health")).status_code == 200
        assert (await http.get("/ready")).json()["ready"] is True
        gql = GraphQLClient(http, gateway_auth("contacts", "w1", "alice", "rep"))
        data = await gql.data('mutation { createCompany(input: {name: "Acme"}) { id name } }')
        assert data["createCompany"]["name"] == "Acme"
        assert len(store.outbox) == 1
