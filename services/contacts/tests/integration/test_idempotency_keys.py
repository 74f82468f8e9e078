"""Idempotency keys on the real contacts service (FerretDB + NATS, both database profiles):
a repeat gets the stored result and changes nothing, another request with the key is a
CONFLICT, a concurrent repeat waits for the first, keys live in the service's database
for 24 h (the janitor deletes them after), and a key whose first attempt stopped without
storing its result is completed once by its repeat.

The crash itself (kill -9 of a service process between its commit and the storing of the
result, then a retry through the gateway): tests/integration/test_idempotency_crash.py."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import httpx
import pytest
from nats.aio.client import Client
from pymongo.errors import AutoReconnect

from crm_contacts.app import create_app
from crm_contacts.store.email_claims import EmailClaims
from crm_contracts import contacts as contract
from crm_kit.idempotency import COLLECTION, TIME_FIELD
from crm_kit.testing import GraphQLClient, cli_call, eventually, gateway_auth, running_app

from .conftest import service_settings
from .test_events_and_rpc import _events_of

pytestmark = pytest.mark.integration

CREATE_CONTACT = """mutation($n: String!, $e: String!) {
  createContact(input: {firstName: $n, email: $e}) { id firstName email createdAt } }"""
CREATE_COMPANY = "mutation($n: String!) { createCompany(input: {name: $n}) { id name } }"
ADD_EMAIL = """mutation($id: ID!, $e: [String!]) {
  updateContact(id: $id, input: {emails: $e}) { id emails } }"""
LOG = """mutation($c: ID!, $s: String!) {
  logInteraction(input: {kind: NOTE, contactId: $c, subject: $s}) { id subject } }"""


async def _count(running: Any, collection: str, **query: Any) -> int:
    return int(await running.runtime.db[collection].count_documents(query))


async def test_a_repeat_gets_the_stored_result_and_changes_nothing(
    running: Any, nc: Client, db_name: str
) -> None:
    gql = running.client(db_name).keyed("create-ada-1")
    variables = {"n": "Ada", "e": "ada@example.com"}
    first = await gql.execute(CREATE_CONTACT, variables)
    again = await gql.execute(CREATE_CONTACT, variables)
    assert "errors" not in first, first
    assert again == first
    assert await _count(running, "contacts", workspace_id=db_name) == 1
    contact_id = first["data"]["createContact"]["id"]
    logged = running.client(db_name).keyed("log-1")
    note = {"c": contact_id, "s": "Called"}
    assert await logged.execute(LOG, note) == await logged.execute(LOG, note)
    assert await _count(running, "interactions", workspace_id=db_name) == 1

    async def events() -> list[Any]:
        found = await _events_of(nc, db_name)
        return found if len(found) >= 2 else []

    found = await eventually(events, what="both events published")
    assert sorted(event.type for event, _ in found) == sorted(
        [contract.CONTACT_CREATED, contract.INTERACTION_LOGGED]
    )


async def test_the_same_key_for_another_request_is_a_conflict(running: Any, db_name: str) -> None:
    gql = running.client(db_name).keyed("k-reused")
    await gql.data(CREATE_COMPANY, {"n": "Acme"})
    refused = await gql.execute(CREATE_COMPANY, {"n": "Other"})
    assert "data" not in refused  # refused before it ran
    error = refused["errors"][0]
    assert error["extensions"] == {"code": "CONFLICT", "field": "idempotency-key"}
    assert "different request" in error["message"]
    # The key belongs to its caller: another user's same key is their own request.
    bob = running.client(db_name).as_user(db_name, "bob", "rep").keyed("k-reused")
    await bob.data(CREATE_COMPANY, {"n": "Other"})
    assert await _count(running, "companies", workspace_id=db_name) == 2


async def test_a_captured_keyed_request_cannot_be_replayed_with_another_key(
    running: Any, db_name: str
) -> None:
    """The assertion signs the Idempotency-Key: a replay of the same bytes under a new key
    (or none) would run the mutation again, so it is refused before it runs."""
    gql = running.client(db_name).keyed("k-captured")
    sent: list[httpx.Request] = []
    hooks = gql.http.event_hooks["request"]
    hooks.append(_keep(sent))
    try:
        await gql.data(CREATE_COMPANY, {"n": "Acme"})
    finally:
        hooks.pop()
    captured = sent[-1]
    for replayed_key in ("k-new", None):
        headers = {k: v for k, v in captured.headers.items() if k != "idempotency-key"}
        if replayed_key is not None:
            headers["idempotency-key"] = replayed_key
        replay = await gql.http.post(captured.url, content=captured.content, headers=headers)
        assert replay.status_code == 401, replay.text
    # Replayed as it was, it is answered from the key: still one company.
    again = await gql.http.post(
        captured.url, content=captured.content, headers=dict(captured.headers)
    )
    assert again.headers.get("idempotent-replayed") == "true"
    assert await _count(running, "companies", workspace_id=db_name) == 1


def _keep(sent: list[httpx.Request]) -> Any:
    async def hook(request: httpx.Request) -> None:
        sent.append(request)

    return hook


async def test_a_concurrent_repeat_waits_for_the_first(running: Any, db_name: str) -> None:
    gql = running.client(db_name).keyed("k-concurrent")
    answers = await asyncio.gather(
        *(gql.execute(CREATE_COMPANY, {"n": "Globex"}) for _ in range(4))
    )
    assert all(answer == answers[0] for answer in answers), answers
    assert "errors" not in answers[0]
    assert await _count(running, "companies", workspace_id=db_name) == 1


async def test_keys_are_kept_24_hours_then_deleted_by_the_janitor(
    running: Any, db_name: str
) -> None:
    gql = running.client(db_name)
    await gql.keyed("k-old").data(CREATE_COMPANY, {"n": "Old"})
    await gql.keyed("k-recent").data(CREATE_COMPANY, {"n": "Recent"})
    keys = running.runtime.db[COLLECTION]
    (old,) = [doc async for doc in keys.find({"key": "k-old"})]
    await keys.update_one(
        {"_id": old["_id"]}, {"$set": {TIME_FIELD: old[TIME_FIELD] - timedelta(hours=25)}}
    )
    (recent,) = [doc async for doc in keys.find({"key": "k-recent"})]
    await keys.update_one(
        {"_id": recent["_id"]},
        {"$set": {TIME_FIELD: recent[TIME_FIELD] - timedelta(hours=23)}},
    )
    assert running.runtime.janitor is not None  # the service's own, as it runs hourly
    assert await running.runtime.janitor.sweep() >= 1
    assert [doc["key"] async for doc in keys.find({})] == ["k-recent"]
    # A repeat of the recent key is answered; the expired one is a new request.
    await gql.keyed("k-recent").data(CREATE_COMPANY, {"n": "Recent"})
    await gql.keyed("k-old").data(CREATE_COMPANY, {"n": "Old"})
    assert await _count(running, "companies", workspace_id=db_name, name="Recent") == 1
    assert await _count(running, "companies", workspace_id=db_name, name="Old") == 2


async def test_an_attempt_that_stopped_before_storing_is_completed_once(
    running: Any, db_name: str
) -> None:
    """As a process killed between its commit and the storing of its result leaves it:
    the record still says running, and nothing beats for it."""
    gql = running.client(db_name).keyed("k-stopped")
    variables = {"n": "Grace", "e": "grace@example.com"}
    first = await gql.data(CREATE_CONTACT, variables)
    keys = running.runtime.db[COLLECTION]
    silent = running.runtime.idempotency.clock() - timedelta(hours=1)
    await keys.update_many(
        {"key": "k-stopped"},
        {"$set": {"state": "running", "alive_at": silent}, "$unset": {"response": ""}},
    )
    again = await gql.data(CREATE_CONTACT, variables)
    assert again == first  # the same id and the same "now": the first run's
    assert await _count(running, "contacts", workspace_id=db_name) == 1
    (record,) = [doc async for doc in keys.find({"key": "k-stopped"})]
    assert record["state"] == "done" and record["attempt"] == 2


async def test_the_keyed_retry_of_an_email_change_claims_the_address_the_first_run_did_not(
    infra: Any, nc: Client, db_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The change is saved and the database dies before the address's claim is written:
    the write fails (retryable), and its keyed retry finds the change made and writes the
    claim, so a look-up by the address (capture's) finds the contact. Claims exist on the
    embedded database's profile only (`store/email_claims.py`; MongoDB's index answers)."""
    writes = {"failed": 0}
    real_claim = EmailClaims.claim

    async def claim_dying_once(self: EmailClaims, contact: Any) -> None:
        if "grace@new.example" in contact.emails and not writes["failed"]:
            writes["failed"] += 1
            raise AutoReconnect("connection closed before the claim")
        await real_claim(self, contact)

    monkeypatch.setattr(EmailClaims, "claim", claim_dying_once)
    async with running_app(create_app(service_settings(infra, db_name, "auto"))) as http:
        gql = GraphQLClient(http, gateway_auth("contacts", db_name, "alice", "admin"))
        made = await gql.data(CREATE_CONTACT, {"n": "Grace", "e": "grace@example.com"})
        contact_id = made["createContact"]["id"]
        change = {"id": contact_id, "e": ["grace@new.example"]}
        keyed = gql.keyed("k-email-change")
        failed = await keyed.execute(ADD_EMAIL, change)
        assert writes["failed"] == 1
        assert failed["errors"][0]["extensions"]["retryable"] is True, failed
        find = {"emails": ["grace@new.example"]}
        gap = await cli_call(nc, contract.RPC_CONTACT_FIND_BY_EMAILS, db_name, find, "admin")
        assert gap == {}  # saved, not claimed: what the retry must close
        again = await keyed.data(ADD_EMAIL, change)
        assert "grace@new.example" in again["updateContact"]["emails"]
        found = await cli_call(nc, contract.RPC_CONTACT_FIND_BY_EMAILS, db_name, find, "admin")
        assert found["grace@new.example"]["id"] == contact_id
