"""`interactionLogged` over the live transport: fed by the service's own JetStream events,
scoped to the subscriber's workspace, filtered by contact, resumable from a position."""

from __future__ import annotations

from typing import Any

import pytest

from crm_kit.live_testing import LiveStream

pytestmark = pytest.mark.integration

LOGGED = """
subscription($contact: ID) {
  interactionLogged(contactId: $contact) { id kind subject contactIds participants }
}
"""
CONTACT = 'mutation($n: String!) { createContact(input: {firstName: $n, lastName: "L"}) { id } }'
LOG = """
mutation($c: ID!, $s: String!) {
  logInteraction(input: {contactId: $c, kind: CALL, subject: $s, participants: ["ann"]}) { id }
}
"""


async def _contact(running: Any, workspace: str, name: str) -> str:
    found = await running.client(workspace).data(CONTACT, {"n": name})
    return str(found["createContact"]["id"])


async def _log(running: Any, workspace: str, contact: str, subject: str) -> str:
    found = await running.client(workspace).data(LOG, {"c": contact, "s": subject})
    return str(found["logInteraction"]["id"])


async def test_a_subscriber_gets_its_workspaces_interactions_only(
    running: Any, db_name: str
) -> None:
    mine, theirs = f"{db_name}-a", f"{db_name}-b"
    stream = await LiveStream.open(running.app, "contacts", LOGGED, workspace=mine)
    try:
        assert stream.status == 200
        assert stream.position is not None  # the starting position comes first
        other = await _contact(running, theirs, "Other")
        await _log(running, theirs, other, "not yours")
        contact = await _contact(running, mine, "Ann")
        logged = await _log(running, mine, contact, "first call")
        result = await stream.result()
        assert result == {
            "data": {
                "interactionLogged": {
                    "id": logged,
                    "kind": "CALL",
                    "subject": "first call",
                    "contactIds": [contact],
                    "participants": ["ann"],
                }
            }
        }
    finally:
        await stream.close()


async def test_a_contact_filter_and_a_resume_from_a_position(running: Any, db_name: str) -> None:
    workspace = db_name
    ann = await _contact(running, workspace, "Ann")
    bob = await _contact(running, workspace, "Bob")
    stream = await LiveStream.open(
        running.app, "contacts", LOGGED, {"contact": ann}, workspace=workspace
    )
    try:
        await _log(running, workspace, bob, "to bob")
        first = await _log(running, workspace, ann, "to ann 1")
        result = await stream.result()
        assert result["data"]["interactionLogged"]["id"] == first
        after = stream.position
        assert after is not None
    finally:
        await stream.close()
    # Missed while disconnected, then resumed from the last position: nothing lost, nothing
    # repeated. (In either order: the relay publishes separate documents' events at once,
    # and only each document's own events are ordered.)
    second = await _log(running, workspace, ann, "to ann 2")
    third = await _log(running, workspace, ann, "to ann 3")
    resumed = await LiveStream.open(
        running.app, "contacts", LOGGED, {"contact": ann}, workspace=workspace, resume_after=after
    )
    try:
        got = [(await resumed.result())["data"]["interactionLogged"]["id"] for _ in range(2)]
        assert sorted(got) == sorted([second, third])
    finally:
        await resumed.close()


async def test_a_subscription_needs_the_stream_transport(running: Any) -> None:
    refused = await LiveStream.open(running.app, "contacts", LOGGED, accept="application/json")
    assert refused.status == 406
    assert b'"field":"accept"' in refused.body


async def test_a_resume_position_ahead_of_the_stream_is_refused(running: Any, db_name: str) -> None:
    stream = await LiveStream.open(
        running.app, "contacts", LOGGED, workspace=db_name, resume_after=10**12
    )
    try:
        result = await stream.result()
        assert result["errors"][0]["extensions"]["code"] == "RESUME_FAILED"
        completed = await stream.event()
        assert completed is not None and completed.event == "complete"
        assert await stream.event() is None
    finally:
        await stream.close()
