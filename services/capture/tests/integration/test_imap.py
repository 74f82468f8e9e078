"""IMAP polling against a real Dovecot: a user's mailbox is polled, every message captured
once as theirs, and after a restart of the service polling resumes where it stopped
(nothing fetched twice, nothing missed); the password is stored encrypted."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from pymongo import AsyncMongoClient

from crm_capture.config import IMAP_ACCOUNTS, CaptureConfig
from crm_kit.testing import GraphQLClient, eventually

from .conftest import Stack, capture_service, make_stack, set_internal_domain
from .dovecot import Dovecot

pytestmark = pytest.mark.integration

ADD = """mutation($i: AddMailboxInput!) { addMailbox(input: $i) { id lastUid fetched } }"""
MAILBOXES = "{ myMailboxes { id lastUid captured fetched lastError lastPolledAt } }"


def message(n: int) -> bytes:
    return (
        f"From: Ann Archer <ann@acme.example>\r\nTo: Rita Rep <rita@ourco.example>\r\n"
        f"Subject: Mailbox message {n}\r\nMessage-ID: <imap-{n}@acme.example>\r\n"
        f"Date: Mon, 02 Mar 2026 09:0{n}:00 +0000\r\n\r\nBody of message {n}.\r\n"
    ).encode()


def mailbox_input(dovecot: Dovecot) -> dict[str, Any]:
    return {
        "i": {
            "host": "127.0.0.1",
            "port": dovecot.port,
            "security": "NONE",
            "username": dovecot.user,
            "password": dovecot.password,
        }
    }


async def polled(client: GraphQLClient, count: int) -> dict[str, Any] | None:
    """The mailbox once `count` messages were taken and the poll's bookkeeping (written
    when a poll ends) says so."""
    found = dict((await client.data(MAILBOXES))["myMailboxes"][0])
    return found if found["lastUid"] >= count and found["fetched"] >= count else None


async def has(stack: Stack, contact_id: str, wanted: set[str]) -> bool:
    return wanted <= {i["subject"] for i in await stack.timeline(contact_id)}


async def test_polling_resumes_after_a_restart(
    infra: Any,
    db_name: str,
    contacts_http: httpx.AsyncClient,
    workspace: str,
    config: CaptureConfig,
    dovecot: Dovecot,
    database_profile: str,
) -> None:
    for n in (1, 2, 3):
        dovecot.append(message(n))
    async with capture_service(infra, db_name, config, database_profile) as (http, app):
        stack = make_stack(http, app, contacts_http, workspace, config)
        await set_internal_domain(stack)
        ann = await stack.contact("ann@acme.example")
        rita = stack.capture.as_user(workspace, "rita", "rep")
        account_id = (await rita.data(ADD, mailbox_input(dovecot)))["addMailbox"]["id"]
        first = await eventually(lambda: polled(rita, 3), what="three messages polled")
        assert first["fetched"] == 3 and first["lastError"] is None
        three = {f"Mailbox message {n}" for n in (1, 2, 3)}
        await eventually(lambda: has(stack, ann, three), what="the three on the timeline")

    # Stopped. Mail keeps arriving; a new process starts from the stored checkpoint.
    for n in (4, 5):
        dovecot.append(message(n))
    async with capture_service(infra, db_name, config, database_profile) as (http, app):
        stack = make_stack(http, app, contacts_http, workspace, config)
        rita = stack.capture.as_user(workspace, "rita", "rep")
        after = await eventually(lambda: polled(rita, 5), what="two more polled")
        # 3 fetched before the restart and 2 after: none fetched twice, none missed.
        assert after["fetched"] == 5 and after["captured"] == 5 and after["id"] == account_id
        five = {f"Mailbox message {n}" for n in range(1, 6)}
        await eventually(lambda: has(stack, ann, five), what="all five on the timeline")
        timeline = await stack.timeline(ann)
    mailbox_mail = [i for i in timeline if i["subject"].startswith("Mailbox message")]
    assert len(mailbox_mail) == 5
    assert {i["loggedBy"] for i in mailbox_mail} == {"rita"}
    assert {i["direction"] for i in mailbox_mail} == {"INBOUND"}


async def test_the_password_is_stored_encrypted(
    stack: Stack, dovecot: Dovecot, infra: Any, db_name: str
) -> None:
    rita = stack.capture.as_user(stack.workspace, "rita", "rep")
    await rita.data(ADD, mailbox_input(dovecot))
    client: AsyncMongoClient[Any] = AsyncMongoClient(infra.mongodb_uri)
    try:
        stored = await client[f"{db_name}_cap"][IMAP_ACCOUNTS].find_one({})
    finally:
        await client.close()
    assert stored is not None
    assert dovecot.password not in str(stored) and stored["secret"].startswith("gAAAA")


async def test_plain_imap_to_another_host_is_refused(stack: Stack) -> None:
    rita = stack.capture.as_user(stack.workspace, "rita", "rep")
    bad = {"host": "imap.example.com", "security": "NONE", "username": "r", "password": "x"}
    error = await rita.error(ADD, {"i": bad})
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["extensions"]["field"] == "input.security"
