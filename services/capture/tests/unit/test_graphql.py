"""The capture subgraph in process: settings and who may change them, uploads, suggestions
accepted (the contact is created as the accepting user) and rejected, mailboxes without
their passwords, tracking sites with their snippet; errors name their code and field."""

from __future__ import annotations

import re

import pytest

from crm_capture.graphql.context import context_for
from crm_capture.graphql.schema import schema
from crm_kit.testing import GraphQLClient

from .conftest import CORPUS, World


@pytest.fixture
def admin(world: World) -> GraphQLClient:
    return GraphQLClient.in_process(schema, lambda caller: context_for(world.scopes(caller)))


SETTINGS = """mutation($i: CaptureSettingsInput!) { updateCaptureSettings(input: $i) {
  inboundAddress internalDomains excludedDomains bodyLimit } }"""
UPLOAD = """mutation($raw: String!) { captureEmail(raw: $raw) { duplicate
  email { id status direction subject contactIds suggestionIds participants } } }"""


async def test_settings_are_made_on_first_read_and_only_admins_change_them(
    admin: GraphQLClient,
) -> None:
    first = (await admin.data("{ captureSettings { inboundAddress bodyLimit } }"))[
        "captureSettings"
    ]
    assert first["inboundAddress"].endswith("@capture.localhost") and first["bodyLimit"] == 2000
    changed = await admin.data(SETTINGS, {"i": {"internalDomains": ["https://www.OurCo.example/"]}})
    assert changed["updateCaptureSettings"]["internalDomains"] == ["ourco.example"]
    assert changed["updateCaptureSettings"]["inboundAddress"] == first["inboundAddress"]
    rep = admin.as_user("w1", "rita", "rep")
    refused = await rep.error(SETTINGS, {"i": {"bodyLimit": 10}})
    assert refused["extensions"]["code"] == "FORBIDDEN"
    bad = await admin.error(SETTINGS, {"i": {"excludedDomains": ["ok.example", "not a domain"]}})
    assert bad["extensions"] == {"code": "BAD_USER_INPUT", "field": "input.excludedDomains[1]"}
    rotated = await admin.data("mutation { rotateCaptureAddress { inboundAddress } }")
    assert rotated["rotateCaptureAddress"]["inboundAddress"] != first["inboundAddress"]


async def test_an_upload_is_captured_once_and_garbage_is_refused(
    admin: GraphQLClient, world: World
) -> None:
    await admin.data(SETTINGS, {"i": {"internalDomains": ["ourco.example"]}})
    ann = world.directory.add_contact("ann@acme.example")
    raw = (CORPUS / "01-plain-inbound.eml").read_text()
    first = (await admin.data(UPLOAD, {"raw": raw}))["captureEmail"]
    assert first["duplicate"] is False and first["email"]["contactIds"] == [ann.id]
    assert first["email"]["status"] == "CAPTURED" and first["email"]["direction"] == "INBOUND"
    again = (await admin.data(UPLOAD, {"raw": raw}))["captureEmail"]
    assert again["duplicate"] is True and again["email"]["id"] == first["email"]["id"]
    garbage = await admin.error(UPLOAD, {"raw": "hello there, not a message"})
    assert garbage["extensions"] == {"code": "BAD_USER_INPUT", "field": "raw"}
    viewer = await admin.as_user("w1", "val", "viewer").error(UPLOAD, {"raw": raw})
    assert viewer["extensions"]["code"] == "FORBIDDEN"


async def test_when_contacts_does_not_answer_nothing_is_half_captured(
    admin: GraphQLClient, world: World
) -> None:
    world.directory.down = True
    raw = (CORPUS / "01-plain-inbound.eml").read_text()
    error = await admin.error(UPLOAD, {"raw": raw})
    assert error["extensions"]["code"] == "SERVICE_UNAVAILABLE"  # retry later
    world.directory.down = False
    assert world.db.collections["emails"] == {}  # the next try captures it


SUGGESTIONS = "{ captureSuggestions { totalCount edges { node { id email name companyId } } } }"
ACCEPT = """mutation($id: ID!, $i: AcceptSuggestionInput) { acceptCaptureSuggestion(id: $id,
  input: $i) { status contactId } }"""


