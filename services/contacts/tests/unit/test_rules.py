"""Domain rules: normalisation, duplicate detection, merge planning."""

from __future__ import annotations

import pytest

from crm_contacts.domain.contact import Contact
from crm_contacts.domain.duplicates import DuplicateReason, duplicate_reasons, edit_distance, rank
from crm_contacts.domain.merge import plan_merge
from crm_contacts.domain.rules import (
    name_key,
    normalise_domain,
    normalise_email,
    normalise_phone,
    normalise_phones,
    normalise_tags,
    slug,
)
from crm_kit.errors import BadUserInput


def _contact(cid: str, first: str, last: str, **kw: object) -> Contact:
    return Contact(id=cid, workspace_id="w1", first_name=first, last_name=last, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("raw", "region", "expected"),
    [
        ("(415) 555-2671", "US", "+14155552671"),
        ("+44 20 7946 0958", "US", "+442079460958"),
        ("030 123456", "DE", "+4930123456"),
        ("415.555.2671", "US", "+14155552671"),
    ],
)
def test_phones_become_e164(raw: str, region: str, expected: str) -> None:
    assert normalise_phone(raw, region, "p") == expected


@pytest.mark.parametrize("raw", ["12", "not a phone", "+1 000 000 0000", ""])
def test_invalid_phones_name_the_field(raw: str) -> None:
    with pytest.raises(BadUserInput) as error:
        normalise_phones(["(415) 555-2671", raw], "US", "input.phones")
    assert error.value.field == "input.phones[1]"


def test_phone_duplicates_collapse() -> None:
    assert normalise_phones(["+1 415 555 2671", "(415) 555-2671"], "US", "p") == ["+14155552671"]


@pytest.mark.parametrize("raw", ["a@b", "no at sign", "a b@c.com", "@c.com", "a@.com", ""])
def test_bad_emails(raw: str) -> None:
    with pytest.raises(BadUserInput) as error:
        normalise_email(raw, "input.email")
    assert error.value.field == "input.email"


def test_email_is_lower_cased_and_trimmed() -> None:
    assert normalise_email("  Ada@Example.COM ", "e") == "ada@example.com"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Acme.com", "acme.com"),
        ("https://www.acme.com/about", "acme.com"),
        ("http://shop.acme.co.uk", "shop.acme.co.uk"),
        ("", None),
        (None, None),
    ],
)
def test_domains(raw: str | None, expected: str | None) -> None:
    assert normalise_domain(raw, "d") == expected


@pytest.mark.parametrize("raw", ["not a domain", "acme", "-x-.com!"])
def test_bad_domains(raw: str) -> None:
    with pytest.raises(BadUserInput):
        normalise_domain(raw, "d")


def test_keys_and_text() -> None:
    assert name_key("  Acme   CORPORATION ") == "acme corporation"
    assert slug("Acme Corporation") == "acme-corporation"
    assert slug("Café & Co.") == "cafe-co"
    assert normalise_tags([" VIP", "vip", "Hot "], "t") == ["vip", "hot"]
    contact = _contact("c1", "Ada", "Lovelace", emails=["ada@x.com"])
    assert contact.email_key == "ada@x.com"
    assert _contact("c2", "No", "Mail").email_key == "none:c2"
    assert contact.search_text == "ada lovelace ada@x.com"


def test_edit_distance() -> None:
    assert edit_distance("kitten", "sitting", 5) == 3
    assert edit_distance("abc", "abc", 0) == 0
    assert edit_distance("abc", "abcdefgh", 2) == 3  # gave up early


def test_duplicate_reasons() -> None:
    base = _contact("a", "Jon", "Smith", emails=["j@x.com"], phones=["+14155552671"],
                    company_id="co1")  # fmt: skip
    same_email = _contact("b", "Other", "Person", emails=["j@x.com"])
    same_phone = _contact("c", "Other", "Person", phones=["+14155552671"])
    typo_same_company = _contact("d", "John", "Smith", company_id="co1")
    typo_other_company = _contact("e", "John", "Smith", company_id="co2")
    accents = _contact("f", "Jön", "Smíth", company_id="co1")
    unrelated = _contact("g", "Mary", "Jones", company_id="co1")
    assert duplicate_reasons(base, same_email) == [DuplicateReason.SAME_EMAIL]
    assert duplicate_reasons(base, same_phone) == [DuplicateReason.SAME_PHONE]
    assert duplicate_reasons(base, typo_same_company) == [DuplicateReason.SIMILAR_NAME]
    assert duplicate_reasons(base, typo_other_company) == []
    assert duplicate_reasons(base, accents) == [DuplicateReason.SIMILAR_NAME]
    assert duplicate_reasons(base, unrelated) == []
    ranked = rank(base, [unrelated, typo_same_company, same_email, base])
    assert [c.contact.id for c in ranked] == ["b", "d"]


def test_merge_plan_fills_and_unions() -> None:
    survivor = _contact("s", "Ada", "L", emails=["ada@x.com"], tags=["vip"],
                        custom_fields={"a": 1})  # fmt: skip
    duplicate = _contact("d", "Ada", "Lovelace", emails=["ada@y.com", "ada@x.com"],
                         phones=["+14155552671"], title="CTO", tags=["vip", "hot"],
                         company_id="co1", custom_fields={"a": 2, "b": 3})  # fmt: skip
    plan = plan_merge(survivor, duplicate)
    changes = {c.field: c.after for c in plan.changes}
    assert changes == {
        "title": "CTO",
        "company_id": "co1",
        "emails": ["ada@x.com", "ada@y.com"],
        "phones": ["+14155552671"],
        "tags": ["vip", "hot"],
        "custom_fields": {"a": 1, "b": 3},
    }
    merged = plan.apply(survivor)
    assert merged.email == "ada@x.com"  # the survivor's primary stays primary
    assert merged.last_name == "L"  # non-empty fields are kept
    assert plan_merge(merged, duplicate).changes == []  # applying twice changes nothing
