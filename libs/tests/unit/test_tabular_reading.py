"""crm_tabular's reader on the committed odd files (tests/fixtures/tabular) and on files
made here: encodings, delimiters, quoting, malformed rows, headers, empty and binary
files, XLSX. Every problem is a typed error or a row issue, never a traceback."""

from __future__ import annotations

import codecs
import io
import zipfile
from datetime import date, datetime
from pathlib import Path

import pytest
from openpyxl import Workbook

from crm_kit.paths import REPO_ROOT
from crm_tabular import (
    EmptyFileError,
    MalformedFileError,
    NoDataRowsError,
    NotTabularError,
    OptionError,
    Row,
    Severity,
    TabularError,
    open_table,
    xlsx_table,
)
from crm_tabular.csv_table import MAX_LINE_CHARS
from crm_tabular.encoding import PREFIX_BYTES, detect_encoding

FIXTURES = REPO_ROOT / "tests/fixtures/tabular"
COMPANY_HEADER = ("account", "sector", "employees", "office_location")


def read(path: Path | str, **options: str) -> tuple[dict[str, object], list[Row]]:
    with open_table(path, **options) as table:
        rows = list(table.rows())
        facts = {
            "format": table.format,
            "encoding": table.encoding,
            "delimiter": table.delimiter,
            "header": table.header,
            "header_issues": table.header_issues,
            "blank_rows": table.blank_rows,
        }
    return facts, rows


@pytest.mark.parametrize(
    ("name", "encoding", "delimiter", "first"),
    [
        ("latin1.csv", "cp1252", ",", "Café Crème"),
        ("cp1252_smart_quotes.csv", "cp1252", ",", "\u201cQuoted\u201d Co"),
        ("utf8_bom.csv", "utf-8", ",", "Ærø Shipping"),
        ("utf16le_bom.tsv", "utf-16-le", "\t", "Łódź Tech"),
        ("utf16be_bom.csv", "utf-16-be", ",", "Åland Fish"),
        ("utf16le_no_bom.csv", "utf-16-le", ",", "NoMark Ltd"),
        ("tab.tsv", "utf-8", "\t", "Initech"),
        ("pipe.csv", "utf-8", "|", "Umbrella"),
        ("crlf.csv", "utf-8", ",", "Stark Industries"),
    ],
)
def test_encodings_and_delimiters_are_detected(
    name: str, encoding: str, delimiter: str, first: str
) -> None:
    facts, rows = read(FIXTURES / name)
    assert (facts["encoding"], facts["delimiter"]) == (encoding, delimiter)
    assert facts["header"] == COMPANY_HEADER  # no BOM left on the first name
    assert rows[0].values[0] == first
    assert rows[0].number == 2
    assert all(not row.issues for row in rows)
    # No line end is left inside a value (CRLF files included).
    assert not any("\r" in value for row in rows for value in row.values)


def test_latin1_and_cp1252_text_reads_right() -> None:
    _, rows = read(FIXTURES / "latin1.csv")
    assert [row.values[0] for row in rows] == ["Café Crème", "Müller Söhne", "Société Générale"]
    _, rows = read(FIXTURES / "cp1252_smart_quotes.csv")
    assert [row.values[0] for row in rows] == [
        "\u201cQuoted\u201d Co",
        "O\u2019Brien & Sons",
        "Dash \u2013 Ltd\u2026",
    ]


def test_semicolon_file_with_commas_in_values() -> None:
    facts, rows = read(FIXTURES / "semicolon.csv")
    assert facts["delimiter"] == ";"
    assert rows[0].values == ("Acme, Inc.", "technology", "1.200", "1.234,50", "26.02.2018")


def test_quoted_newlines_commas_and_doubled_quotes() -> None:
    _, rows = read(FIXTURES / "quoted_newlines.csv")
    assert [row.number for row in rows] == [2, 3, 4]  # records, not physical lines
    assert rows[0].values == ("Multi\nLine Ltd", "retail", "10", "United\nKingdom")
    assert rows[1].values[0] == "Comma, Inc." and rows[1].values[2] == "1,234"
    assert rows[2].values[0] == 'Quote "Q" Co'


def test_sniffing_ignores_delimiters_inside_quotes() -> None:
    text = 'name,notes\n"a;b;c;d",x\n"e;f;g;h",y\n"i;j;k;l",z\n'
    facts, rows = read(io.BytesIO(text.encode()))  # type: ignore[arg-type]
    assert facts["delimiter"] == ","
    assert rows[0].values == ("a;b;c;d", "x")


