"""The preview: how a file was read, its first rows, each column's inferred type and date
formats (ambiguity reported), and a suggested mapping per target."""

from __future__ import annotations

import io
import json
from datetime import date
from pathlib import Path

import pytest

from crm_kit.paths import REPO_ROOT
from crm_tabular import (
    TARGETS,
    ColumnProfile,
    Mapping,
    MappingError,
    OptionError,
    RowMapper,
    dates,
    open_table,
    preview_file,
)
from crm_tabular.infer import profile_columns
from crm_tabular.table import Row

FIXTURES = REPO_ROOT / "tests/fixtures/tabular"


def profile(*columns: tuple[str, list[str]]) -> dict[str, ColumnProfile]:
    header = [name for name, _ in columns]
    height = max(len(values) for _, values in columns)
    rows = [
        Row(n + 2, tuple(values[n] if n < len(values) else "" for _, values in columns))
        for n in range(height)
    ]
    return {p.name: p for p in profile_columns(header, rows)}


def test_column_types() -> None:
    found = profile(
        ("int", ["1", "2,500", "-3"]),
        ("dec", ["1.5", "2", "3.25"]),
        ("amount", ["$1,200.00", "€5", "USD 7"]),
        ("bool", ["yes", "No", "TRUE"]),
        ("bits", ["0", "1", "1"]),
        ("zip", ["02134", "10001", "94105"]),
        ("email", ["a@x.com", "B@Y.ORG"]),
        ("url", ["https://acme.com", "www.globex.com/about"]),
        ("phone", ["+1 (555) 010-0100", "+44 20 7946 0000"]),
        ("day", ["2018-02-26", "2017-12-31"]),
        ("moment", ["2018-02-26 19:58:54", "2018-02-26T08:00:00Z"]),
        ("text", ["Acme", "42"]),
        ("empty", ["", " "]),
    )
    types = {name: str(p.type) for name, p in found.items()}
    assert types == {
        "int": "integer", "dec": "decimal", "amount": "amount", "bool": "boolean",
        "bits": "integer", "zip": "text", "email": "email", "url": "url", "phone": "phone",
        "day": "date", "moment": "datetime", "text": "text", "empty": "empty",
    }  # fmt: skip
    assert found["amount"].currencies == ["EUR", "USD"]
    assert found["empty"].blank == 3 and found["text"].examples == ["Acme", "42"]


def test_date_formats_and_their_ambiguity() -> None:
    found = profile(
        ("either", ["01-02-2018", "03-04-2018"]),
        ("day_first", ["01-02-2018", "26-02-2018"]),
        ("us", ["02/26/2018", "1/2/2018"]),
        ("same_day", ["05-05-2018"]),
        ("named", ["26 Feb 2018", "1 Mar 2017"]),
        ("stamp", ["26/02/2018 19:58", "01/03/2017 08:00"]),
    )
    either = found["either"]
    assert either.date_formats == ["%d-%m-%Y", "%m-%d-%Y"] and either.ambiguous_dates
    assert found["day_first"].date_formats == ["%d-%m-%Y"]
    assert found["us"].date_formats == ["%m/%d/%Y"]
    # Both formats fit and read the same date: not ambiguous.
    same = found["same_day"]
    assert len(same.date_formats) == 2 and not same.ambiguous_dates
    assert found["named"].date_formats == ["%d %b %Y"]
    assert str(found["stamp"].type) == "datetime"
    assert found["stamp"].date_formats == ["%d/%m/%Y %H:%M"]


def test_preview_of_a_file_reports_how_it_was_read() -> None:
    preview = preview_file(FIXTURES / "semicolon.csv", target="companies", rows=1)
    assert (preview.format, preview.encoding, preview.delimiter) == ("csv", "utf-8", ";")
    assert preview.header == ["account", "sector", "employees", "revenue", "founded"]
    assert [row.number for row in preview.rows] == [2]
    assert preview.sampled_rows == 2 and not preview.more_rows
    columns = {c.name: c for c in preview.columns}
    assert str(columns["employees"].type) == "integer"  # `1.200` beside `99,90`: 1200
    assert columns["revenue"].decimal_separator == ","
    assert columns["founded"].date_formats == ["%d.%m.%Y"]
    assert preview.suggested is not None
    assert preview.suggested.to_json()["fields"] == {
        "name": {"column": "account"},
        "industry": {"column": "sector"},
        "size": {"column": "employees", "decimal_separator": ","},
    }
    assert preview.unmapped == ["revenue", "founded"]
    # The suggestion maps the file it came from.
    with open_table(FIXTURES / "semicolon.csv") as table:
        mapper = RowMapper(preview.suggested, table.header)
        sizes = [mapper.map(row).values["size"] for row in table.rows()]
    assert sizes == [1200, 85]
    json.dumps(preview.as_dict())  # JSON all the way down


def test_ambiguous_dates_are_a_note_and_left_unset() -> None:
    data = b"Deal,Status,Engage Date\nD1,won,01-02-2018\nD2,lost,03-04-2018\n"
    preview = preview_file(io.BytesIO(data), target="deals")  # type: ignore[arg-type]
    assert preview.suggested is not None
    assert preview.suggested.fields["engaged_at"].date_format is None
    assert any("'Engage Date'" in note and "%m-%d-%Y" in note for note in preview.notes)


