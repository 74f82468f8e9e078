"""Email capture end to end: mail sent to the capture door with smtplib lands on the
contacts' timelines through the whole stack (capture -> NATS -> contacts -> gateway); the
committed corpus is captured as expected (bounces and auto-replies ignored); the same
message by SMTP and by upload is one interaction; suggestions are accepted and rejected;
captured interactions move the deal's and the contact's last activity and trigger rules."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator
from typing import Any

import pytest

from crm_kit import testing

from .capture_world import EXPECTED, World, corpus_file, corpus_names, make_world, parsed_id
from .conftest import Stack
from .helpers import eventually, new_workspace

pytestmark = pytest.mark.e2e

# The promise: on the timeline within 2 s of the SMTP transaction.
within_two_seconds = functools.partial(testing.eventually, timeout=2.0, interval=0.05)

QUICK = """From: Ann Archer <ann@acme.example>\r
To: Rita Rep <rita@ourco.example>\r
Subject: Quick question {n}\r
Message-ID: <quick-{n}@acme.example>\r
Date: Mon, 07 Dec 2026 09:00:00 +0000\r
\r
Are we still on for tomorrow?\r
"""


@pytest.fixture
async def world(stack: Stack) -> AsyncIterator[World]:
    made = await make_world(stack, new_workspace())
    yield made
    await made.close()


async def test_a_message_sent_by_smtp_is_on_the_timeline_within_two_seconds(world: World) -> None:
    await world.timeline("ann@acme.example")  # warm: the first read opens connections
    await world.send(QUICK.format(n=1))

    async def arrived() -> list[dict[str, Any]]:
        found = await world.timeline("ann@acme.example")
        return [i for i in found if i["subject"] == "Quick question 1"]

    interaction = (await within_two_seconds(arrived, what="the email on the timeline"))[0]
    assert interaction["kind"] == "EMAIL" and interaction["source"] == "capture"
    assert interaction["direction"] == "INBOUND" and interaction["loggedBy"] == "rita"


async def test_the_corpus_lands_where_it_should(world: World) -> None:
    rule = await world.admin.data(
        """mutation($i: CreateAutomationRuleInput!) { createAutomationRule(input: $i) { id } }""",
        {"i": {
            "name": "Answer captured mail on open deals",
            "trigger": "INTERACTION_LOGGED",
            "conditions": [
                {"path": "source", "op": "EQ", "value": "capture"},
                {"path": "kind", "op": "EQ", "value": "email"},
                {"path": "direction", "op": "EQ", "value": "inbound"},
                {"path": "dealId", "op": "EXISTS", "value": True},
            ],
            "actions": [{"type": "CREATE_TASK", "task": {"title": "Answer: {{subject}}"}}],
        }},
    )  # fmt: skip
    assert rule["createAutomationRule"]["id"]
    workspace = world.workspace
    for name in corpus_names():
        await world.send(corpus_file(name))
    # Wait for the last captured one, then read every timeline once.
    last = parsed_id(workspace, "36-long-body.eml")
    await eventually(
        lambda: _ids_on(world, "chloe@initech.example", {last}), what="the corpus captured"
    )
    timelines = {email: await world.timeline(email) for email in world.contacts}
    on_any = {i["id"] for found in timelines.values() for i in found}
    for name, expected in EXPECTED["messages"].items():
        record = parsed_id(workspace, name)
        if expected["status"] == "captured":
            for email in expected["contacts"]:
                match = [i for i in timelines[email] if i["id"] == record]
                assert match, f"{name} not on {email}'s timeline"
                assert match[0]["kind"] == "EMAIL" and match[0]["source"] == "capture"
                if "direction" in expected:
                    assert match[0]["direction"] == expected["direction"].upper(), name
                if "occurred_at" in expected:
                    assert match[0]["occurredAt"].startswith(expected["occurred_at"][:19]), name
            if expected.get("company") and not expected["contacts"]:
                company = await world.company_timeline(expected["company"])
                assert record in {i["id"] for i in company}, name
        else:
            assert record not in on_any, f"{name} ({expected['status']}) is on a timeline"
        for meeting in expected.get("meetings", []):
            if meeting["status"] != "captured":
                continue
            for email in meeting["contacts"]:
                starts = sorted(
                    i["occurredAt"][:19] for i in timelines[email] if i["kind"] == "MEETING"
                    and i["subject"] == meeting["subject"]
                )  # fmt: skip
                assert starts == [s[:19] for s in meeting["starts"]], name
    deal_linked = [i for i in timelines["ann@acme.example"] if i["kind"] == "EMAIL"]
    assert deal_linked and all(i["dealId"] == world.deal_id for i in deal_linked)
    # The deal's and the contact's last activity: the latest captured interaction.
    latest = max(i["occurredAt"] for i in timelines["ann@acme.example"])

    async def deal_touched() -> bool:
        data = await world.admin.data(
            "query($id: ID!) { deal(id: $id) { lastActivityAt } }", {"id": world.deal_id}
        )
        return data["deal"]["lastActivityAt"] == latest

    await eventually(deal_touched, what="the deal's last activity")
    assert await world.last_activity("ann@acme.example") == latest
    # The rule made a task for each inbound captured email on the open deal.

    async def tasks() -> set[str]:
        found = await world.rita.data("{ myTasks { title } }")
        return {t["title"] for t in found["myTasks"]}

    await eventually(
        lambda: _superset(tasks, {"Answer: RE: Proposal for Acme Rollout",
                                  "Answer: Question about the annual plan"}),
        what="the rule's tasks",
    )  # fmt: skip
    assert "Answer: Proposal for Acme Rollout" not in await tasks()  # outbound: no task


async def test_a_rule_on_captured_email_makes_a_task_for_the_deals_owner(world: World) -> None:
    """The tasks service's rules hear the capture service's own events: an inbound email on
    an open deal -> a task for the deal's owner, once per email (not per revision)."""
    await world.admin.data(
        """mutation($i: CreateAutomationRuleInput!) { createAutomationRule(input: $i) { id } }""",
        {"i": {
            "name": "Reply to mail on open deals",
            "trigger": "EMAIL_CAPTURED",
            "conditions": [
                {"path": "deal.status", "op": "EQ", "value": "open"},
                {"path": "direction", "op": "EQ", "value": "inbound"},
                {"path": "revision", "op": "EQ", "value": 1},
            ],
            "actions": [{"type": "CREATE_TASK", "task": {"title": "Reply: {{subject}}"}}],
        }},
    )  # fmt: skip
    await world.send(QUICK.format(n=5))

    async def replies() -> list[dict[str, Any]]:
        found = await world.rita.data("{ myTasks { title dealId } }")
        return [t for t in found["myTasks"] if t["title"] == "Reply: Quick question 5"]

    [task] = await eventually(replies, what="the rule's task for the deal's owner")
    assert task["dealId"] == world.deal_id