def test_explicit_delimiter_and_encoding_override_detection() -> None:
    text = "a|b\n1;2|3\n".encode("latin-1")
    facts, rows = read(io.BytesIO(text), delimiter=";", encoding="latin-1")  # type: ignore[arg-type]
    assert facts["delimiter"] == ";" and facts["encoding"] == "iso8859-1"
    assert facts["header"] == ("a|b",)
    assert rows[0].issues[0].code == "too_many_fields"
    facts, _ = read(FIXTURES / "tab.tsv", delimiter="tab")
    assert facts["delimiter"] == "\t"


@pytest.mark.parametrize(
    "options",
    [{"delimiter": ";;"}, {"delimiter": '"'}, {"delimiter": "a"}, {"encoding": "klingon-8"}],
)
def test_bad_options_are_refused(options: dict[str, str]) -> None:
    with pytest.raises(OptionError):
        open_table(FIXTURES / "crlf.csv", **options)


def test_trailing_comma_is_a_warning_and_the_row_is_kept() -> None:
    _, rows = read(FIXTURES / "trailing_comma.csv")
    assert [row.values[0] for row in rows] == ["Vandelay", "Kramerica", "Pendant Publishing"]
    issue = rows[0].issues[0]
    assert (issue.row, issue.code, issue.severity) == (2, "extra_empty_fields", Severity.WARNING)
    assert not rows[0].has_errors and not rows[2].issues


def test_too_many_and_too_few_fields_name_row_and_column() -> None:
    _, rows = read(FIXTURES / "malformed_rows.csv")
    assert [row.has_errors for row in rows] == [False, True, True, False]
    too_many = rows[1].issues[0]
    assert (too_many.row, too_many.code, too_many.column, too_many.value) == (
        3, "too_many_fields", "column 5", "surplus",
    )  # fmt: skip
    assert "header's 4 columns" in too_many.reason
    too_few = rows[2].issues[0]
    assert (too_few.row, too_few.code, too_few.column) == (4, "too_few_fields", "employees")
    assert "2 fields" in too_few.describe()
    assert rows[3].values == ("Good Two", "retail", "20", "Spain")  # reading went on


def test_duplicated_header_keeps_both_columns_with_a_warning() -> None:
    facts, rows = read(FIXTURES / "duplicate_header.csv")
    assert facts["header"] == ("account", "sector", "account (2)", "employees")
    (issue,) = facts["header_issues"]  # type: ignore[misc]
    assert issue.code == "duplicate_header" and issue.row == 1
    assert "column 3 repeats the name of column 1" in issue.reason
    assert rows[0].values[0] == "First Name Co" and rows[0].values[2] == "Second Name Co"


def test_unnamed_and_case_variant_header_columns() -> None:
    facts, _ = read(io.BytesIO(b"Email,,email\n1,2,3\n"))  # type: ignore[arg-type]
    assert facts["header"] == ("Email", "column 2", "email (2)")
    codes = [issue.code for issue in facts["header_issues"]]  # type: ignore[attr-defined]
    assert codes == ["unnamed_column", "duplicate_header"]


@pytest.mark.parametrize(
    ("name", "error"),
    [
        ("empty.csv", EmptyFileError),
        ("blank_lines.csv", EmptyFileError),
        ("header_only.csv", NoDataRowsError),
        ("not_a_table.bin", NotTabularError),
        ("image.png", NotTabularError),
    ],
)
def test_files_without_rows_get_a_typed_error(name: str, error: type[TabularError]) -> None:
    with pytest.raises(error) as raised:
        open_table(FIXTURES / name)
    assert raised.value.message and raised.value.code


def test_header_only_error_names_the_header_row() -> None:
    with pytest.raises(NoDataRowsError) as raised:
        open_table(io.BytesIO(b"\n\na,b\n\n"))
    assert raised.value.row == 3


def test_missing_file_and_other_binary_formats() -> None:
    with pytest.raises(TabularError, match="no such file"):
        open_table(FIXTURES / "nope.csv")
    with pytest.raises(NotTabularError, match="old Excel"):
        open_table(io.BytesIO(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(100)))
    with pytest.raises(NotTabularError, match="not a readable XLSX"):
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr("hello.txt", "not a workbook")
        open_table(io.BytesIO(buffer.getvalue()))


def test_blank_rows_are_counted_and_skipped() -> None:
    facts, rows = read(io.BytesIO(b"a,b\n1,2\n\n,\n  , \n3,4\n"))  # type: ignore[arg-type]
    assert [row.number for row in rows] == [2, 6]
    assert facts["blank_rows"] == 3


def test_a_line_without_end_is_refused_not_swallowed() -> None:
    text = b"a,b\n1,2\n3," + b"x" * (MAX_LINE_CHARS + 10) + b"\n"
    with open_table(io.BytesIO(text)) as table, pytest.raises(MalformedFileError) as raised:
        list(table.rows())
    assert "line 3 is longer" in raised.value.message


