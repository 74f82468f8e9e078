"""Events reach JetStream exactly once each; the NATS request/reply endpoints answer
within the asking workspace and are discoverable with the micro protocol."""

from __future__ import annotations

import collections
from typing import Any

import orjson
import pytest
from nats.aio.client import Client

from crm_contracts import contacts as contract
from crm_contracts.envelope import CloudEvent
from crm_contracts.export_pages import RPC_EXPORT_NAMES, page_subject
from crm_contracts.import_batches import undo_subject, write_subject
from crm_contracts.streams import stream_for
from crm_kit.assertions import KeyRing
from crm_kit.outbox import PENDING
from crm_kit.rpc import RpcError, service_context
from crm_kit.testing import cli_call, eventually, stream_events

pytestmark = pytest.mark.integration

PAYLOADS = {
    contract.CONTACT_CREATED: contract.ContactCreated,
    contract.CONTACT_UPDATED: contract.ContactUpdated,
    contract.CONTACT_DELETED: contract.ContactDeleted,
    contract.CONTACT_RESTORED: contract.ContactRestored,
    contract.CONTACT_MERGED: contract.ContactMerged,
    contract.COMPANY_CREATED: contract.CompanyCreated,
    contract.COMPANY_UPDATED: contract.CompanyUpdated,
    contract.COMPANY_DELETED: contract.CompanyDeleted,
    contract.COMPANY_RESTORED: contract.CompanyRestored,
    contract.INTERACTION_LOGGED: contract.InteractionLogged,
}


async def _events_of(nc: Client, workspace: str) -> list[tuple[CloudEvent, Any]]:
    """Every event of `workspace` now in the contacts stream."""
    return await stream_events(nc, "crm.contacts.>", stream_for("contacts").name, workspace)


async def test_every_event_reaches_jetstream_once(running: Any, nc: Client, db_name: str) -> None:
    workspace = db_name  # unique per test: the stream is shared by the session
    gql = running.client(workspace, "admin")
    company = (await gql.data('mutation { createCompany(input: {name: "Acme"}) { id } }'))[
        "createCompany"
    ]["id"]
    for op in (
        'updateCompany(id: $id, input: {industry: "Tech"}) { id }',
        "deleteCompany(id: $id) { id }",
        "restoreCompany(id: $id) { id }",
    ):
        await gql.data(f"mutation($id: ID!) {{ {op} }}", {"id": company})
    ids = []
    create = """mutation($n: String!, $e: String!, $c: ID!) {
        createContact(input: {firstName: $n, email: $e, companyId: $c}) { id } }"""
    for name in ("ada", "bob"):
        created = await gql.data(create, {"n": name, "e": f"{name}@x.com", "c": company})
        ids.append(created["createContact"]["id"])
    ada, bob = ids
    for op in (
        'updateContact(id: $id, input: {title: "CTO"}) { id }',
        "deleteContact(id: $id) { id }",
        "restoreContact(id: $id) { id }",
    ):
        await gql.data(f"mutation($id: ID!) {{ {op} }}", {"id": ada})
    await gql.data(
        """mutation($id: ID!) { logInteraction(input: {contactId: $id, kind: CALL,
             subject: "Hi", dealId: "d-1"}) { id } }""",
        {"id": bob},
    )
    await gql.data(
        "mutation($s: ID!, $d: ID!) { mergeContacts(survivorId: $s, duplicateId: $d) { dryRun } }",
        {"s": ada, "d": bob},
    )
    expected = {
        contract.COMPANY_CREATED: 1, contract.COMPANY_UPDATED: 1, contract.COMPANY_DELETED: 1,
        contract.COMPANY_RESTORED: 1, contract.CONTACT_CREATED: 2,
        contract.CONTACT_UPDATED: 2,  # the title change, and the merge's survivor update
        contract.CONTACT_DELETED: 1, contract.CONTACT_RESTORED: 1, contract.CONTACT_MERGED: 1,
        contract.INTERACTION_LOGGED: 1,
    }  # fmt: skip
    db = running.runtime.db

    async def drained() -> bool:
        pending = 0
        for name in ("contacts", "companies", "interactions"):
            pending += await db[name].count_documents({PENDING: True})
        return pending == 0

    await eventually(drained)

    async def all_there() -> list | None:
        events = await _events_of(nc, workspace)
        return events if len(events) >= sum(expected.values()) else None

    events = await eventually(all_there)
    counts = collections.Counter(event.type for event, _ in events)
    assert dict(counts) == expected
    assert len({event.id for event, _ in events}) == len(events)
    for event, headers in events:
        assert headers["Nats-Msg-Id"] == event.id
        assert event.workspace == workspace and event.source == "crm/contacts"
        PAYLOADS[event.type].model_validate(event.data)  # the consumer's view
    merged = next(e for e, _ in events if e.type == contract.CONTACT_MERGED)
    payload = contract.ContactMerged.model_validate(merged.data)
    assert (payload.survivor_id, payload.merged_id, payload.moved_interactions) == (ada, bob, 1)
    logged = next(e for e, _ in events if e.type == contract.INTERACTION_LOGGED)
    assert contract.InteractionLogged.model_validate(logged.data).deal_id == "d-1"
    # A relay pass with nothing pending publishes nothing more.
    assert await running.runtime.relay.publish_pending() == 0