async def test_accepting_a_suggestion_creates_the_contact_as_the_user(
    admin: GraphQLClient, world: World
) -> None:
    await admin.data(SETTINGS, {"i": {"internalDomains": ["ourco.example"]}})
    hooli = world.directory.add_company("hooli.example", "Hooli")
    raw = (CORPUS / "26-unknown-person-known-company.eml").read_text()
    captured = (await admin.data(UPLOAD, {"raw": raw}))["captureEmail"]["email"]
    assert captured["contactIds"] == [] and captured["status"] == "CAPTURED"  # Hooli's timeline
    [node] = [e["node"] for e in (await admin.data(SUGGESTIONS))["captureSuggestions"]["edges"]]
    assert node["email"] == "frank@hooli.example" and node["name"] == "Frank Fuller"
    assert node["companyId"] == hooli.id
    viewer = await admin.as_user("w1", "val", "viewer").error(ACCEPT, {"id": node["id"]})
    assert viewer["extensions"]["code"] == "FORBIDDEN"
    rep = admin.as_user("w1", "rita", "rep")
    accepted = (await rep.data(ACCEPT, {"id": node["id"]}))["acceptCaptureSuggestion"]
    frank = world.directory.contacts["frank@hooli.example"]
    assert accepted == {"status": "ACCEPTED", "contactId": frank.id}
    created = [caller for name, caller in world.directory.calls if name == "create_contact"]
    assert created[-1].subject == "rita"  # as the accepting user, never as the service
    revised = world.events("crm.capture.email.captured.v1")[-1].data
    assert revised["contactIds"] == [frank.id] and revised["revision"] == 2
    assert (await admin.data(SUGGESTIONS))["captureSuggestions"]["totalCount"] == 0
    missing = await rep.error(ACCEPT, {"id": "0" * 24})
    assert missing["extensions"] == {"code": "NOT_FOUND", "field": "id"}


async def test_a_rejected_address_is_not_suggested_again(admin: GraphQLClient) -> None:
    await admin.data(SETTINGS, {"i": {"internalDomains": ["ourco.example"]}})
    raw = (CORPUS / "27-unknown-freemail.eml").read_text()
    await admin.data(UPLOAD, {"raw": raw})
    [node] = [e["node"] for e in (await admin.data(SUGGESTIONS))["captureSuggestions"]["edges"]]
    await admin.data("mutation($id: ID!) { rejectCaptureSuggestion(id: $id) { status } }",
                     {"id": node["id"]})  # fmt: skip
    second = raw.replace("<stan-27@", "<stan-27-again@")
    email = (await admin.data(UPLOAD, {"raw": second}))["captureEmail"]["email"]
    assert email["suggestionIds"] == [] and email["status"] == "UNMATCHED"
    assert (await admin.data(SUGGESTIONS))["captureSuggestions"]["totalCount"] == 0


async def test_mailboxes_never_show_their_password(admin: GraphQLClient) -> None:
    rep = admin.as_user("w1", "rita", "rep")
    added = await rep.data(
        """mutation { addMailbox(input: {host: "imap.example.com", username: "rita",
             password: "hunter2"}) { id host port security folder } }"""
    )
    assert added["addMailbox"]["port"] == 993 and added["addMailbox"]["security"] == "SSL"
    listed = await rep.data("{ myMailboxes { id } }")
    assert [m["id"] for m in listed["myMailboxes"]] == [added["addMailbox"]["id"]]
    assert (await admin.data("{ myMailboxes { id } }"))["myMailboxes"] == []  # rita's own
    removed = await rep.data(
        "mutation($id: ID!) { removeMailbox(id: $id) { enabled } }",
        {"id": added["addMailbox"]["id"]},
    )
    assert removed["removeMailbox"]["enabled"] is False
    assert (await rep.data("{ myMailboxes { id } }"))["myMailboxes"] == []


async def test_tracking_sites_have_a_public_key_and_a_snippet(admin: GraphQLClient) -> None:
    made = await admin.data(
        """mutation { createTrackingSite(input: {name: "www", domains: ["shop.example"]})
             { id snippet hotPaths hotThreshold } }"""
    )
    site = made["createTrackingSite"]
    # A random public key (the page's script shows it to every visitor), not one made
    # from the workspace's id: "s_" and 20 URL-safe characters. (A random key may hold
    # "w1" by chance, about once in 200: the shape is what says it is not derived.)
    assert re.fullmatch(r"s_[A-Za-z0-9_-]{20}", site["id"])
    assert site["snippet"] == (
        f'<script async src="http://127.0.0.1:4000/t/s.js" data-site="{site["id"]}"></script>'
    )
    bad = await admin.error(
        'mutation { createTrackingSite(input: {name: "x", hotPaths: ["pricing"]}) { id } }'
    )
    assert bad["extensions"] == {"code": "BAD_USER_INPUT", "field": "input.hotPaths[0]"}