def test_an_unclosed_quote_is_reported_at_its_row() -> None:
    text = b'a,b\n1,2\n3,"unclosed\n' + b"4,5\n" * 10
    with open_table(io.BytesIO(text)) as table, pytest.raises(MalformedFileError) as raised:
        list(table.rows())
    assert raised.value.row == 3
    assert "quote opened on line 3 is never closed" in raised.value.message
    field_limit = b'a,b\n1,2\n3,"' + (b"x" * 1000 + b"\n") * 200
    with open_table(io.BytesIO(field_limit)) as table, pytest.raises(MalformedFileError) as raised:
        list(table.rows())
    assert raised.value.row == 3 and "not closed" in raised.value.message


def test_bytes_past_the_detection_prefix_that_do_not_decode_are_row_errors() -> None:
    head = b"name,city\n" + b"plain,ascii\n" * (PREFIX_BYTES // 12 + 10)
    text = head + "Café,Orléans\n".encode("latin-1") + b"after,row\n"
    _, rows = read(io.BytesIO(text))  # type: ignore[arg-type]
    bad = [row for row in rows if row.has_errors]
    assert len(bad) == 1
    issue = bad[0].issues[0]
    assert (issue.code, issue.column) == ("undecodable", "name")
    assert "not utf-8" in issue.reason and issue.row == bad[0].number
    assert rows[-1].values == ("after", "row")


def test_encoding_detection_rules() -> None:
    assert detect_encoding(b"plain ascii,1\n", complete=True).name == "utf-8"
    assert detect_encoding(codecs.BOM_UTF8 + b"a\n", complete=True).codec == "utf-8-sig"
    assert detect_encoding("ü,é\n".encode(), complete=True).name == "utf-8"
    assert detect_encoding("Grüße,Köln\n".encode("latin-1"), complete=True).name == "cp1252"
    # A byte cp1252 leaves undefined: Latin-1.
    assert detect_encoding(b"caf\xe9,\x81x\n", complete=True).name == "latin-1"
    # Cyrillic stays Cyrillic (not forced to a Western code page).
    cyrillic = ("имя,город\n" + "Иван,Москва\nПётр,Санкт-Петербург\n" * 5).encode("cp1251")  # noqa: RUF001
    assert detect_encoding(cyrillic, complete=True).name == "cp1251"
    # A multi-byte character cut at the prefix's end is still UTF-8.
    assert detect_encoding("aé".encode()[:-1], complete=False).name == "utf-8"
    with pytest.raises(NotTabularError, match="UTF-32"):
        detect_encoding(codecs.BOM_UTF32_LE + "a".encode("utf-32-le"), complete=True)


def test_reads_from_a_binary_buffer_and_reports_progress(tmp_path: Path) -> None:
    path = tmp_path / "progress.csv"
    path.write_text("a,b\n" + "1,2\n" * 50_000)
    with open_table(path) as table:
        assert table.fraction_read() is not None
        for count, _ in enumerate(table.rows(), start=1):
            if count == 25_000:
                halfway = table.fraction_read()
        assert halfway is not None and 0.3 < halfway < 0.7
        assert table.fraction_read() == 1.0
        assert table.rows_read == 50_000


# -- XLSX --------------------------------------------------------------------------------


def _workbook(path: Path) -> Path:
    book = Workbook()
    sheet = book.active
    sheet.title = "Notes"
    sheet.append(["just a cover sheet"])
    deals = book.create_sheet("Deals")
    deals.append(["id", "amount", "closed", "stamp", "won", "note", None])
    deals.append([1, 1200.5, date(2018, 2, 26), datetime(2018, 2, 26, 19, 58, 54), True, "a"])
    deals.append([])
    deals.append([2, 3.0, None, None, False, None])
    deals.append([3, 0.1 + 0.2, None, None, None, "x", "beyond the header"])
    book.save(path)
    return path


def test_xlsx_rows_as_text_with_types_kept_readable(tmp_path: Path) -> None:
    path = _workbook(tmp_path / "deals.xlsx")
    facts, rows = read(path, sheet="Deals")
    assert facts["format"] == "xlsx" and facts["encoding"] is None
    assert facts["header"] == ("id", "amount", "closed", "stamp", "won", "note")
    assert [row.number for row in rows] == [2, 4, 5]  # the blank row 3 is skipped
    assert rows[0].values == ("1", "1200.5", "2018-02-26", "2018-02-26 19:58:54", "true", "a")
    assert rows[1].values == ("2", "3", "", "", "false", "")  # short row padded, no issue
    assert not rows[1].issues
    assert rows[2].values[1] == "0.3"
    assert rows[2].issues[0].code == "too_many_fields"
    assert rows[2].issues[0].value == "beyond the header"


def test_xlsx_first_sheet_holding_a_table_by_default_and_unknown_sheet(tmp_path: Path) -> None:
    path = _workbook(tmp_path / "deals.xlsx")
    with open_table(path) as table:  # "Notes", where the workbook opens, has no rows
        assert (table.sheet, table.header[0]) == ("Deals", "id")
    with pytest.raises(NoDataRowsError):
        open_table(path, sheet="Notes")  # asked for: read, not passed over
    wordy = Workbook()
    wordy.active.append(["Companies report"])
    wordy.active.append(["Exported for the migration"])  # a one-column "table"
    wordy.create_sheet("Data").append(["name", "domain"])
    wordy["Data"].append(["Acme", "acme.com"])
    wordy.save(tmp_path / "wordy.xlsx")
    with open_table(tmp_path / "wordy.xlsx") as table:
        assert (table.sheet, table.header) == ("Data", ("name", "domain"))
    covers = Workbook()
    covers.active.append(["cover"])
    covers.create_sheet("Empty")
    covers.save(tmp_path / "covers.xlsx")
    with pytest.raises(NoDataRowsError, match="no sheet of the workbook holds a table"):
        open_table(tmp_path / "covers.xlsx")
    with pytest.raises(OptionError, match="no sheet 'Nope'"):
        open_table(path, sheet="Nope")
    with open(path, "rb") as handle:
        table = open_table(io.BytesIO(handle.read()), sheet="Deals")
    with table:
        assert table.sheet == "Deals"
        assert len(list(table.rows())) == 3


def test_xlsx_leading_blank_rows(tmp_path: Path) -> None:
    book = Workbook()
    sheet = book.active
    sheet["B3"] = "name"
    sheet["B4"] = "Acme"
    book.save(tmp_path / "offset.xlsx")
    facts, rows = read(tmp_path / "offset.xlsx")
    assert facts["header"] == ("column 1", "name")
    assert rows[0].number == 4 and rows[0].values == ("", "Acme")


def test_xlsx_shared_strings_are_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _workbook(tmp_path / "deals.xlsx")
    with zipfile.ZipFile(path, "a") as archive:  # openpyxl writes strings inline: add one
        archive.writestr("xl/sharedStrings.xml", "<sst>" + "<si><t>x</t></si>" * 100 + "</sst>")
    assert len(list(read(path, sheet="Deals")[1])) == 3
    monkeypatch.setattr(xlsx_table, "MAX_SHARED_STRINGS", 1000)
    with pytest.raises(NotTabularError, match="shared strings take 0 MiB unpacked"):
        open_table(path, sheet="Deals")


def test_title_rows_above_the_header_are_skipped() -> None:
    text = (
        b"Opportunities report\r\nExported 2024-05-01,,,\r\n\r\n"
        b"Deal ID,Name,Amount,Stage\r\nD-1,Big,10,won\r\n"
    )
    with open_table(io.BytesIO(text)) as table:
        assert table.title_rows == (1, 2)
        assert (table.header_row, table.header) == (4, ("Deal ID", "Name", "Amount", "Stage"))
        assert [row.values for row in table.rows()] == [("D-1", "Big", "10", "won")]


def test_a_one_column_file_keeps_its_header() -> None:
    with open_table(io.BytesIO(b"email\nann@acme.com\nbob@acme.com\n")) as table:
        assert (table.title_rows, table.header) == ((), ("email",))
        assert len(list(table.rows())) == 2


def test_a_report_footer_is_refused_by_name_and_sparse_data_is_data() -> None:
    text = (
        b'"Account Name","Industry","Employees","Country"\r\n"Acme","Retail","120","US"\r\n'
        b'"Initech","","","US"\r\n\r\n"Grand Totals (2 records)"\r\n\r\n'
        b'"Generated By:","Admin User","1/2/2024 10:00 AM"\r\n'
        b'"Confidential Information - Do Not Distribute"\r\n'
    )
    with open_table(io.BytesIO(text)) as table:
        rows = list(table.rows())
    assert [(row.number, [i.code for i in row.issues]) for row in rows] == [
        (2, []),
        (3, []),
        (5, ["footer_row"]),
        (7, ["footer_row"]),
        (8, ["footer_row"]),
    ]
    assert rows[2].issues[0].value == "Grand Totals (2 records)"
    # The same sparse rows with data after them are data; a last record filling one
    # cell right under the others is data too.
    middle = b"a,b,c\n1,2,3\n\nonly a name,,\n4,5,6\nlast,,\n"
    with open_table(io.BytesIO(middle)) as table:
        assert [(row.number, row.issues) for row in table.rows()] == [
            (2, ()),
            (4, ()),
            (5, ()),
            (6, ()),
        ]
