"""Every message of the corpus (tests/corpus: real-world-shaped mail written for these
tests) captured as `expected.json` says: status, direction, parties, text, forwards,
threads, attachments, meetings, and what is ignored."""

from __future__ import annotations

from typing import Any

import pytest

from crm_capture.domain.email import CapturedEmail
from crm_capture.usecases import emails, settings
from crm_capture.usecases.inputs import MyCaptureInput, SettingsInput
from crm_kit.clock import iso

from .conftest import CORPUS, World, corpus_expectations

EXPECTED = corpus_expectations()
WORLD = EXPECTED["world"]


async def set_up(world: World) -> None:
    scope = world.scope()
    await settings.update_settings(
        scope,
        SettingsInput(
            internal_domains=WORLD["internal_domains"],
            excluded_domains=WORLD["excluded_domains"],
            excluded_addresses=WORLD["excluded_addresses"],
        ),
    )
    for email, user in WORLD["reps"].items():
        await settings.update_my_capture(
            world.scope(subject=user, roles="rep"), MyCaptureInput(addresses=[email])
        )
    for domain, name in WORLD["companies"].items():
        world.directory.add_company(domain, name)
    for email, (_first, _last, domain) in WORLD["contacts"].items():
        world.directory.add_contact(email, domain)
    for title, domain in WORLD["deals"].items():
        world.directory.add_deal(title, domain)


def check_email(world: World, name: str, email: CapturedEmail, expected: dict[str, Any]) -> None:
    directory = world.directory
    assert email.status.value == expected["status"], name
    if "reason" in expected:
        assert email.reason == expected["reason"], name
    if "direction" in expected:
        assert email.direction is not None and email.direction.value == expected["direction"], name
    if "contacts" in expected:
        want = {directory.contacts[e].id for e in expected["contacts"]}
        assert set(email.contact_ids) == want, name
    if "company" in expected:
        company = expected["company"]
        assert email.company_id == (directory.companies[company].id if company else None), name
    if "subject" in expected:
        assert email.subject == expected["subject"], name
    for text in expected.get("summary_has", []):
        assert text in (email.summary or ""), (name, text, email.summary)
    for text in expected.get("summary_lacks", []):
        assert text not in (email.summary or ""), (name, text)
    for label in expected.get("participants_has", []):
        assert label in email.participants, (name, email.participants)
    for address in expected.get("participants_lack", []):
        assert not any(address in p for p in email.participants), name
        assert address not in email.external, name
    if "attachments" in expected:
        assert [a.name for a in email.attachments] == expected["attachments"], name
    if "forwarded" in expected:
        assert email.forwarded is expected["forwarded"], name
    if "occurred_at" in expected:
        assert iso(email.occurred_at) == expected["occurred_at"], name
    if "message_id" in expected:
        assert email.message_id == expected["message_id"], name
    if "thread" in expected:
        assert email.thread_id == expected["thread"], name
    if "rep" in expected:
        assert email.rep_user_id == expected["rep"], name
    if "deal" in expected:
        assert email.deal is not None and email.deal.title == expected["deal"], name
    if "summary_max" in expected:
        assert email.summary is not None and len(email.summary) <= expected["summary_max"]
        assert email.summary.endswith(expected["summary_ends"]), name


async def test_the_corpus_is_captured_as_expected(world: World) -> None:
    await set_up(world)
    scope = world.service()
    assert len(EXPECTED["messages"]) >= 30
    for name, expected in EXPECTED["messages"].items():
        raw = (CORPUS / name).read_bytes()
        outcome = await emails.capture_email(scope, raw, "smtp", internal=["rita@ourco.example"])
        assert not outcome.duplicate, name
        check_email(world, name, outcome.email, expected)
        if "suggestions" in expected:
            found = await scope.store.get_suggestions(outcome.email.suggestion_ids)
            assert sorted(s.email for s in found) == sorted(expected["suggestions"]), name
        for want in expected.get("meetings", []):
            got = next(m for m in outcome.meetings if m.uid == want["uid"])
            assert got.status == want["status"], name
            if got.meeting is None or want["status"] == "ignored":
                continue
            meeting = got.meeting
            ids = {world.directory.contacts[e].id for e in want["contacts"]}
            assert set(meeting.contact_ids) == ids, name
            assert [iso(o.starts_at) for o in meeting.live_occurrences] == want["starts"], name
            for occurrence in meeting.live_occurrences:
                seconds = (occurrence.ends_at - occurrence.starts_at).total_seconds()
                assert seconds == want["duration_seconds"], name
            assert meeting.summary == want["subject"], name


@pytest.mark.parametrize("name", sorted(EXPECTED["messages"]))
async def test_a_message_captured_twice_is_one_record(world: World, name: str) -> None:
    await set_up(world)
    raw = (CORPUS / name).read_bytes()
    first = await emails.capture_email(
        world.service(), raw, "smtp", internal=["rita@ourco.example"]
    )
    again = await emails.capture_email(world.scope(subject="rita", roles="rep"), raw, "upload")
    assert again.duplicate and again.email.id == first.email.id
    assert again.email.channels == ["smtp", "upload"]
    captured = [e for e in world.events("crm.capture.email.captured.v1")]
    assert len(captured) == (1 if first.email.status.value == "captured" else 0)
