"""A mutation's retry after its service was killed (-9) between the commit of its writes and
the storing of its result: through the gateway, with an `Idempotency-Key`, the retry makes
no second record and no second event, and answers with the first run's record.

The contacts service runs as a real process on FerretDB and NATS; the kill is the
service's own fault point (`crm_kit.faults`, development mode only: `CRM_FAULT_KILL`),
since no signal from outside could land between those two moments reliably. The gateway
runs in process, pointed at it."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from pymongo import AsyncMongoClient

from crm_contracts import contacts as contract
from crm_contracts.envelope import CloudEvent
from crm_contracts.streams import stream_for
from crm_gateway.app import create_app as create_gateway_app
from crm_gateway.config import GatewaySettings
from crm_kit.auth import issue_token
from crm_kit.devstack import free_port, spawn, wait_http_ok
from crm_kit.faults import BEFORE_STORING_RESULT
from crm_kit.idempotency import COLLECTION
from crm_kit.outbox import PENDING
from crm_kit.paths import REPO_ROOT, python_path
from crm_kit.testing import eventually, running_app, stream_events

pytestmark = pytest.mark.integration

SUPERGRAPH = (REPO_ROOT / "gateway" / "supergraph.graphql").read_text()
CREATE = """mutation($n: String!, $e: String!) {
  createContact(input: {firstName: $n, email: $e}) { id firstName email createdAt } }"""
MODERN = "application/graphql-response+json"


class ContactsProcess:
    """`python -m crm_contacts` on a fixed port and database, started and restarted."""

    def __init__(self, infra: Any, database: str, log_dir: Path) -> None:
        self.port = free_port()
        self.log = log_dir / "contacts.log"
        self.env = {
            **os.environ,
            "PYTHONPATH": python_path(),
            "MONGODB_URI": infra.mongodb_uri,
            "NATS_URL": infra.nats_url,
            "CONTACTS_DB": database,
            "CONTACTS_HOST": "127.0.0.1",
            "CONTACTS_PORT": str(self.port),
            "OUTBOX_SWEEP_SECONDS": "0.5",
            # A killed attempt is taken over after 1 s of silence (default 10 s).
            "IDEMPOTENCY_STALE_SECONDS": "1",
        }
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/graphql"

    async def start(self, **env: str) -> None:
        self.process = spawn(
            [sys.executable, "-m", "crm_contacts"],
            self.log,
            env={**self.env, **env},
            cwd=REPO_ROOT,
        )
        ready = f"http://127.0.0.1:{self.port}/ready"
        await asyncio.to_thread(wait_http_ok, ready, self.process, self.log, 60.0)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)


@pytest.fixture
def contacts(infra: Any, db_name: str, tmp_path: Path) -> Iterator[ContactsProcess]:
    service = ContactsProcess(infra, db_name, tmp_path)
    try:
        yield service
    finally:
        service.stop()


async def _created_events(infra: Any, contact_id: str) -> list[CloudEvent]:
    """Every contact.created event of this contact in the contacts stream."""
    nc = await infra.connect_nats()
    try:
        found = await stream_events(nc, contract.CONTACT_CREATED, stream_for("contacts").name)
    finally:
        await nc.close()
    return [event for event, _ in found if event.subject == contact_id]


async def test_a_retry_after_a_kill_before_the_result_was_stored_makes_one_record(
    infra: Any, db_name: str, contacts: ContactsProcess
) -> None:
    workspace = f"w-{uuid4().hex[:8]}"
    key = f"crash-{uuid4()}"
    variables = {"n": "Ada", "e": f"ada-{uuid4().hex[:6]}@example.com"}
    token = issue_token(workspace, "alice", ["rep"])
    headers = {"authorization": f"Bearer {token}", "idempotency-key": key, "accept": MODERN}
    unreachable = f"http://127.0.0.1:{free_port()}/graphql"
    gateway = create_gateway_app(
        GatewaySettings(
            subgraph_urls={"contacts": contacts.url, "deals": unreachable, "tasks": unreachable}
        ),
        supergraph_sdl=SUPERGRAPH,
    )
    await contacts.start(CRM_FAULT_KILL=f"{BEFORE_STORING_RESULT}:{key}")
    db_client: AsyncMongoClient[Any] = AsyncMongoClient(infra.mongodb_uri, tz_aware=True)
    db = db_client[db_name]
    try:
        async with running_app(gateway) as gw:
            body = {"query": CREATE, "variables": variables}
            lost = await gw.post("/graphql", json=body, headers=headers)
            assert contacts.process is not None
            assert await asyncio.to_thread(contacts.process.wait, 30) == -signal.SIGKILL
            # The connection broke after the mutation was sent, but with a key the client
            # may repeat it: 503, retryable, Retry-After.
            assert lost.status_code == 503, lost.text
            assert lost.headers["retry-after"] == "1"
            error = lost.json()["errors"][0]
            assert error["extensions"]["retryable"] is True
            assert "same Idempotency-Key" in error["message"]
            # The write committed; its result was never stored.
            assert await db.contacts.count_documents({"workspace_id": workspace}) == 1
            (record,) = [doc async for doc in db[COLLECTION].find({"key": key})]
            assert record["state"] == "running" and "response" not in record

            await contacts.start()  # restarted, without the fault
            retried = await gw.post("/graphql", json=body, headers=headers)
            assert retried.status_code == 200, retried.text
            made = retried.json()["data"]["createContact"]
            again = await gw.post("/graphql", json=body, headers=headers)
            assert again.json() == retried.json()
    finally:
        stored = [doc async for doc in db.contacts.find({"workspace_id": workspace})]
        await db_client.close()
    assert [doc["_id"] for doc in stored] == [made["id"]]

    async def published() -> list[CloudEvent]:
        return await _created_events(infra, made["id"])

    await eventually(published, timeout=20, what="the contact's created event published")
    client: AsyncMongoClient[Any] = AsyncMongoClient(infra.mongodb_uri)
    try:

        async def outbox_empty() -> bool:
            doc = await client[db_name].contacts.find_one({"_id": made["id"]}, {PENDING: 1})
            return doc is not None and not doc.get(PENDING)

        await eventually(outbox_empty, timeout=20, what="nothing left in the outbox")
    finally:
        await client.close()
    events = await _created_events(infra, made["id"])
    assert len(events) == 1
    assert events[0].data["contact"]["email"] == variables["e"]
