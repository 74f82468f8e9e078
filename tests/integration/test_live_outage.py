"""A subscription outlives a NATS restart: the service's live events resume from the last
stream position they had (the ordered consumer re-creates itself), so an event written
during the outage (it waits in the outbox) still reaches the subscriber, once."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from uuid import uuid4

import pytest

from crm_contacts.app import create_app
from crm_kit.devstack import InfraStack, free_port, start_nats
from crm_kit.live_testing import LiveStream
from crm_kit.settings import Settings
from crm_kit.testing import GraphQLClient, gateway_auth, running_app

pytestmark = pytest.mark.integration

LOGGED = "subscription { interactionLogged { subject } }"
CONTACT = 'mutation { createContact(input: {firstName: "Ann", lastName: "L"}) { id } }'
LOG = """mutation($c: ID!, $s: String!) {
  logInteraction(input: {contactId: $c, kind: NOTE, subject: $s}) { id } }"""


@pytest.fixture(scope="module")
def own_infra() -> Iterator[InfraStack]:
    """A FerretDB and a NATS of this module's own: the test restarts NATS."""
    with tempfile.TemporaryDirectory(prefix="crm-live-outage-") as tmp:
        stack = InfraStack(Path(tmp), free_port(), free_port()).start()
        try:
            yield stack
        finally:
            stack.stop()


def _restart_nats(stack: InfraStack) -> None:
    for server in list(stack.servers):
        if server.name == "nats":
            server.stop()
            stack.servers.remove(server)
    stack.servers.append(start_nats(stack.data_dir / "nats", stack.nats_port))


async def test_a_subscription_resumes_after_a_nats_restart(own_infra: InfraStack) -> None:
    workspace = f"w-{uuid4().hex[:8]}"
    settings = Settings(
        service="contacts",
        mongodb_uri=own_infra.mongodb_uri,
        database=f"t_{uuid4().hex[:12]}",
        nats_url=own_infra.nats_url,
        outbox_sweep_seconds=0.2,
    )
    app = create_app(settings)
    async with running_app(app) as http:
        client = GraphQLClient(http, gateway_auth("contacts", workspace))
        contact = (await client.data(CONTACT))["createContact"]["id"]
        stream = await LiveStream.open(app, "contacts", LOGGED, workspace=workspace)
        try:
            await client.data(LOG, {"c": contact, "s": "before"})
            assert (await stream.result())["data"]["interactionLogged"]["subject"] == "before"
            _restart_nats(own_infra)
            await client.data(LOG, {"c": contact, "s": "across the restart"})
            after = await stream.result(timeout=60)
            assert after["data"]["interactionLogged"]["subject"] == "across the restart"
            await client.data(LOG, {"c": contact, "s": "after"})
            again = await stream.result(timeout=30)
            assert again["data"]["interactionLogged"]["subject"] == "after"
        finally:
            await stream.close()
