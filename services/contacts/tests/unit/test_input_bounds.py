"""Input bounds of contacts (README "Limits"): the maximum is accepted, one more is
BAD_USER_INPUT naming the input path."""

from __future__ import annotations

from typing import Any

import pytest

from crm_contacts.domain.rules import normalise_emails, normalise_phones, normalise_tags
from crm_contacts.usecases.validation import custom_fields
from crm_kit import bounds
from crm_kit.errors import BadUserInput


def _refused(field: str) -> Any:
    """Expects BadUserInput naming `field`."""
    return pytest.raises(BadUserInput, check=lambda error: error.field == field)


def test_emails_per_contact() -> None:
    emails = [f"a{i}@example.com" for i in range(bounds.MAX_EMAILS)]
    assert len(normalise_emails(emails, "input.emails")) == bounds.MAX_EMAILS
    with _refused("input.emails"):
        normalise_emails([*emails, "more@example.com"], "input.emails")


def test_phones_per_contact_and_their_length() -> None:
    phones = [f"+1415555{i:04d}" for i in range(bounds.MAX_PHONES)]
    assert len(normalise_phones(phones, "US", "input.phones")) == bounds.MAX_PHONES
    with _refused("input.phones"):
        normalise_phones([*phones, "+14155559999"], "US", "input.phones")
    with _refused("input.phones[0]"):
        normalise_phones(["1" * 1_000_000], "US", "input.phones")


def test_tags_per_record() -> None:
    tags = [f"t{i}" for i in range(bounds.MAX_TAGS)]
    assert len(normalise_tags(tags, "input.tags")) == bounds.MAX_TAGS
    with _refused("input.tags"):
        normalise_tags([*tags, "extra"], "input.tags")
    with _refused("input.tags[0]"):
        normalise_tags(["t" * 65], "input.tags")


def test_custom_field_names_and_count() -> None:
    many = {f"k{i}": i for i in range(bounds.MAX_CUSTOM_FIELDS)}
    assert custom_fields(many, "input.customFields") == many
    with _refused("input.customFields"):
        custom_fields({**many, "extra": 1}, "input.customFields")
    long_key = "k" * (bounds.MAX_CUSTOM_KEY + 1)
    with _refused(f"input.customFields.{long_key[: bounds.MAX_CUSTOM_KEY]}"):
        custom_fields({long_key: 1}, "input.customFields")
