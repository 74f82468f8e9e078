"""The real capture app and the real contacts app (each with its lifespan: FerretDB, NATS,
outbox relay, consumers, endpoints) per test, in databases of their own, plus inbound SMTP
on a free port; a real Dovecot for the IMAP tests. The capture app runs in both database
profiles (`auto` detects FerretDB: writes filtered on `_id`, conditions checked under the
lock; `mongodb`: conditional writes in the database), so both paths meet a real server."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any
from uuid import uuid4

import httpx
import pytest
from starlette.applications import Starlette

from crm_capture.app import create_app as create_capture
from crm_capture.config import CaptureConfig
from crm_contacts.app import create_app as create_contacts
from crm_kit.devstack import free_port
from crm_kit.settings import Settings
from crm_kit.testing import GraphQLClient, gateway_auth, running_app

from .dovecot import Dovecot, start_dovecot

INTERNAL = "ourco.example"


@dataclass
class Stack:
    capture: GraphQLClient
    contacts: GraphQLClient
    capture_http: httpx.AsyncClient
    workspace: str
    smtp_port: int
    config: CaptureConfig
    app: Any

    async def contact(self, email: str, first: str = "Ann", company_id: str | None = None) -> str:
        data = await self.contacts.data(
            "mutation($i: CreateContactInput!) { createContact(input: $i) { id } }",
            {"i": {"firstName": first, "email": email, "companyId": company_id}},
        )
        return str(data["createContact"]["id"])

    async def company(self, name: str, domain: str) -> str:
        data = await self.contacts.data(
            "mutation($i: CreateCompanyInput!) { createCompany(input: $i) { id } }",
            {"i": {"name": name, "domain": domain}},
        )
        return str(data["createCompany"]["id"])

    async def timeline(self, contact_id: str) -> list[dict[str, Any]]:
        data = await self.contacts.data(
            """query($id: ID!) { contact(id: $id) { lastActivityAt interactions(first: 50) {
                 edges { node { id kind subject summary direction source occurredAt
                 participants loggedBy dealId } } } } }""",
            {"id": contact_id},
        )
        return [e["node"] for e in data["contact"]["interactions"]["edges"]]


def settings(service: str, infra: Any, database: str, profile: str = "auto") -> Settings:
    return Settings(
        service=service,
        mongodb_uri=infra.mongodb_uri,
        database=database,
        nats_url=infra.nats_url,
        outbox_sweep_seconds=0.2,
        database_profile=profile,
    )


@contextlib.asynccontextmanager
async def capture_service(
    infra: Any, db_name: str, config: CaptureConfig, profile: str = "auto"
) -> AsyncIterator[tuple[httpx.AsyncClient, Starlette]]:
    """One capture process (its lifespan), on the test's capture database."""
    app = create_capture(settings("capture", infra, f"{db_name}_cap", profile), config=config)
    async with running_app(app) as http:
        yield http, app


@pytest.fixture
async def contacts_http(infra: Any, db_name: str) -> AsyncIterator[httpx.AsyncClient]:
    async with running_app(create_contacts(settings("contacts", infra, f"{db_name}_con"))) as http:
        yield http


@pytest.fixture
def config() -> CaptureConfig:
    return CaptureConfig(smtp_port=free_port(), imap_poll_seconds=0.3, smtp_idle_seconds=10)


@pytest.fixture
def workspace() -> str:
    return f"w-{uuid4().hex[:10]}"


def make_stack(
    http: httpx.AsyncClient,
    app: Starlette,
    contacts_http: httpx.AsyncClient,
    workspace: str,
    config: CaptureConfig,
) -> Stack:
    return Stack(
        capture=GraphQLClient(http, gateway_auth("capture", workspace, "rita", "admin")),
        contacts=GraphQLClient(contacts_http, gateway_auth("contacts", workspace, "rita", "admin")),
        capture_http=http,
        workspace=workspace,
        smtp_port=config.smtp_port,
        config=config,
        app=app,
    )


async def set_internal_domain(stack: Stack) -> None:
    await stack.capture.data(
        """mutation($i: CaptureSettingsInput!) {
             updateCaptureSettings(input: $i) { bodyLimit } }""",
        {"i": {"internalDomains": [INTERNAL]}},
    )


@pytest.fixture(params=["auto", "mongodb"])
def database_profile(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def stack(
    infra: Any,
    db_name: str,
    contacts_http: httpx.AsyncClient,
    workspace: str,
    config: CaptureConfig,
    database_profile: str,
) -> AsyncIterator[Stack]:
    async with capture_service(infra, db_name, config, database_profile) as (http, app):
        stack = make_stack(http, app, contacts_http, workspace, config)
        await set_internal_domain(stack)
        yield stack


@pytest.fixture
def dovecot() -> Iterator[Dovecot]:
    server = start_dovecot()
    try:
        yield server
    finally:
        server.stop()
