"""Reading messages beyond the corpus: bounds on what a message can make the service do,
quoted history in other languages, forwards that cannot be read back, HTML as text."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from crm_capture.domain.html_text import html_to_text
from crm_capture.domain.message import MAX_REFERENCES, parse_message
from crm_capture.domain.quoting import base_subject, strip_quoted
from crm_capture.usecases import emails, settings
from crm_capture.usecases.inputs import SettingsInput
from crm_capture.usecases.matching import MAX_PARTIES
from crm_kit.errors import BadUserInput

from .conftest import World

NOW = datetime(2026, 12, 1, tzinfo=UTC)


def message(headers: str, body: str = "Hello") -> bytes:
    return f"{headers}\r\n\r\n{body}\r\n".replace("\n", "\r\n").replace("\r\r", "\r").encode()


def test_not_a_message_is_refused_with_the_field() -> None:
    with pytest.raises(BadUserInput) as raised:
        parse_message(b"just some words", NOW)
    assert raised.value.field == "raw"


async def test_a_mailing_to_thousands_matches_its_first_parties_only(world: World) -> None:
    await settings.update_settings(world.scope(), SettingsInput(internal_domains=["ourco.example"]))
    many = ", ".join(f"p{n}@prospect{n}.example" for n in range(500))
    refs = " ".join(f"<r{n}@x.example>" for n in range(400))
    raw = message(
        f"From: rita@ourco.example\nTo: {many}\nSubject: Launch\nMessage-ID: <launch@ourco.example>"
        f"\nReferences: {refs}"
    )
    parsed = parse_message(raw, NOW)
    assert len(parsed.references) == MAX_REFERENCES and parsed.thread_key == "r0@x.example"
    outcome = await emails.capture_email(world.service(), raw, "smtp")
    assert len(outcome.email.external) == MAX_PARTIES
    assert len(outcome.email.suggestion_ids) == MAX_PARTIES
    asked = [caller for name, caller in world.directory.calls if name == "contacts_by_emails"]
    assert len(asked) == 1


def test_quoted_history_in_other_languages_is_cut() -> None:
    german = "Passt gut.\n\nAm 02.03.2026 um 10:15 schrieb Rita <rita@ourco.example>:\n> Ok?"
    french = "D'accord.\n\nLe lun. 2 mars 2026 à 10:15, Rita <rita@ourco.example> a écrit :\n> ok"
    wrapped = "Yes.\n\nOn Mon, 2 Mar 2026 at 10:15, Rita Rep <rita@ourco.example>\nwrote:\n> ?"
    assert strip_quoted(german) == "Passt gut."
    assert strip_quoted(french) == "D'accord."
    assert strip_quoted(wrapped) == "Yes."
    assert strip_quoted("Thanks\n-- \nRita Rep\nSales") == "Thanks"
    assert base_subject("RE: AW: Fwd: [2] Pricing") == "[2] Pricing"


def test_a_forward_that_cannot_be_read_back_stays_the_forwarders() -> None:
    raw = message(
        "From: Rita Rep <rita@ourco.example>\nTo: ann@acme.example\nSubject: Fwd: notes\n"
        "Message-ID: <fwd-x@ourco.example>",
        "Some notes without the original's headers.",
    )
    parsed = parse_message(raw, NOW)
    assert parsed.forwarded_by is None and parsed.sender is not None
    assert parsed.sender.email == "rita@ourco.example"


def test_html_becomes_readable_text() -> None:
    html = (
        "<html><head><style>.x{}</style><script>alert(1)</script></head><body>"
        "<h1>Offer</h1><p>Price:&nbsp;&euro;1&#x2C;200 &amp; more</p><ul><li>A</li><li>B</li>"
        "</ul><p>Line<br>break</p></body></html>"
    )
    assert html_to_text(html) == "Offer\n\nPrice: €1,200 & more\n\nA\n\nB\n\nLine\nbreak"
