"""The capture journeys' world, made through the gateway: the corpus's companies, contacts
and open deal (services/capture/tests/corpus/expected.json), the workspace's capture
settings and its reps' addresses; and the ways in (SMTP to the capture door, uploads)."""

from __future__ import annotations

import asyncio
import json
import smtplib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from crm_kit.paths import REPO_ROOT
from crm_kit.testing import GraphQLClient, auth_headers

from .conftest import Stack

CORPUS = REPO_ROOT / "services" / "capture" / "tests" / "corpus"
EXPECTED: dict[str, Any] = json.loads((CORPUS / "expected.json").read_text())
WORLD: dict[str, Any] = EXPECTED["world"]
RITA = "rita@ourco.example"

TIMELINE = """query($id: ID!) { contact(id: $id) { lastActivityAt interactions(first: 100) {
  edges { node { id kind subject summary direction source occurredAt loggedBy dealId
  durationSeconds participants } } } } }"""
COMPANY_TIMELINE = """query($id: ID!) { company(id: $id) { interactions(first: 100) {
  edges { node { id kind subject source } } } } }"""


@dataclass
class World:
    http: httpx.AsyncClient
    workspace: str
    admin: GraphQLClient
    rita: GraphQLClient
    smtp_port: int
    inbound: str
    companies: dict[str, str] = field(default_factory=dict)  # domain -> id
    contacts: dict[str, str] = field(default_factory=dict)  # email -> id
    deal_id: str = ""

    async def timeline(self, email: str) -> list[dict[str, Any]]:
        data = await self.admin.data(TIMELINE, {"id": self.contacts[email]})
        return [e["node"] for e in data["contact"]["interactions"]["edges"]]

    async def last_activity(self, email: str) -> str | None:
        data = await self.admin.data(TIMELINE, {"id": self.contacts[email]})
        found: str | None = data["contact"]["lastActivityAt"]
        return found

    async def company_timeline(self, domain: str) -> list[dict[str, Any]]:
        data = await self.admin.data(COMPANY_TIMELINE, {"id": self.companies[domain]})
        return [e["node"] for e in data["company"]["interactions"]["edges"]]

    async def send(self, raw: bytes | str, sender: str = RITA) -> None:
        """Deliver to the workspace's capture address, as a rep's mail client BCCs it."""

        def deliver() -> None:
            with smtplib.SMTP("127.0.0.1", self.smtp_port, timeout=20) as client:
                client.sendmail(sender, [self.inbound], raw)

        await asyncio.to_thread(deliver)

    def as_user(self, subject: str, roles: str) -> GraphQLClient:
        """Another user of the workspace, through the gateway."""
        return self.admin.as_user(self.workspace, subject, roles)

    async def close(self) -> None:
        await self.http.aclose()

    async def upload(self, raw: str, client: GraphQLClient | None = None) -> dict[str, Any]:
        data = await (client or self.rita).data(
            """mutation($raw: String!) { captureEmail(raw: $raw) { duplicate
                 email { id status contactIds } } }""",
            {"raw": raw},
        )
        result: dict[str, Any] = data["captureEmail"]
        return result


def corpus_file(name: str) -> bytes:
    return (CORPUS / name).read_bytes()


async def make_world(stack: Stack, workspace: str) -> World:
    """The world in `workspace`; `World.close()` closes its connections."""
    http = httpx.AsyncClient(timeout=20.0)
    admin = GraphQLClient(http, auth_headers(workspace, "admin", "admin"), path=stack.gateway_url)
    rita = admin.as_user(workspace, "rita", "rep")
    sam = admin.as_user(workspace, "sam", "rep")
    settings = await admin.data(
        """mutation($i: CaptureSettingsInput!) { updateCaptureSettings(input: $i) {
             inboundAddress } }""",
        {
            "i": {
                "internalDomains": WORLD["internal_domains"],
                "excludedDomains": WORLD["excluded_domains"],
                "excludedAddresses": WORLD["excluded_addresses"],
            }
        },
    )
    my = "mutation($a: [String!]) { updateMyCapture(input: {addresses: $a}) { myAddresses } }"
    await rita.data(my, {"a": ["rita@ourco.example"]})
    await sam.data(my, {"a": ["sam@ourco.example"]})
    world = World(
        http,
        workspace,
        admin,
        rita,
        int(stack.env["CAPTURE_SMTP_PORT"]),
        settings["updateCaptureSettings"]["inboundAddress"],
    )
    for domain, name in WORLD["companies"].items():
        made = await admin.data(
            "mutation($i: CreateCompanyInput!) { createCompany(input: $i) { id } }",
            {"i": {"name": name, "domain": domain}},
        )
        world.companies[domain] = made["createCompany"]["id"]
    for email, (first, last, domain) in WORLD["contacts"].items():
        made = await admin.data(
            "mutation($i: CreateContactInput!) { createContact(input: $i) { id } }",
            {"i": {"firstName": first, "lastName": last, "email": email,
                   "companyId": world.companies.get(domain) if domain else None,
                   "ownerId": "rita"}},
        )  # fmt: skip
        world.contacts[email] = made["createContact"]["id"]
    ((title, domain),) = WORLD["deals"].items()
    deal = await admin.data(
        "mutation($i: CreateDealInput!) { createDeal(input: $i) { id } }",
        {"i": {"title": title, "amount": "50000", "companyId": world.companies[domain],
               "primaryContactId": world.contacts["ann@acme.example"],
               "contactIds": [world.contacts["ann@acme.example"]], "ownerId": "rita"}},
    )  # fmt: skip
    world.deal_id = deal["createDeal"]["id"]
    return world


def parsed_id(workspace: str, name: str) -> str:
    """The id the capture service gives the message's record (and its interaction)."""
    from datetime import UTC, datetime

    from crm_capture.domain.email import email_record_id
    from crm_capture.domain.message import parse_message

    parsed = parse_message(corpus_file(name), datetime.now(UTC))
    return email_record_id(workspace, parsed.message_id)


def corpus_names() -> list[str]:
    return sorted(EXPECTED["messages"])


def read(path: Path) -> str:
    return path.read_text()