async def _superset(probe: Any, wanted: set[str]) -> bool:
    return wanted <= await probe()


async def _ids_on(world: World, email: str, wanted: set[str]) -> bool:
    return wanted <= {i["id"] for i in await world.timeline(email)}


async def test_the_same_message_by_smtp_and_by_upload_is_one_interaction(world: World) -> None:
    raw = QUICK.format(n=2)
    await world.send(raw)

    async def on_timeline() -> list[dict[str, Any]]:
        found = await world.timeline("ann@acme.example")
        return [i for i in found if i["subject"] == "Quick question 2"]

    first = (await eventually(on_timeline, what="captured by SMTP"))[0]
    uploaded = await world.upload(raw)
    assert uploaded["duplicate"] is True and uploaded["email"]["id"] == first["id"]
    another_rep = world.as_user("sam", "rep")
    assert (await world.upload(raw, another_rep))["duplicate"] is True
    assert len(await on_timeline()) == 1


SUGGESTIONS = """{ captureSuggestions { edges { node { id email status companyId } } } }"""


async def test_unknown_senders_become_suggestions_never_silent_contacts(world: World) -> None:
    await world.send(corpus_file("26-unknown-person-known-company.eml"))
    await world.send(corpus_file("27-unknown-freemail.eml"))

    async def pending() -> dict[str, dict[str, Any]]:
        data = await world.rita.data(SUGGESTIONS)
        return {e["node"]["email"]: e["node"] for e in data["captureSuggestions"]["edges"]}

    found = await eventually(lambda: _when(pending, lambda s: len(s) == 2), what="two suggestions")
    frank, stan = found["frank@hooli.example"], found["stan.stranger@yahoo.com"]
    assert frank["companyId"] == world.companies["hooli.example"] and stan["companyId"] is None
    contacts = await world.admin.data('{ contacts(filter: {text: "frank"}) { totalCount } }')
    assert contacts["contacts"]["totalCount"] == 0  # not created behind anyone's back

    accepted = await world.rita.data(
        """mutation($id: ID!) { acceptCaptureSuggestion(id: $id) { status contactId } }""",
        {"id": frank["id"]},
    )
    contact_id = accepted["acceptCaptureSuggestion"]["contactId"]
    assert accepted["acceptCaptureSuggestion"]["status"] == "ACCEPTED"

    async def franks_timeline() -> list[str]:
        data = await world.admin.data(
            "query($id: ID!) { contact(id: $id) { firstName company { domain } "
            "interactions { edges { node { subject } } } } }",
            {"id": contact_id},
        )
        contact = data["contact"]
        assert contact["firstName"] == "Frank" and contact["company"]["domain"] == "hooli.example"
        return [e["node"]["subject"] for e in contact["interactions"]["edges"]]

    assert await eventually(franks_timeline, what="the intro on the new contact") == [
        "Intro from Gavin"
    ]
    rejected = await world.rita.data(
        "mutation($id: ID!) { rejectCaptureSuggestion(id: $id) { status } }", {"id": stan["id"]}
    )
    assert rejected["rejectCaptureSuggestion"]["status"] == "REJECTED"
    again = corpus_file("27-unknown-freemail.eml").replace(b"<stan-27@", b"<stan-27b@")
    await world.send(again)
    uploaded = await world.upload(again.decode())
    assert uploaded["duplicate"] and uploaded["email"]["status"] == "UNMATCHED"
    assert "stan.stranger@yahoo.com" not in await pending()  # remembered: not suggested


