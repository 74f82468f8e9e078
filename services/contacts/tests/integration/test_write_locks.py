"""Per-document write locks on a real FerretDB: concurrent updates of one contact all land
(FerretDB v1 would otherwise lose some), writes to different contacts do not wait for each
other, and events written without a running relay (the importer) reach JetStream through
the service's sweep."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import Any

import pytest
from nats.aio.client import Client

from crm_contacts import importer
from crm_contacts.domain.contact import Contact
from crm_contracts import contacts as contract
from crm_contracts.envelope import CloudEvent
from crm_contracts.streams import stream_for
from crm_kit.outbox import PENDING
from crm_kit.testing import eventually, stream_events

pytestmark = pytest.mark.integration

CONTACT = "mutation($i: CreateContactInput!) { createContact(input: $i) { id } }"
UPDATE = "mutation($id: ID!, $i: UpdateContactInput!) { updateContact(id: $id, input: $i) { id } }"
READ = """query($id: ID!) { contact(id: $id) { firstName lastName title ownerId source
  lifecycleStage tags phones emails customFields company { id } } }"""


def _inputs(round_no: int, company_id: str) -> list[dict[str, Any]]:
    """One input per field: each call of a round changes a different field."""
    n = round_no
    return [
        {"firstName": f"Ada{n}"},
        {"lastName": f"Lovelace{n}"},
        {"title": f"CTO{n}"},
        {"ownerId": f"owner-{n}"},
        {"source": f"source-{n}"},
        {"lifecycleStage": ["PROSPECT", "CUSTOMER"][n % 2]},
        {"tags": [f"tag{n}"]},
        {"phones": [f"+1415555267{n}"]},
        {"emails": [f"ada{n}@home.org"]},
        {"customFields": {"round": n}},
        {"companyId": company_id},
    ]


async def _events_of(nc: Client, workspace: str) -> list[CloudEvent]:
    found = await stream_events(nc, "crm.contacts.>", stream_for("contacts").name, workspace)
    return [event for event, _ in found]


async def test_concurrent_updates_of_one_contact_all_land(
    running: Any, nc: Client, db_name: str
) -> None:
    workspace = db_name  # unique per test: the stream is shared by the session
    # A manager: the updates pass the contact on to other owners as they land, which would
    # take it out of a rep's hands half-way (crm_kit.access).
    gql = running.client(workspace, "manager")
    companies = {
        n: (await gql.data(f'mutation {{ createCompany(input: {{name: "Co{n}"}}) {{ id }} }}'))[
            "createCompany"
        ]["id"]
        for n in (1, 2)
    }
    contact = (await gql.data(CONTACT, {"i": {"firstName": "Ada", "email": "ada@acme.com"}}))[
        "createContact"
    ]["id"]
    calls = 0
    for round_no in (1, 2):
        company = companies[round_no]
        inputs = _inputs(round_no, company)
        calls += len(inputs)
        # Each call in a task of its own (as uvicorn serves requests), all at once; the
        # relay removes each update's event from the same document meanwhile.
        bodies = await asyncio.gather(
            *(gql.execute(UPDATE, {"id": contact, "i": i}) for i in inputs)
        )
        assert [b.get("errors") for b in bodies] == [None] * len(inputs)
        got = (await gql.data(READ, {"id": contact}))["contact"]
        assert got == {
            "firstName": f"Ada{round_no}",
            "lastName": f"Lovelace{round_no}",
            "title": f"CTO{round_no}",
            "ownerId": f"owner-{round_no}",
            "source": f"source-{round_no}",
            "lifecycleStage": ["PROSPECT", "CUSTOMER"][round_no % 2],
            "tags": [f"tag{round_no}"],
            "phones": [f"+1415555267{round_no}"],
            "emails": ["ada@acme.com", f"ada{round_no}@home.org"],
            "customFields": {"round": round_no},
            "company": {"id": company},
        }
    doc = await running.runtime.db.contacts.find_one({"_id": contact})
    assert doc["version"] == 1 + calls  # every update applied once, none lost
    # The relay's clean-up (under the same locks) removed every published event, and
    # JetStream has one contact.updated per call, none lost, none twice.
    await eventually(lambda: _not_pending(running, contact))

    async def updates() -> list[CloudEvent] | None:
        found = [e for e in await _events_of(nc, workspace) if e.type == contract.CONTACT_UPDATED]
        return found if len(found) >= calls else None

    found = await eventually(updates)
    assert len(found) == calls
    assert len({event.id for event in found}) == calls


async def _not_pending(running: Any, contact_id: str) -> bool:
    doc = await running.runtime.db.contacts.find_one({"_id": contact_id})
    return not doc[PENDING] and not doc["_outbox"]


async def test_writes_to_different_contacts_do_not_wait_for_each_other(running: Any) -> None:
    gql = running.admin
    ada, bob = [
        (await gql.data(CONTACT, {"i": {"firstName": name, "email": f"{name}@x.com"}}))[
            "createContact"
        ]["id"]
        for name in ("ada", "bob")
    ]
    # By construction: the store writes through the kit's writer, which locks documents in
    # the runtime's registry (shared with the outbox relay) and owns no lock of its own
    # that every write would queue behind.
    writer = running.app.state.store.source.writer
    assert writer.locks is running.runtime.doc_locks
    assert not [v for v in vars(writer).values() if isinstance(v, asyncio.Lock)]
    scoped = running.app.state.store.for_workspace("w1")
    release = asyncio.Event()

    async def long_update(contact: Contact) -> bool:
        await release.wait()  # a long update of ada holds ada's lock meanwhile
        return False

    holding = asyncio.ensure_future(scoped.change_contact(ada, long_update))
    await asyncio.sleep(0.1)
    try:
        # Other contacts, companies and interactions are written meanwhile.
        await asyncio.wait_for(
            asyncio.gather(
                gql.data(UPDATE, {"id": bob, "i": {"title": "CEO"}}),
                gql.data(CONTACT, {"i": {"firstName": "Cy", "email": "cy@x.com"}}),
                gql.data(
                    "mutation($id: ID!) { logInteraction(input: {contactId: $id, kind: NOTE})"
                    " { id } }",
                    {"id": bob},
                ),
            ),
            timeout=20,
        )
        # ada's update waits for ada's lock.
        waiting = asyncio.ensure_future(gql.data(UPDATE, {"id": ada, "i": {"title": "CTO"}}))
        await asyncio.sleep(0.5)
        assert not waiting.done()
    finally:
        release.set()
    await asyncio.wait_for(holding, timeout=20)
    await asyncio.wait_for(waiting, timeout=20)
    titles = await gql.data(
        "query($a: ID!, $b: ID!) { a: contact(id: $a) { title } b: contact(id: $b) { title } }",
        {"a": ada, "b": bob},
    )
    assert titles == {"a": {"title": "CTO"}, "b": {"title": "CEO"}}


async def test_imported_events_reach_jetstream_through_the_sweep(
    running: Any, nc: Client, db_name: str, infra: Any, tmp_path: Path
) -> None:
    """A loader that cannot reach NATS leaves its events in the outbox; the running
    service's sweeps publish them once the grace period (5 s) is over: the companies'
    batches by the sweep of the import batches, the demo contacts and interactions by the
    backstop sweep."""
    workspace = db_name
    csv_file = tmp_path / "companies.csv"
    csv_file.write_text("name,domain\nGlobex,globex.com\nInitech,initech.com\n")
    args = argparse.Namespace(
        file=csv_file,
        workspace=workspace,
        dry_run=False,
        mongodb_uri=infra.mongodb_uri,
        database=db_name,  # the running service's database
        with_demo_contacts=True,
        quiet=True,
        nats_url="nats://127.0.0.1:9",  # nothing listens: the loader publishes nothing
    )
    report = await importer.run_import(args, importer.parse_mapping([]))
    assert (report.created, report.demo_contacts, report.demo_interactions) == (2, 4, 12)
    db = running.runtime.db

    async def drained() -> bool:
        pending = 0
        for name in ("contacts", "companies", "interactions"):
            pending += await db[name].count_documents({"workspace_id": workspace, PENDING: True})
        return pending == 0

    await eventually(drained, timeout=30)

    async def all_there() -> list[CloudEvent] | None:
        events = await _events_of(nc, workspace)
        return events if len(events) >= 2 + 4 + 12 else None

    events = await eventually(all_there, timeout=15)
    counts: dict[str, int] = {}
    for event in events:
        counts[event.type] = counts.get(event.type, 0) + 1
    assert counts == {
        contract.COMPANY_CREATED: 2,
        contract.CONTACT_CREATED: 4,
        contract.INTERACTION_LOGGED: 12,
    }
