"""Mappings: JSON both ways, validation naming each offending place, and rows mapped into
typed values or issues naming row, column, value and reason."""

from __future__ import annotations

import io
import json
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from crm_kit.paths import REPO_ROOT
from crm_tabular import TARGETS, FieldRule, Mapping, MappingError, Row, RowMapper, open_table
from crm_tabular.mapping import parse_template

HEADER = ("Deal ID", "First", "Last", "Status", "Created", "Stamp", "Value", "Region", "Tags")


def row(*values: str, number: int = 2) -> Row:
    return Row(number, tuple(values))


def mapped(mapping: dict[str, Any], *values: str) -> Any:
    return RowMapper(Mapping.from_json(mapping), HEADER).map(row(*values))


FULL = {
    "target": "deals",
    "fields": {
        "external_id": {"column": "Deal ID"},
        "title": {"template": "{First} {Last}"},
        "owner": "First",  # shorthand for {"column": ...}; one column feeds two fields
        "stage": {"column": "Status", "values": {"Closed Won": "won", "closed  lost": "lost"}},
        "engaged_at": {"column": "Created", "date_format": "%d-%m-%Y"},
        "created_at": {
            "column": "Stamp",
            "date_format": "%d/%m/%Y %H:%M",
            "timezone": "Europe/Paris",
        },
        "amount": {"column": "Value", "decimal_separator": ","},
        "source": {"constant": "trade fair"},
        "custom.region": {"column": "Region", "default": "none"},
        "custom.tags": {"column": "Tags", "type": "list", "separator": "|"},
    },
    "currency": "EUR",
    "timezone": "UTC",
}


def test_json_round_trip() -> None:
    mapping = Mapping.from_json(FULL)
    again = Mapping.from_json(json.loads(json.dumps(mapping.to_json())))
    assert again == mapping
    assert again.fields["owner"] == FieldRule(column="First")
    assert again.columns() == {
        "Deal ID", "First", "Last", "Status", "Created", "Stamp", "Value", "Region", "Tags",
    }  # fmt: skip


def test_a_row_becomes_typed_values() -> None:
    result = mapped(
        FULL, "D-1", "Ann", "Lee", "CLOSED   WON", "26-02-2018", "26/02/2018 19:58",
        "1.234,50", "", "a | b|",
    )  # fmt: skip
    assert result.ok and result.issues == []
    assert result.values == {
        "external_id": "D-1",
        "title": "Ann Lee",
        "owner": "Ann",
        "stage": "won",
        "engaged_at": date(2018, 2, 26),
        "created_at": datetime(2018, 2, 26, 18, 58, tzinfo=UTC),  # Paris is UTC+1 in winter
        "amount": Decimal("1234.50"),
        "source": "trade fair",
        "custom.region": "none",
        "custom.tags": ["a", "b"],
        "currency": "EUR",  # the mapping's default currency
    }


def test_template_with_a_blank_part_and_all_blank() -> None:
    mapping = {"target": "contacts", "fields": {"first_name": {"template": "{First} {Last}"}}}
    assert mapped(mapping, *[""] * 1, "", "Lee", *[""] * 6).values == {"first_name": "Lee"}
    blank = mapped(mapping, *[""] * 9)
    assert not blank.ok
    (issue,) = blank.issues
    assert (issue.code, issue.field, issue.column) == ("required", "first_name", "{First} {Last}")
    assert issue.describe() == "first_name: must not be empty (column '{First} {Last}')"


