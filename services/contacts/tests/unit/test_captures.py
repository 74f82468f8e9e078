"""Interactions the capture service recorded: written once, revised by a newer revision
only, removed by a cancellation (a late original stays out), never written over a
person's interaction; merged contacts followed to their survivor; the contacts' last
activity follows (not into the future). Both database profiles (the store fixture)."""

from __future__ import annotations

from datetime import UTC, datetime

from crm_contacts.domain.interaction import Direction, InteractionKind
from crm_contacts.usecases import captures
from crm_contacts.usecases.inputs import CapturedInteractionInput
from crm_contacts.usecases.scope import Scope
from crm_kit.context import RequestContext
from crm_kit.testing import GraphQLClient

from .conftest import FakeStore

CAPTURE = RequestContext("w1", "service:capture", frozenset({"rep"}))
WHEN = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
TIMELINE = """query($id: ID!) { contact(id: $id) { lastActivityAt interactions { edges { node {
  id kind subject summary source loggedBy } } } } }"""


def scope(store: FakeStore) -> Scope:
    return Scope(store.for_workspace("w1"), CAPTURE, phone_region="US")


async def contact(admin: GraphQLClient, email: str) -> str:
    made = await admin.data(
        'mutation($e: String!) { createContact(input: {firstName: "A", email: $e}) { id } }',
        {"e": email},
    )
    return str(made["createContact"]["id"])


def captured(contact_id: str, revision: int = 1, **changes: object) -> CapturedInteractionInput:
    values: dict = {
        "interaction_id": "a" * 24,
        "revision": revision,
        "kind": InteractionKind.EMAIL,
        "occurred_at": WHEN,
        "direction": Direction.INBOUND,
        "subject": "Hello",
        "summary": "first words",
        "contact_ids": [contact_id],
        "logged_by": "rita",
        **changes,
    }
    return CapturedInteractionInput(**values)


async def timeline(admin: GraphQLClient, contact_id: str) -> dict:
    return (await admin.data(TIMELINE, {"id": contact_id}))["contact"]


async def test_recorded_once_and_revised_only_by_a_newer_revision(
    store: FakeStore, admin: GraphQLClient
) -> None:
    ann = await contact(admin, "ann@acme.example")
    await captures.record_captured(scope(store), captured(ann))
    await captures.record_captured(scope(store), captured(ann))  # redelivered
    await captures.record_captured(scope(store), captured(ann, 3, summary="third words"))
    await captures.record_captured(scope(store), captured(ann, 2, summary="late second"))
    found = await timeline(admin, ann)
    [node] = [e["node"] for e in found["interactions"]["edges"]]
    assert node["summary"] == "third words" and node["source"] == "capture"
    assert node["loggedBy"] == "rita" and found["lastActivityAt"] == "2026-03-02T09:00:00+00:00"
    types = [e.type for e in store.outbox if e.type.startswith("crm.contacts.interaction")]
    assert types == ["crm.contacts.interaction.logged.v1", "crm.contacts.interaction.updated.v1"]
    logged = store.events_of_type("crm.contacts.interaction.logged.v1")[0].data
    assert logged["source"] == "capture" and logged["kind"] == "email"


async def test_a_cancellation_removes_and_a_late_original_stays_out(
    store: FakeStore, admin: GraphQLClient
) -> None:
    ann = await contact(admin, "ann@acme.example")
    meeting = captured(ann, kind=InteractionKind.MEETING, interaction_id="b" * 24)
    # The cancellation overtakes the original (a redelivery reordered them).
    meeting_kind = InteractionKind.MEETING
    assert not await captures.remove_captured(scope(store), "b" * 24, 2, meeting_kind, WHEN)
    await captures.record_captured(scope(store), meeting)
    assert (await timeline(admin, ann))["interactions"]["edges"] == []
    rescheduled = captured(ann, 3, kind=InteractionKind.MEETING, interaction_id="b" * 24)
    await captures.record_captured(scope(store), rescheduled)
    assert len((await timeline(admin, ann))["interactions"]["edges"]) == 1
    assert await captures.remove_captured(scope(store), "b" * 24, 4, InteractionKind.MEETING, WHEN)
    assert (await timeline(admin, ann))["interactions"]["edges"] == []
    assert store.events_of_type("crm.contacts.interaction.removed.v1")[0].data["id"] == "b" * 24


async def test_a_persons_interaction_is_never_written_over(
    store: FakeStore, admin: GraphQLClient
) -> None:
    ann = await contact(admin, "ann@acme.example")
    logged = await admin.data(
        """mutation($c: ID!) { logInteraction(input: {kind: CALL, contactId: $c,
             subject: "Call"}) { id } }""",
        {"c": ann},
    )
    own_id = logged["logInteraction"]["id"]
    await captures.record_captured(scope(store), captured(ann, 5, interaction_id=own_id))
    [node] = [e["node"] for e in (await timeline(admin, ann))["interactions"]["edges"]]
    assert node["subject"] == "Call" and node["source"] is None


async def test_merged_contacts_are_followed_and_future_meetings_are_not_activity(
    store: FakeStore, admin: GraphQLClient
) -> None:
    ann = await contact(admin, "ann@acme.example")
    dupe = await contact(admin, "ann.archer@acme.example")
    await admin.data(
        "mutation($s: ID!, $d: ID!) { mergeContacts(survivorId: $s, duplicateId: $d) { dryRun } }",
        {"s": ann, "d": dupe},
    )
    await captures.record_captured(scope(store), captured(dupe))
    found = await timeline(admin, ann)
    assert len(found["interactions"]["edges"]) == 1
    future = datetime(2099, 1, 1, tzinfo=UTC)
    meeting = captured(
        ann, kind=InteractionKind.MEETING, interaction_id="c" * 24, occurred_at=future
    )
    await captures.record_captured(scope(store), meeting)
    assert (await timeline(admin, ann))["lastActivityAt"] == "2026-03-02T09:00:00+00:00"
    gone = captured("d" * 24, interaction_id="e" * 24)
    assert await captures.record_captured(scope(store), gone) is None  # nobody live
