"""The importer's parts without a database: column mapping, normalisation table, demo
data, and reading a file into the in-memory store."""

from __future__ import annotations

import io

import pytest

from crm_contacts.domain.company import Company
from crm_contacts.importer import TARGETS as IMPORTED_FIELDS
from crm_contacts.importer import (
    CompanyImporter,
    company_mapping,
    demo_interactions,
    demo_people,
    import_rows,
    parse_mapping,
    row_to_input,
)
from crm_contacts.usecases.scope import Scope
from crm_kit.context import RequestContext
from crm_tabular import TARGETS, MappingError, open_table

from .conftest import FakeStore


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
        "tags": ["b2b", "vip"],  # each tag trimmed
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


def test_company_fields_are_crm_tabular_company_fields() -> None:
    assert set(TARGETS["companies"].by_name) >= IMPORTED_FIELDS


def test_a_file_without_a_name_column_is_refused_up_front() -> None:
    with pytest.raises(MappingError, match="no column maps to name"):
        company_mapping(("Firm", "Staff"), parse_mapping([]))
    mapping, notes = company_mapping(("account", "name"), parse_mapping([]))
    assert mapping.fields["name"].column == "account"
    assert notes == ["columns 'account' and 'name' both map to name: 'account' is used"]


async def test_a_file_that_breaks_part_way_stops_with_its_summary(store: FakeStore) -> None:
    text = b'name,size\nGlobex,10\nGlobex,10\nInitech,x\n"Hooli,30\nUmbrella,40\n'
    scope = Scope(store.for_workspace("w1"), RequestContext("w1", "import", frozenset({"admin"})))
    importer = CompanyImporter(scope, dry_run=False, demo=False)
    with open_table(io.BytesIO(text)) as table:
        mapping, _ = company_mapping(table.header, parse_mapping(["size=size"]))
        await import_rows(importer, table, mapping, quiet=True)
    report = importer.report
    assert (report.rows, report.created, report.skipped) == (3, 1, 1)
    assert [(e.line, e.message) for e in report.errors] == [
        (4, "size: 'x' is not a number"),
        (5, "row 5: the quote opened on line 5 is never closed (the 2 lines to the end of "
            "the file would be one value)"),
    ]  # fmt: skip
    assert report.stopped is not None and report.stopped.startswith("row 5:")
    assert [w.message for w in report.warnings] == ["repeats row 2 cell for cell"]