async def _when(probe: Any, condition: Any) -> Any:
    found = await probe()
    return found if condition(found) else None


async def test_privacy_settings_are_honoured(world: World) -> None:
    await world.admin.data(
        "mutation { updateCaptureSettings(input: {bodyLimit: 0}) { bodyLimit } }"
    )
    await world.send(QUICK.format(n=3))
    await world.send(corpus_file("28-excluded-address-only.eml"))
    await world.rita.data("mutation { updateMyCapture(input: {paused: true}) { myCapturePaused } }")
    await world.send(SENT_BY_RITA)

    async def third() -> list[dict[str, Any]]:
        return [
            i
            for i in await world.timeline("ann@acme.example")
            if i["subject"] == "Quick question 3"
        ]

    captured = (await eventually(third, what="captured without its body"))[0]
    assert captured["summary"] is None
    emails = await world.admin.data(
        "{ capturedEmails(first: 20) { edges { node { status subject } } } }"
    )
    by_status = {e["node"]["status"]: e["node"] for e in emails["capturedEmails"]["edges"]}
    assert by_status["EXCLUDED"]["subject"] is None  # nothing of it kept
    assert "PAUSED" in by_status
    subjects = {i["subject"] for i in await world.timeline("ann@acme.example")}
    assert "Sent while paused" not in subjects


SENT_BY_RITA = """From: Rita Rep <rita@ourco.example>\r
To: Ann Archer <ann@acme.example>\r
Subject: Sent while paused\r
Message-ID: <paused-1@ourco.example>\r
Date: Mon, 07 Dec 2026 10:00:00 +0000\r
\r
My capture is paused.\r
"""