def test_bad_values_name_row_column_value_and_reason() -> None:
    mapping = {
        "target": "deals",
        "fields": {
            "stage": {"constant": "won"},
            "engaged_at": {"column": "Created", "date_format": "%d-%m-%Y"},
            "amount": {"column": "Value"},
            "close_date": {"column": "Stamp"},
        },
    }
    result = mapped(mapping, "", "", "", "", "26.02.2018", "01/02/2018", "lots", "", "")
    assert not result.ok
    found = {(i.row, i.field, i.column, i.value, i.code) for i in result.issues}
    assert found == {
        (2, "engaged_at", "Created", "26.02.2018", "bad_value"),
        (2, "amount", "Value", "lots", "bad_value"),
        (2, "close_date", "Stamp", "01/02/2018", "bad_value"),
    }
    messages = sorted(issue.describe() for issue in result.issues)
    assert messages == [
        "Created: '26.02.2018' does not match the date format %d-%m-%Y",
        "Stamp: '01/02/2018' is not an ISO 8601 date",
        "Value: 'lots' is not a number",
    ]


def test_currency_marks_fill_a_blank_currency_and_conflicts_warn() -> None:
    mapping = {
        "target": "deals",
        "fields": {"stage": {"constant": "won"}, "amount": "Value", "currency": "Region"},
        "currency": "USD",
    }
    euro = mapped(mapping, *[""] * 6, "€1.200,00", "", "")
    assert euro.values["amount"] == Decimal("1200.00") and euro.values["currency"] == "EUR"
    plain = mapped(mapping, *[""] * 6, "(1,200.00)", "", "")
    assert plain.values["amount"] == Decimal("-1200.00") and plain.values["currency"] == "USD"
    conflict = mapped(mapping, *[""] * 6, "£5", "eur", "")
    assert conflict.ok and conflict.values["currency"] == "EUR"
    assert conflict.issues[0].code == "currency_conflict"


def test_every_field_type_reads_its_values() -> None:
    header = ("v",)

    def one(target: str, field: str, text: str, **rule: str) -> Any:
        required = {name: {"constant": "note"} for name in TARGETS[target].required}
        fields = {**required, field: {"column": "v", **rule}}
        mapping = Mapping.from_json({"target": target, "fields": fields})
        result = RowMapper(mapping, header).map(Row(2, (text,)))
        return result.values.get(field) if result.ok else result.issues[0].reason

    assert one("companies", "size", "1,200") == 1200
    assert one("companies", "size", "12.5") == "is not a whole number"
    assert one("companies", "size", "1.200", decimal_separator=",") == 1200
    assert one("deals", "amount", "1.200", decimal_separator=",") == Decimal(1200)
    assert one("deals", "amount", "1 234,5", decimal_separator=",") == Decimal("1234.5")
    assert one("deals", "amount", "1.234,50") == Decimal("1234.50")  # judged per value
    assert one("deals", "amount", "12,5") == Decimal("12.5")
    assert one("deals", "amount", "1,234.50-") == Decimal("-1234.50")
    assert one("deals", "amount", "1,23,4") == "is not a number"
    assert one("companies", "domain", "https://www.Globex.com/about") == "globex.com"
    assert one("companies", "website", "globex.com") == "globex.com"
    assert one("companies", "website", "not a site") == "is not a web address"
    assert one("contacts", "email", "Ann Lee <Ann@Example.COM>") == "ann@example.com"
    assert one("contacts", "email", "ann@") == "is not an email address"
    assert one("contacts", "phones", "+1 555 0100; +44 20 7946 0000") == [
        "+1 555 0100",
        "+44 20 7946 0000",
    ]
    assert one("contacts", "lifecycle_stage", "Customer") == "customer"
    assert (
        one("contacts", "lifecycle_stage", "vip")
        == "is not one of lead, prospect, customer, churned"
    )
    assert one("tasks", "status", "In Progress") == "in_progress"
    assert one("tasks", "due_at", "2018-02-26T10:00:00+02:00") == datetime(
        2018, 2, 26, 8, tzinfo=UTC
    )
    assert one("interactions", "duration_seconds", "1 800") == 1800
    assert one("deals", "currency", "usd") == "USD"
    assert (
        one("deals", "currency", "dollars")
        == "is not a currency code (ISO 4217, such as USD or EUR)"
    )
    assert one("deals", "close_date", "2018-02-26 19:58:54") == date(2018, 2, 26)
    assert one("deals", "custom.flag", "yes", type="boolean") is True
    assert one("deals", "custom.code", "007") == "007"
    assert one("deals", "custom.count", "42") == 42
    assert one("deals", "custom.ratio", "0.5") == 0.5
    assert one("deals", "amount", "1e999") == "is too large a number (more than 30 digits)"


