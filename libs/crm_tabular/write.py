"""Writing rows out as CSV or XLSX, the other half of a round trip: a file this module
writes reads back through `open_table` and the suggested mapping onto the same fields.

Columns are a target's field names (`crm_tabular.targets`) plus whatever a caller adds
(`id`); values are written the way the readers read them back: dates and datetimes in ISO
8601 (UTC, `2026-03-02T14:05:00Z`), decimals in plain notation (`1200.50`), booleans as
`true`/`false`, lists joined with `; ` (the LIST type splits on `;`), None as an empty cell.

Both writers stream: a CSV row is encoded and handed to the sink as it comes; an XLSX is
written by openpyxl's write-only mode (rows are not kept as cell objects), into a
temporary file the caller then reads in chunks.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import IO, Any, Literal, Protocol

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font

Format = Literal["csv", "xlsx"]
FORMATS: tuple[Format, ...] = ("csv", "xlsx")
LIST_SEPARATOR = "; "
# Excel reads a CSV as the machine's code page unless it starts with a byte-order mark;
# with one, UTF-8 names (Müller, 北京) open correctly, and `open_table` skips the mark.
UTF8_BOM = "\ufeff"
# Cells Excel would run as formulas when it opens a CSV (CSV injection, OWASP): such a text
# is written with a leading apostrophe, which spreadsheets show as plain text and
# `crm_tabular` removes again on reading. (An XLSX cell is typed as text instead.)
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


# What a worksheet's XML cannot hold: control characters other than tab, line feed and
# carriage return, and the non-characters U+FFFE/U+FFFF (openpyxl refuses the former, and
# Excel calls a file with the latter damaged). A CSV keeps them; an XLSX cell shows U+FFFD
# in their place, so one odd value never stops a whole export.
_NOT_IN_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
# Excel's most characters in one cell: a longer text is cut there, marked with an ellipsis.
XLSX_CELL_CHARS = 32_767


def xlsx_text(text: str) -> str:
    """`text` as a worksheet cell can hold it."""
    text = _NOT_IN_XML.sub("\ufffd", text)
    if len(text) > XLSX_CELL_CHARS:
        text = text[: XLSX_CELL_CHARS - 1] + "\u2026"
    return text


class Sink(Protocol):
    def write(self, data: bytes, /) -> Any: ...


def cell_text(value: Any) -> str:
    """A value as the text a reader of the file gets back."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        moment = value.astimezone(UTC) if value.tzinfo else value
        return moment.replace(tzinfo=None).isoformat() + "Z"
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, (list, tuple)):
        return LIST_SEPARATOR.join(cell_text(item) for item in value if item is not None)
    return str(value)


def safe_text(text: str) -> str:
    """`text` that no spreadsheet runs as a formula (a number such as `-12.5` stays)."""
    if text.startswith(_FORMULA_STARTS) and not _is_number(text):
        return "'" + text
    return text


def _is_number(text: str) -> bool:
    try:
        Decimal(text)
    except ArithmeticError:
        return False
    return True


class CsvWriter:
    """CSV in UTF-8 with a byte-order mark, `,`-separated, CRLF line ends (RFC 4180)."""

    format: Format = "csv"

    def __init__(self, sink: Sink, columns: Sequence[str]) -> None:
        self._sink = sink
        self._columns = tuple(columns)
        self._buffer = io.StringIO()
        self._csv = csv.writer(self._buffer, lineterminator="\r\n")
        self.rows = 0
        self._buffer.write(UTF8_BOM)
        self._csv.writerow(self._columns)
        self._flush()

    def write(self, row: Mapping[str, Any]) -> None:
        self._csv.writerow([safe_text(cell_text(row.get(c))) for c in self._columns])
        self.rows += 1
        if self._buffer.tell() >= 64 * 1024:
            self._flush()

    def close(self) -> None:
        self._flush()

    def _flush(self) -> None:
        text = self._buffer.getvalue()
        if text:
            self._sink.write(text.encode("utf-8"))
        self._buffer.seek(0)
        self._buffer.truncate()


class XlsxWriter:
    """One worksheet named after the record type; the header row bold and frozen."""

    format: Format = "xlsx"

    def __init__(self, target: IO[bytes], columns: Sequence[str], *, sheet: str) -> None:
        self._target = target
        self._columns = tuple(columns)
        self._book = Workbook(write_only=True)
        self._sheet = self._book.create_sheet(title=sheet[:31] or "export")
        self._sheet.freeze_panes = "A2"
        header = []
        for name in self._columns:
            cell = WriteOnlyCell(self._sheet, value=name)
            cell.font = Font(bold=True)
            header.append(cell)
        self._sheet.append(header)
        self.rows = 0

    def write(self, row: Mapping[str, Any]) -> None:
        # Text cells, as a CSV holds: the importer reads numbers and dates from text alike,
        # and Excel does not re-interpret an id such as `00123` or a date order. Typed as
        # strings explicitly where it matters: openpyxl would store a text starting with `=` as a
        # formula (plain values are written faster than cell objects).
        cells: list[Any] = []
        for column in self._columns:
            text = xlsx_text(cell_text(row.get(column)))
            if text.startswith("="):
                cell = WriteOnlyCell(self._sheet, value=text)
                cell.data_type = "s"
                cells.append(cell)
            else:
                cells.append(text or None)
        self._sheet.append(cells)
        self.rows += 1

    def close(self) -> None:
        self._book.save(self._target)


def write_rows(
    target: IO[bytes],
    rows: Iterable[Mapping[str, Any]],
    columns: Sequence[str],
    *,
    format: Format,
    sheet: str = "export",
) -> int:
    """Every row of `rows` into `target` as `format`; answers how many."""
    writer: CsvWriter | XlsxWriter = (
        CsvWriter(target, columns) if format == "csv" else XlsxWriter(target, columns, sheet=sheet)
    )
    for row in rows:
        writer.write(row)
    writer.close()
    return writer.rows