async def test_rpc_endpoints(running: Any, nc: Client, db_name: str) -> None:
    ws = db_name
    gql = running.client(ws, "admin")
    company = (await gql.data(
        'mutation { createCompany(input: {name: "Acme  Corporation", domain: "acme.com"}) { id } }'
    ))["createCompany"]["id"]  # fmt: skip
    contact = (await gql.data(
        'mutation { createContact(input: {firstName: "Ada", email: "ada@acme.com"}) { id } }'
    ))["createContact"]["id"]  # fmt: skip

    got = await cli_call(nc, contract.RPC_CONTACT_GET, ws, {"id": contact})
    snapshot = contract.ContactSnapshot.model_validate(got)
    assert snapshot.email == "ada@acme.com" and snapshot.lifecycle_stage == "lead"
    found = await cli_call(nc, contract.RPC_CONTACT_FIND_BY_EMAIL, ws, {"email": " ADA@acme.com"})
    assert found["id"] == contact
    assert await cli_call(nc, contract.RPC_CONTACT_FIND_BY_EMAIL, ws, {"email": "no@x.com"}) is None
    got = await cli_call(nc, contract.RPC_COMPANY_GET, ws, {"id": company})
    assert contract.CompanySnapshot.model_validate(got).domain == "acme.com"
    names = await cli_call(
        nc, contract.RPC_COMPANY_FIND_BY_NAME, ws,
        {"names": ["acme corporation", "ACME CORPORATION ", "Unknown Co"]},
    )  # fmt: skip
    assert names == {"acme corporation": company, "ACME CORPORATION ": company}
    # What a deal or task may reference: live records of the caller's workspace only.
    check = {"contactIds": [contact, "0" * 24], "companyIds": [company]}
    assert await cli_call(nc, contract.RPC_RECORDS_CHECK, ws, check) == {
        "missingContactIds": ["0" * 24],
        "missingCompanyIds": [],
    }
    assert await cli_call(nc, contract.RPC_RECORDS_CHECK, f"{ws}-other", check) == {
        "missingContactIds": [contact, "0" * 24],
        "missingCompanyIds": [company],
    }

    for subject, payload, code in [
        (contract.RPC_CONTACT_GET, {"id": "0" * 24}, "NOT_FOUND"),
        (contract.RPC_CONTACT_GET, {"id": "bad"}, "BAD_REQUEST"),
        (contract.RPC_CONTACT_GET, {}, "BAD_REQUEST"),
        (contract.RPC_CONTACT_FIND_BY_EMAIL, {"email": "nope"}, "BAD_REQUEST"),
        (contract.RPC_COMPANY_GET, {"id": "0" * 24}, "NOT_FOUND"),
        (contract.RPC_COMPANY_FIND_BY_NAME, {"names": "Acme"}, "BAD_REQUEST"),
        (contract.RPC_RECORDS_CHECK, {"contactIds": ["x"] * 101}, "BAD_REQUEST"),
    ]:
        with pytest.raises(RpcError) as error:
            await cli_call(nc, subject, ws, payload)
        assert error.value.code == code, (subject, payload)

    # Another workspace sees none of it.
    other = f"{ws}-other"
    with pytest.raises(RpcError) as error:
        await cli_call(nc, contract.RPC_CONTACT_GET, other, {"id": contact})
    assert error.value.code == "NOT_FOUND"
    with pytest.raises(RpcError) as error:
        await cli_call(nc, contract.RPC_COMPANY_GET, other, {"id": company})
    assert error.value.code == "NOT_FOUND"
    assert await cli_call(nc, contract.RPC_CONTACT_FIND_BY_EMAIL, other,
                          {"email": "ada@acme.com"}) is None  # fmt: skip
    assert await cli_call(nc, contract.RPC_COMPANY_FIND_BY_NAME, other,
                          {"names": ["Acme Corporation"]}) == {}  # fmt: skip

    # A bare workspace header: refused; an authenticated body that is not JSON: refused.
    reply = await nc.request(contract.RPC_CONTACT_GET, b'{"id": "x"}', timeout=2,
                             headers={"crm-workspace": ws})  # fmt: skip
    assert orjson.loads(reply.data)["error"]["code"] == "UNAUTHENTICATED"
    token = KeyRing.from_env("cli").mint(
        audience="rpc:contacts", context=service_context("cli", ws, "viewer"), body=b"nope"
    )
    reply = await nc.request(contract.RPC_CONTACT_GET, b"nope", timeout=2,
                             headers={"crm-assertion": token})  # fmt: skip
    assert orjson.loads(reply.data)["error"]["code"] == "BAD_REQUEST"