def test_rows_the_reader_rejected_are_not_mapped() -> None:
    text = b"name,size\nok,1\nbad,2,extra\n"
    with open_table(io.BytesIO(text)) as table:
        mapper = RowMapper(
            Mapping.from_json({"target": "companies", "fields": {"name": "name", "size": "size"}}),
            table.header,
        )
        results = [mapper.map(r) for r in table.rows()]
    assert results[0].values == {"name": "ok", "size": 1}
    assert results[1].values == {} and results[1].issues[0].code == "too_many_fields"


@pytest.mark.parametrize(
    ("data", "path", "words"),
    [
        ([], "mapping", "JSON object"),
        ({"target": "planets", "fields": {}}, "target", "not one of"),
        ({"target": "deals", "fields": {}}, "fields", "object mapping"),
        ({"target": "deals", "fields": {"stage": "S"}, "colour": 1}, "colour", "unknown key"),
        ({"target": "deals", "fields": {"stage": "S", "nope": "x"}}, "fields.nope",
         "no such field"),
        ({"target": "deals", "fields": {"title": "T"}}, "fields.stage", "deals need it"),
        ({"target": "deals", "fields": {"stage": {}}}, "fields.stage", "give one of"),
        ({"target": "deals", "fields": {"stage": {"column": "a", "constant": "b"}}},
         "fields.stage", "only one"),
        ({"target": "deals", "fields": {"stage": {"column": "S", "colour": "x"}}},
         "fields.stage.colour", "unknown key"),
        ({"target": "deals", "fields": {"stage": 5}}, "fields.stage", "rule object"),
        ({"target": "deals", "fields": {"stage": "S", "title": {"template": "{A"}}},
         "fields.title.template", "not closed"),
        ({"target": "deals", "fields": {"stage": "S", "title": {"template": "no columns"}}},
         "fields.title.template", "names no column"),
        ({"target": "deals", "fields": {"stage": "S", "engaged_at": {"column": "E",
          "date_format": "dd-mm-yyyy"}}}, "fields.engaged_at.date_format", "no % directive"),
        ({"target": "deals", "fields": {"stage": "S", "title": {"column": "T",
          "date_format": "%d"}}}, "fields.title.date_format", "only for date fields"),
        ({"target": "deals", "fields": {"stage": "S", "created_at": {"column": "C",
          "timezone": "Mars/Olympus"}}}, "fields.created_at.timezone", "unknown time zone"),
        ({"target": "deals", "fields": {"stage": "S"}, "currency": "euro"}, "currency", "ISO 4217"),
        ({"target": "deals", "fields": {"stage": "S"}, "timezone": "Nowhere"}, "timezone",
         "unknown"),
        ({"target": "deals", "fields": {"stage": "S", "amount": {"constant": "lots"}}},
         "fields.amount.constant", "not a number"),
        ({"target": "contacts", "fields": {"first_name": "F", "lifecycle_stage": {"column": "L",
          "values": {"VIP": "vip"}}}}, "fields.lifecycle_stage.values.VIP", "not one of"),
        ({"target": "deals", "fields": {"stage": "S", "title": {"column": "T", "type": "integer"}}},
         "fields.title.type", "only custom fields"),
        ({"target": "deals", "fields": {"stage": "S", "custom.x": {"column": "X", "type": "blob"}}},
         "fields.custom.x.type", "one of"),
        ({"target": "deals", "fields": {"stage": "S", "custom.bad.key": "X"}},
         "fields.custom.bad.key", "no such field"),
        ({"target": "deals", "fields": {"stage": "S", "amount": {"column": "A",
          "decimal_separator": ";"}}}, "fields.amount.decimal_separator", "either"),
        ({"target": "deals", "fields": {"stage": {"column": "S", "values": ["won"]}}},
         "fields.stage.values", "must map texts"),
    ],
)  # fmt: skip
def test_invalid_mappings_name_the_offending_place(data: Any, path: str, words: str) -> None:
    with pytest.raises(MappingError) as raised:
        Mapping.from_json(data)
    problems = {problem.path: problem.message for problem in raised.value.problems}
    assert path in problems, problems
    assert words in problems[path]
    assert raised.value.code == "BAD_MAPPING" and raised.value.field
    assert raised.value.as_dict()["problems"]


