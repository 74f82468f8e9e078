"""Writing CSV and XLSX: what a writer puts in reads back through `open_table` and a
mapping onto the same typed values (the export -> import round trip), whatever the
text holds (quotes, line breaks, non-ASCII, formula starts)."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from crm_tabular import Mapping, RowMapper, open_table
from crm_tabular.write import XLSX_CELL_CHARS, CsvWriter, cell_text, safe_text, write_rows

COLUMNS = ("external_id", "title", "amount", "currency", "engaged_at", "created_at", "stage")
ROWS: list[dict[str, Any]] = [
    {
        "external_id": "D-1",
        "title": 'Müller "Großauftrag", Phase 2\nzweite Zeile',
        "amount": Decimal("1200.50"),
        "currency": "EUR",
        "engaged_at": date(2018, 2, 26),
        "created_at": datetime(2018, 2, 26, 19, 58, 54, tzinfo=UTC),
        "stage": "won",
    },
    {
        "external_id": "D-2",
        "title": '=HYPERLINK("http://evil")',
        "amount": Decimal("-12.5"),
        "currency": "USD",
        "engaged_at": None,
        "created_at": None,
        "stage": "prospecting",
    },
    {"external_id": "D-3", "title": "北京 office; +1 seat", "amount": None, "stage": "lost"},
]
MAPPING = {
    "target": "deals",
    "fields": {name: {"column": name} for name in COLUMNS},
    "currency": "USD",
}


def written(format: str) -> bytes:
    buffer = io.BytesIO()
    assert write_rows(buffer, ROWS, COLUMNS, format=format, sheet="deals") == len(ROWS)  # type: ignore[arg-type]
    return buffer.getvalue()


@pytest.mark.parametrize("format", ["csv", "xlsx"])
def test_round_trip_through_the_reader_and_a_mapping(format: str) -> None:
    with open_table(io.BytesIO(written(format))) as table:
        assert table.format == format
        assert table.header == COLUMNS
        mapper = RowMapper(Mapping.from_json(MAPPING), table.header)
        values = [mapper.map(row).values for row in table.rows()]
    assert [v["external_id"] for v in values] == ["D-1", "D-2", "D-3"]
    assert values[0]["title"] == ROWS[0]["title"]  # quotes, comma, line break, umlauts
    assert values[0]["amount"] == Decimal("1200.50")
    assert values[0]["engaged_at"] == date(2018, 2, 26)
    assert values[0]["created_at"] == datetime(2018, 2, 26, 19, 58, 54, tzinfo=UTC)
    # The formula guard is the writer's, not the value's: the title comes back as given.
    assert values[1]["title"] == ROWS[1]["title"]
    assert values[1]["amount"] == Decimal("-12.5")
    assert "engaged_at" not in values[1] or values[1]["engaged_at"] is None
    assert values[2]["title"] == "北京 office; +1 seat"


def test_xlsx_holds_what_a_worksheet_cannot_in_its_place() -> None:
    # Control characters and U+FFFE stop openpyxl (or damage the file for Excel): one such
    # value must not fail the export; the CSV keeps them as they are.
    odd = "Ctl\x00\x01\x0b\x1f deal\ttab\nline \ufffe end"
    long = "x" * (XLSX_CELL_CHARS + 10)
    rows = [{"external_id": "D-9", "title": odd}, {"external_id": "D-10", "title": long}]
    for format in ("xlsx", "csv"):
        buffer = io.BytesIO()
        assert write_rows(buffer, rows, ("external_id", "title"), format=format) == 2  # type: ignore[arg-type]
        with open_table(io.BytesIO(buffer.getvalue())) as table:
            titles = [row.values[1] for row in table.rows()]
        if format == "xlsx":
            assert titles[0] == "Ctl\ufffd\ufffd\ufffd\ufffd deal\ttab\nline \ufffd end"
            assert len(titles[1]) == XLSX_CELL_CHARS and titles[1].endswith("\u2026")
        else:
            assert titles == [odd, long]


def test_csv_guards_formulas_but_not_numbers() -> None:
    text = written("csv").decode("utf-8")
    assert text.startswith("\ufeffexternal_id,title,")  # a BOM: Excel reads UTF-8
    assert "'=HYPERLINK" in text
    assert ",-12.5," in text  # a negative number is not a formula
    assert "\r\n" in text
    assert safe_text("+1 seat") == "'+1 seat"
    assert safe_text("@home") == "'@home"
    assert safe_text("1e5") == "1e5"


def test_xlsx_cells_are_text_never_formulas() -> None:
    from openpyxl import load_workbook

    book = load_workbook(io.BytesIO(written("xlsx")), read_only=True)
    sheet = book["deals"]
    cells = [[c.value for c in row] for row in sheet.iter_rows()]
    assert cells[0] == list(COLUMNS)
    assert cells[2][1] == ROWS[1]["title"]  # stored as a string, not a formula
    assert all(row[0] is not None for row in cells)


def test_cell_text_forms() -> None:
    assert cell_text(None) == ""
    assert cell_text(True) == "true"
    assert cell_text(["a", None, "b"]) == "a; b"
    assert cell_text(datetime(2026, 3, 2, 15, 5, tzinfo=UTC)) == "2026-03-02T15:05:00Z"
    assert cell_text(Decimal("1E+3")) == "1000"


def test_csv_writer_streams_in_chunks() -> None:
    chunks: list[bytes] = []

    class Sink:
        def write(self, data: bytes) -> None:
            chunks.append(data)

    writer = CsvWriter(Sink(), ["name"])
    for number in range(20_000):
        writer.write({"name": f"company {number:05d} " + "x" * 20})
    writer.close()
    assert len(chunks) > 5  # flushed as it went, not held to the end
    assert max(len(c) for c in chunks) < 200_000
    assert b"".join(chunks).decode("utf-8").count("\r\n") == 20_001
