"""Integration fixtures: the deals app on a real FerretDB + NATS (the session `infra`).
Every test runs twice on the real FerretDB: with the embedded database's workarounds (the
profile `auto` detects: `ferretdb`, the read index serving lists) and as on MongoDB (the
`mongodb` profile: conditional filters, no read index), so both paths meet a real server."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from nats.aio.client import Client
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from crm_deals.app import create_app
from crm_deals.importer import slug
from crm_kit.assertions import KeyRing
from crm_kit.context import RequestContext
from crm_kit.rpc import READ, Endpoint, start_rpc_service
from crm_kit.settings import Settings
from crm_kit.testing import GraphQLClient, gateway_auth, reference_standins, running_app


@pytest.fixture(params=["auto", "mongodb"])
def settings(request: pytest.FixtureRequest, infra: Any, db_name: str) -> Settings:
    return Settings(
        service="deals",
        mongodb_uri=infra.mongodb_uri,
        database=db_name,
        nats_url=infra.nats_url,
        outbox_sweep_seconds=0.5,
        max_deliveries=3,
        database_profile=request.param,
    )


@pytest.fixture
def import_argv(settings: Settings) -> Callable[..., list[str]]:
    """The arguments of `crm load deals CSV --workspace W [extra...]` aimed at this test's
    database and NATS."""

    def argv(csv: Path, workspace: str, *extra: str) -> list[str]:
        return [
            "deals",
            str(csv),
            "--workspace",
            workspace,
            "--mongodb-uri",
            settings.mongodb_uri,
            "--database",
            settings.database,
            "--nats-url",
            settings.nats_url,
            *extra,
        ]

    return argv


@pytest.fixture
async def db(settings: Settings) -> AsyncIterator[AsyncDatabase]:
    client: AsyncMongoClient = AsyncMongoClient(settings.mongodb_uri, tz_aware=True)
    yield client[settings.database]
    await client.drop_database(settings.database)
    await client.close()


@pytest.fixture
async def nc(infra: Any) -> AsyncIterator[Client]:
    """The test harness's NATS client (may publish any service's events)."""
    client = await infra.connect_nats()
    yield client
    await client.close()


@pytest.fixture(autouse=True)
async def contact_records(nc: Client) -> AsyncIterator[set[str]]:
    """Stand-ins for the contacts service's answer on the contacts and company a deal
    names (`rpc.contacts.records.check`): every id exists except those the test adds to
    the set this yields."""
    async with reference_standins(nc, set(), deals=False) as missing:
        yield missing


@pytest.fixture
async def service(settings: Settings, contact_records: set[str]) -> AsyncIterator[dict[str, Any]]:
    """The running app: `http` (ASGI client), `app`, and a GraphQL client per workspace."""
    app = create_app(settings)
    async with running_app(app) as http:

        def client(workspace: str, subject: str = "alice", roles: str = "admin") -> GraphQLClient:
            return GraphQLClient(http, gateway_auth("deals", workspace, subject, roles))

        yield {"http": http, "app": app, "client": client, "runtime": app.state.runtime}


@pytest.fixture
async def fake_contacts(nc: Client) -> AsyncIterator[dict[str, Any]]:
    """A stand-in for the contacts service's `rpc.contacts.company.find_by_name`: every
    account name is known as `co-<slug>` except those listed in `unknown`."""
    state: dict[str, Any] = {"unknown": set(), "calls": 0}

    async def find_by_name(caller: RequestContext, payload: dict[str, Any]) -> dict[str, str]:
        state["calls"] += 1
        return {
            name: f"co-{slug(name)}" for name in payload["names"] if name not in state["unknown"]
        }

    service = await start_rpc_service(
        nc,
        service="contacts-fake",
        version="0.0.1",
        description="fake contacts",
        endpoints=[
            Endpoint(
                "company-find-by-name",
                "rpc.contacts.company.find_by_name",
                find_by_name,
                "names -> ids",
                roles=READ,
            )
        ],
        keys=KeyRing.from_env("contacts"),
    )
    yield state
    await service.stop()