def test_all_problems_are_reported_at_once() -> None:
    data = {"target": "deals", "fields": {"nope": "x", "amount": {"constant": "?"}}}
    with pytest.raises(MappingError) as raised:
        Mapping.from_json(data)
    assert {p.path for p in raised.value.problems} == {
        "fields.nope",
        "fields.amount.constant",
        "fields.stage",
    }


def test_columns_missing_from_the_file_are_named_with_a_hint() -> None:
    mapping = Mapping.from_json({"target": "deals", "fields": {"stage": "Stauts", "title": "T"}})
    with pytest.raises(MappingError) as raised:
        RowMapper(mapping, HEADER)
    messages = {p.path: p.message for p in raised.value.problems}
    assert (
        messages["fields.stage.column"]
        == "the file has no column 'Stauts' (did you mean 'Status'?)"
    )
    assert "fields.title.column" in messages


def test_template_syntax() -> None:
    assert parse_template("{First Name} {{x}} {Last}") == ["First Name", " {x} ", "Last"]
    with pytest.raises(ValueError, match="closes nothing"):
        parse_template("a}b {c}")
    with pytest.raises(ValueError, match="empty"):
        parse_template("{ }")


def test_the_readme_example_and_field_lists_are_current() -> None:
    readme = (REPO_ROOT / "libs/crm_tabular/README.md").read_text()
    example = readme.split("```json\n", 1)[1].split("```", 1)[0]
    mapping = Mapping.from_json(json.loads(example))
    assert mapping.fields["owner"] == FieldRule(column="Sales Rep")
    assert mapping.columns() >= {"Deal ID", "Product", "Account", "Sales Rep", "Logged"}
    for target in TARGETS.values():
        listed = readme.split(f"- **{target.name}**", 1)[1].split("\n- **", 1)[0]
        for field in target.fields:
            assert f"`{field.name}`" in listed, (target.name, field.name)


def test_companies_are_identified_by_name_when_no_domain_is_mapped_unless_told() -> None:
    no_domain = Mapping.from_json({"target": "companies", "fields": {"name": "Account"}})
    assert no_domain.companies_by_name and no_domain.identity == ("external_id", "domain", "name")
    with_domain = {"target": "companies", "fields": {"name": "Account", "domain": "Web"}}
    assert not Mapping.from_json(with_domain).companies_by_name
    told = Mapping.from_json({**with_domain, "match_by_name": True})
    assert told.companies_by_name and Mapping.from_json(told.to_json()) == told
    off = Mapping.from_json({**no_domain.to_json(), "match_by_name": False})
    assert not off.companies_by_name and off.identity == ("external_id", "domain")
    contacts = {"target": "contacts", "fields": {"first_name": "F"}}
    assert not Mapping.from_json(contacts).companies_by_name
    for wrong in ({**contacts, "match_by_name": True}, {**no_domain.to_json(), "match_by_name": 1}):
        with pytest.raises(MappingError) as refused:
            Mapping.from_json(wrong)
        assert [p.path for p in refused.value.problems] == ["match_by_name"]
