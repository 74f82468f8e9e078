"""Capture service contracts: the committed SDL is current, every event it publishes
validates on the producer side (built by the service) and the consumer side (parsed from
the wire with only `crm_contracts`), the README documents each with a valid example, and
the interactions contacts makes of them carry what a rule needs."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import pytest

from crm_contracts import capture as contract
from crm_contracts.base import Payload
from crm_contracts.envelope import SUBJECT_PATTERN, CloudEvent, service_of
from crm_kit.paths import REPO_ROOT

SERVICE_DIR = REPO_ROOT / "services" / "capture"
README = (SERVICE_DIR / "README.md").read_text()

MODELS: dict[str, type[Payload]] = {
    contract.EMAIL_CAPTURED: contract.EmailCaptured,
    contract.MEETING_CAPTURED: contract.MeetingCaptured,
    contract.MEETING_CANCELLED: contract.MeetingCancelled,
    contract.VISIT_RECORDED: contract.VisitRecorded,
    contract.HOT_LEAD_DETECTED: contract.HotLeadDetected,
    contract.SUGGESTION_CREATED: contract.SuggestionCreated,
}


def test_committed_schema_is_the_exported_one() -> None:
    from crm_capture.export_schema import sdl

    committed = (SERVICE_DIR / "schema.graphql").read_text()
    assert committed == sdl(), (
        "services/capture/schema.graphql is stale: run "
        "`python -m crm_capture.export_schema > services/capture/schema.graphql`"
    )


def test_schema_is_a_federation_2_9_subgraph_extending_contacts() -> None:
    committed = (SERVICE_DIR / "schema.graphql").read_text()
    assert "https://specs.apollo.dev/federation/v2.9" in committed
    assert 'type Contact @key(fields: "id")' in committed
    for name in ("captureEmail(raw: String!)", "captureCalendar(ics: String!)",
                 "captureSuggestions("):  # fmt: skip
        assert name in committed


def produced_events() -> list[CloudEvent]:
    from crm_capture.domain.email import AttachmentRecord, CapturedEmail, Direction, EmailStatus
    from crm_capture.domain.matching import DealLink
    from crm_capture.domain.meeting import CapturedMeeting, OccurrenceState
    from crm_capture.domain.suggestion import Suggestion, SuggestionSource
    from crm_capture.domain.tracking import PageView, Site, Utm, Visitor, VisitSession
    from crm_capture.events import publish

    at = datetime(2026, 3, 2, 14, 5, tzinfo=UTC)
    deal = DealLink("d" * 24, "Acme Rollout", "negotiation", "open", "rita", "p" * 24)
    email = CapturedEmail(
        id="e" * 24, workspace_id="w1", message_id="CAAnn-0001@mail.acme.example",
        thread_id="CAAnn-0001@mail.acme.example", status=EmailStatus.CAPTURED, occurred_at=at,
        channel="smtp", subject="Question about the annual plan",
        participants=["Ann Archer <ann@acme.example>", "Rita Rep <rita@ourco.example>"],
        direction=Direction.INBOUND, summary="Could you send over the numbers?",
        attachments=[AttachmentRecord("plan.pdf", "application/pdf", 48213)],
        contact_ids=["a" * 24], company_id="c" * 24, deal=deal, rep_user_id="rita", revision=1,
    )  # fmt: skip
    occurrence = OccurrenceState(
        key="2026-03-09T15:00:00Z", interaction_id="f" * 24, starts_at=at,
        ends_at=at.replace(hour=15), summary="Weekly sync", location="Teams", cancelled=False,
        revision=1,
    )  # fmt: skip
    meeting = CapturedMeeting(
        id="m" * 24, workspace_id="w1", uid="weekly-1@ourco.example", sequence=1, stamp=at,
        channel="upload", summary="Weekly sync", organizer="rita@ourco.example",
        participants=["ann@acme.example", "rita@ourco.example"], contact_ids=["a" * 24],
        company_id="c" * 24, deal=deal, rep_user_id="rita", occurrences=[occurrence],
    )  # fmt: skip
    page = PageView(
        url="https://www.acme-shop.example/pricing?utm_source=newsletter", path="/pricing",
        at=at, title="Pricing", utm=Utm(source="newsletter"), duration_seconds=42,
    )  # fmt: skip
    session = VisitSession(
        id="5" * 24, workspace_id="w1", site_id="s_Xk2fQ9aB7cD1eF3g", visitor_id="7" * 24,
        started_at=at, last_at=at, pages=[page], page_count=1, contact_id="a" * 24,
        company_id="c" * 24, revision=2,
    )  # fmt: skip
    site = Site(id="s_Xk2fQ9aB7cD1eF3g", workspace_id="w1", name="www")
    visitor = Visitor(
        id="7" * 24, workspace_id="w1", site_id=site.id, first_seen_at=at, last_seen_at=at,
        contact_id="a" * 24, company_id="c" * 24, hot_paths_seen=["/pricing"],
    )  # fmt: skip
    suggestion = Suggestion(
        id="9" * 24, workspace_id="w1", email="frank@hooli.example", domain="hooli.example",
        source=SuggestionSource.EMAIL, first_seen_at=at, last_seen_at=at, name="Frank Fuller",
        company_id="h" * 24,
    )  # fmt: skip
    cancelled = OccurrenceState(**{**vars(occurrence), "cancelled": True, "revision": 2})
    return [
        publish.email_captured(email),
        publish.meeting_captured(meeting, occurrence),
        publish.meeting_cancelled(meeting, cancelled),
        publish.visit_recorded(session),
        publish.hot_lead_detected(visitor, site, [at, at]),
        publish.suggestion_created(suggestion),
    ]


def test_every_subject_is_produced_and_owned_by_capture() -> None:
    assert {event.type for event in produced_events()} == set(MODELS)
    for subject in MODELS:
        assert SUBJECT_PATTERN.match(subject) and service_of(subject) == "capture"
    assert contract.RPC_EMAIL_CAPTURE.startswith("rpc.capture.")


@pytest.mark.parametrize("event", produced_events(), ids=lambda e: e.type)
def test_produced_events_validate_on_the_consumer_side(event: CloudEvent) -> None:
    model = MODELS[event.type]
    model.model_validate(event.data)
    received = CloudEvent.from_json(event.to_json())
    assert received.workspace == "w1" and received.source == "crm/capture"
    assert model.model_validate(received.data).wire() == event.data


def test_captured_interactions_carry_what_a_rule_looks_for() -> None:
    """The tasks service's rules find a deal, contact, company and owner at these paths."""
    for event in produced_events():
        if isinstance(MODELS[event.type](**event.data), contract.CapturedInteraction):
            data = event.data
            assert {"interactionId", "revision", "kind", "contactIds", "loggedBy"} <= set(data)
            assert data["dealId"] == data["deal"]["id"] if data.get("deal") else True


def _readme_examples() -> dict[str, dict]:
    pattern = re.compile(r"^### `(crm\.capture\.[a-z_.0-9]+)`\n.*?```json\n(.*?)\n```", re.M | re.S)
    return {subject: json.loads(body) for subject, body in pattern.findall(README)}


def test_readme_documents_every_event_with_a_valid_example() -> None:
    examples = _readme_examples()
    assert set(examples) == set(MODELS)
    for subject, data in examples.items():
        MODELS[subject].model_validate(data)


def test_readme_documents_the_endpoint_and_the_doors() -> None:
    assert f"### `{contract.RPC_EMAIL_CAPTURE}`" in README
    for door in ("SMTP", "/t/s.js", "/t/c", "CAPTURE_SMTP_PORT", "CAPTURE_SECRET_KEY"):
        assert door in README
