"""The real app (lifespan: FerretDB, NATS, outbox relay, NATS endpoints) per test, in a
database of its own. Every test runs twice on the real FerretDB: with the embedded
database's workarounds (the profile `auto` detects: `ferretdb`) and as on MongoDB (the
`mongodb` profile: conditional filters, no email claims), so both paths meet a real
server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from nats.aio.client import Client
from starlette.applications import Starlette

from crm_contacts.app import create_app
from crm_kit.settings import Settings
from crm_kit.testing import GraphQLClient, gateway_auth, reference_standins, running_app


@dataclass
class Running:
    app: Starlette
    http: httpx.AsyncClient
    admin: GraphQLClient
    settings: Settings
    # Deal ids the deals stand-in says do not exist (every other one does).
    missing_deals: set[str]

    def client(self, workspace: str = "w1", roles: str = "admin") -> GraphQLClient:
        return GraphQLClient(self.http, gateway_auth("contacts", workspace, "alice", roles))

    @property
    def runtime(self) -> Any:
        return self.app.state.runtime


def service_settings(infra: Any, db_name: str, profile: str) -> Settings:
    """The service on the test's servers and database, with the database profile asked."""
    return Settings(
        service="contacts",
        mongodb_uri=infra.mongodb_uri,
        database=db_name,
        nats_url=infra.nats_url,
        outbox_sweep_seconds=0.2,
        # What the command-line importer writes one record at a time (no relay of its own)
        # goes out through the backstop sweep: short here, 120 s by default.
        outbox_backstop_seconds=1.0,
        database_profile=profile,
    )


@pytest.fixture(params=["auto", "mongodb"])
async def running(
    request: pytest.FixtureRequest, infra: Any, db_name: str
) -> AsyncIterator[Running]:
    settings = service_settings(infra, db_name, request.param)
    app = create_app(settings)
    # The deals service's answer on an interaction's deal (`deal.get`), without deals.
    nc = await infra.connect_nats()
    async with (
        reference_standins(nc, set(), contacts=False) as missing_deals,
        running_app(app) as http,
    ):
        yield Running(
            app,
            http,
            GraphQLClient(http, gateway_auth("contacts", "w1", "alice", "admin")),
            settings,
            missing_deals,
        )
    await nc.close()


@pytest.fixture
async def nc(infra: Any) -> AsyncIterator[Client]:
    client = await infra.connect_nats()
    yield client
    await client.close()