def test_sample_is_bounded(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    path.write_text("a\n" + "1\n" * 5000)
    preview = preview_file(path, sample=100, rows=3)
    assert preview.sampled_rows == 100 and preview.more_rows and len(preview.rows) == 3


def test_malformed_rows_show_as_issues_and_do_not_skew_types() -> None:
    preview = preview_file(FIXTURES / "malformed_rows.csv")
    assert [issue.code for issue in preview.issues] == ["too_many_fields", "too_few_fields"]
    assert str({c.name: c for c in preview.columns}["employees"].type) == "integer"


@pytest.mark.parametrize(
    ("target", "header", "expected"),
    [
        ("companies", "Company Name,Website,Employees,Zip,Country,Created Date",
         {"name": "Company Name", "website": "Website", "size": "Employees",
          "address.postal_code": "Zip", "address.country": "Country",
          "created_at": "Created Date"}),
        ("contacts", "First Name,Last Name,E-mail,Phone Number,Job Title,Company,Lifecycle Stage",
         {"first_name": "First Name", "last_name": "Last Name", "email": "E-mail",
          "phones": "Phone Number", "title": "Job Title", "company": "Company",
          "lifecycle_stage": "Lifecycle Stage"}),
        ("deals", "Opportunity ID,Deal Name,Deal Owner,Deal Stage,Close Date,Amount,Currency",
         {"external_id": "Opportunity ID", "title": "Deal Name", "owner": "Deal Owner",
          "stage": "Deal Stage", "close_date": "Close Date", "amount": "Amount",
          "currency": "Currency"}),
        ("interactions", "Type,Date,Subject,Notes,Contact Email,Duration",
         {"kind": "Type", "occurred_at": "Date", "subject": "Subject", "summary": "Notes",
          "contact_email": "Contact Email", "duration_seconds": "Duration"}),
        ("tasks", "Task,Due Date,Priority,Assigned To,Status,Deal ID",
         {"title": "Task", "due_at": "Due Date", "priority": "Priority",
          "assignee_id": "Assigned To", "status": "Status", "deal_external_id": "Deal ID"}),
    ],
)  # fmt: skip
def test_suggested_mapping_per_target(target: str, header: str, expected: dict[str, str]) -> None:
    width = header.count(",") + 1
    data = (header + "\n" + ",".join(["x"] * width) + "\n").encode()
    preview = preview_file(io.BytesIO(data), target=target)  # type: ignore[arg-type]
    assert preview.suggested is not None
    assert {name: rule.column for name, rule in preview.suggested.fields.items()} == expected
    assert Mapping.from_json(preview.suggested.to_json()) == preview.suggested


def test_unknown_target_and_required_field_without_column() -> None:
    with pytest.raises(OptionError, match="unknown target"):
        preview_file(FIXTURES / "crlf.csv", target="planets")
    preview = preview_file(FIXTURES / "crlf.csv", target="tasks")
    # Partial: what matched is suggested, and the note says what is left to map.
    assert preview.suggested is not None and "title" not in preview.suggested.fields
    assert any("'title'" in note for note in preview.notes)
    with pytest.raises(MappingError, match=r"fields\.title"):
        Mapping.from_json(preview.suggested.to_json())
    nothing = preview_file(io.BytesIO(b"zzz,qqq\n1,2\n"), target="tasks")  # type: ignore[arg-type]
    assert nothing.suggested is None
    assert set(TARGETS) == {"companies", "contacts", "deals", "interactions", "tasks"}


def test_typed_dates_beside_dates_typed_as_text() -> None:
    """A workbook's typed dates come as ISO 8601 beside the column's own text format: the
    text decides the format, and the ISO values read under it."""
    rows = [Row(n, (value,)) for n, value in enumerate(["2024-03-01", "13/04/2024", ""], 2)]
    (column,) = profile_columns(("Close date",), rows)
    assert (column.type, column.date_formats) == ("date", ["%d/%m/%Y"])
    assert dates.parse_date("2024-03-01", "%d/%m/%Y") == date(2024, 3, 1)
    timed = [Row(2, ("2024-03-01 10:30:00",)), Row(3, ("13/04/2024 09:00",))]
    assert profile_columns(("At",), timed)[0].type == "datetime"
    invalid = [Row(2, ("2024-02-30",)), Row(3, ("13/04/2024",))]
    assert profile_columns(("Day",), invalid)[0].type not in ("date", "datetime")


@pytest.mark.parametrize(
    ("header", "row", "expected"),
    [
        ("Vorname;Nachname;E-Mail-Adresse;Telefon;Firma;Straße;PLZ;Ort",
         "Jürgen;Groß;j@gross.de;+49 30 1234567;Groß AG;Hauptstr. 1;10115;Berlin",
         {"first_name": "Vorname", "last_name": "Nachname", "email": "E-Mail-Adresse",
          "phones": "Telefon", "company": "Firma"}),
        ("Prénom;Nom;Courriel;Téléphone;Entreprise",
         "Anaïs;Lefèvre;anais@exemple.fr;+33 1 23 45 67 89;Exemple SA",
         {"first_name": "Prénom", "last_name": "Nom", "email": "Courriel",
          "phones": "Téléphone", "company": "Entreprise"}),
        # No name says what a column is: its values do (one column of addresses, one of
        # numbers dialled in groups).
        ("Nombre;Reach me at;Ring", "Lucía;lucia@ejemplo.es;+34 912 34 56 78",
         {"first_name": "Nombre", "email": "Reach me at", "phones": "Ring"}),
    ],
)  # fmt: skip
def test_columns_named_in_other_languages_or_by_their_values(
    header: str, row: str, expected: dict[str, str]
) -> None:
    data = f"{header}\n{row}\n".encode()
    preview = preview_file(io.BytesIO(data), target="contacts")  # type: ignore[arg-type]
    assert preview.suggested is not None
    found = {name: rule.column for name, rule in preview.suggested.fields.items()}
    assert {name: found.get(name) for name in expected} == expected
    assert not any("no column looks like" in note for note in preview.notes)


def test_phone_numbers_are_not_read_as_integers() -> None:
    rows = [Row(2, ("+33 1 23 45 67 89",)), Row(3, ("06 12 34 56 78",))]
    assert profile_columns(("Tel",), rows)[0].type == "phone"
    numbers = [Row(2, ("1 234 567",)), Row(3, ("12 345",))]  # thousands in threes
    assert profile_columns(("N",), numbers)[0].type == "integer"
    days = [Row(2, ("2024-01-05",)), Row(3, ("2024-11-30",))]
    assert profile_columns(("D",), days)[0].type == "date"


def test_a_semicolon_file_without_other_evidence_reads_comma_decimals() -> None:
    """Excel in a comma-decimal locale (German, French...) writes CSV with `;`: there
    `1.200` is twelve hundred; in a `,` file it stays one point two."""
    semicolon = b"Firma;Mitarbeiter\r\nM\xc3\xbcller GmbH;1.200\r\n\xc3\x96ko AG;12\r\n"
    preview = preview_file(io.BytesIO(semicolon), target="companies")  # type: ignore[arg-type]
    staff = next(c for c in preview.columns if c.name == "Mitarbeiter")
    assert (staff.type, staff.decimal_separator) == ("integer", ",")
    assert preview.suggested is not None
    assert preview.suggested.fields["size"].decimal_separator == ","
    comma = b"Company,Size\nAcme,1.200\nGlobex,12\n"
    size = next(c for c in preview_file(io.BytesIO(comma)).columns if c.name == "Size")  # type: ignore[arg-type]
    assert (size.type, size.decimal_separator) == ("decimal", ".")


def test_custom_field_columns_map_where_the_record_type_has_custom_fields() -> None:
    # An export writes `custom.<key>` columns; a JSON list in one must not break the
    # preview (it once crashed reading `["EMEA", "APAC"]` as an IPv6 web address).
    data = b'name,custom.tier,custom.regions,custom.bad.key\nAcme,gold,"[""EMEA"", ""APAC""]",x\n'
    preview = preview_file(io.BytesIO(data), target="companies")  # type: ignore[arg-type]
    assert preview.suggested is not None
    fields = {name: rule.column for name, rule in preview.suggested.fields.items()}
    assert fields == {
        "name": "name",
        "custom.tier": "custom.tier",
        "custom.regions": "custom.regions",
    }
    assert "custom.bad.key" in preview.unmapped
    # Tasks have no custom fields: such a column is left for the person, and a mapping
    # naming one is refused with the field's place.
    tasks = preview_file(io.BytesIO(b"title,custom.tier\nCall,gold\n"), target="tasks")  # type: ignore[arg-type]
    assert tasks.suggested is not None and "custom.tier" not in tasks.suggested.fields
    with pytest.raises(MappingError, match=r"fields\.custom\.tier"):
        Mapping.from_json(
            {
                "target": "tasks",
                "fields": {"title": {"column": "title"}, "custom.tier": {"column": "custom.tier"}},
            }
        )


def test_a_deals_file_maps_its_company_domain_and_primary_contact() -> None:
    # The deals owner links both (docs/imports.md); the target once refused them.
    data = (
        b"Deal,Stage,Account,Company Domain,Contact Email\nPilot,won,Acme,acme.com,ann@acme.com\n"
    )
    preview = preview_file(io.BytesIO(data), target="deals")  # type: ignore[arg-type]
    assert preview.suggested is not None
    fields = {name: rule.column for name, rule in preview.suggested.fields.items()}
    assert fields["company_domain"] == "Company Domain"
    assert fields["contact_email"] == "Contact Email"
    mapper = RowMapper(
        preview.suggested, ["Deal", "Stage", "Account", "Company Domain", "Contact Email"]
    )
    values = mapper.map(
        Row(2, ("Pilot", "won", "Acme", "https://www.Acme.com/", "Ann@Acme.com"))
    ).values
    assert (values["company_domain"], values["contact_email"]) == ("acme.com", "ann@acme.com")