async def test_rpc_discovery(running: Any, nc: Client) -> None:
    ping = orjson.loads((await nc.request("$SRV.PING.crm-contacts", b"", timeout=2)).data)
    assert ping["name"] == "crm-contacts"
    info = orjson.loads((await nc.request("$SRV.INFO.crm-contacts", b"", timeout=2)).data)
    subjects = {endpoint["subject"] for endpoint in info["endpoints"]}
    assert subjects == {
        contract.RPC_CONTACT_GET, contract.RPC_CONTACT_FIND_BY_EMAIL,
        contract.RPC_COMPANY_GET, contract.RPC_COMPANY_FIND_BY_NAME,
        contract.RPC_CONTACT_FIND_BY_EMAILS, contract.RPC_COMPANY_FIND_BY_DOMAINS,
        contract.RPC_CONTACT_CREATE, contract.RPC_RECORDS_CHECK, contract.RPC_IMPORT_REFERENCES,
        contract.RPC_AUDIT_TRAIL,
        # The import batch endpoints (crm_contracts.import_batches).
        write_subject("companies"), write_subject("contacts"), write_subject("interactions"),
        undo_subject("contacts"),
        # The export pages and names (crm_contracts.export_pages).
        page_subject("companies"), page_subject("contacts"), page_subject("interactions"),
        RPC_EXPORT_NAMES,
    }  # fmt: skip
    stats = orjson.loads((await nc.request("$SRV.STATS.crm-contacts", b"", timeout=2)).data)
    assert stats["name"] == "crm-contacts"
    # Request/reply subjects lie outside every JetStream stream.
    for subject in subjects:
        assert not subject.startswith("crm.")


async def test_an_interactions_deal_is_asked_of_deals_over_nats(running: Any) -> None:
    """The deals service's answer (a stand-in here, on the real NATS with the real
    credentials) decides: a deal it does not know is BAD_USER_INPUT naming the field, and
    nothing is logged."""
    gql = running.client("w-deal-check", "rep")
    contact = (await gql.data('mutation { createContact(input: {firstName: "Ann"}) { id } }'))[
        "createContact"
    ]["id"]
    running.missing_deals.add("gone")
    log = """mutation($c: ID!, $d: ID!) { logInteraction(input: {contactId: $c, kind: NOTE,
        dealId: $d}) { id dealId } }"""
    refused = await gql.execute(log, {"c": contact, "d": "gone"})
    assert refused["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "input.dealId"}
    logged = await gql.data(log, {"c": contact, "d": "d-1"})
    assert logged["logInteraction"]["dealId"] == "d-1"
    timeline = await gql.data(
        "query($c: ID!) { contact(id: $c) { interactions { totalCount } } }", {"c": contact}
    )
    assert timeline["contact"]["interactions"]["totalCount"] == 1
