"""The importer's pure parts: column mapping, normalisation table, demo data."""

from __future__ import annotations

import pytest

from crm_contacts.domain.company import Company
from crm_contacts.importer import demo_interactions, demo_people, parse_mapping, row_to_input


def test_default_mapping_suits_the_maven_accounts_file() -> None:
    row = {
        "account": "Acme Corporation",
        "sector": "technolgy",
        "year_established": "1996",
        "revenue": "1100.04",
        "employees": "2822",
        "office_location": "Philipines",
        "subsidiary_of": "",
    }
    assert row_to_input(row, parse_mapping([])) == {
        "name": "Acme Corporation",
        "industry": "technology",
        "size": 2822,
        "address": {"country": "Philippines"},
        "custom_fields": {"year_established": 1996, "revenue": 1100.04},
    }


def test_custom_mapping_and_ignored_columns() -> None:
    mapping = parse_mapping(["Firm=name", "revenue=", "Labels=tags", "Town=address.city"])
    row = {"Firm": " Globex ", "revenue": "9", "Labels": "b2b; vip", "Town": "Springfield"}
    assert row_to_input(row, mapping) == {
        "name": "Globex",
        "tags": ["b2b", " vip"],
        "address": {"city": "Springfield"},
    }
    with pytest.raises(ValueError, match="not a number"):
        row_to_input({"employees": "lots"}, mapping)


@pytest.mark.parametrize("pair", ["nonsense", "=name", "col=unknown_field"])
def test_bad_mappings(pair: str) -> None:
    with pytest.raises(ValueError):
        parse_mapping([pair])


def test_demo_data_is_deterministic() -> None:
    company = Company(id="c" * 24, workspace_id="demo", name="Acme Corporation")
    people = demo_people(company)
    assert people == demo_people(company)
    assert len(people) == 2
    for person in people:
        assert person["email"].endswith("@acme-corporation.example")
        assert person["email"] == f"{person['first_name']}.{person['last_name']}@".lower() + (
            "acme-corporation.example"
        )
    steps = demo_interactions("demo", "a" * 24, people[0]["email"])
    assert [s["kind"] for s in steps] == ["email", "call", "meeting"]
    assert steps == demo_interactions("demo", "a" * 24, people[0]["email"])
    assert len({s["id"] for s in steps}) == 3 and all(len(s["id"]) == 24 for s in steps)
