"""XLSX read as a stream with openpyxl's read-only mode (the sheet's XML is parsed as it is
iterated; the shared-strings table, which XLSX keeps apart, is loaded whole).

Cells become text the way a CSV export would write them: numbers without a spurious
`.0`, dates as ISO 8601 (`2018-02-26`, or `2018-02-26 19:58:54` with a time), booleans as
`true`/`false`, formulas as their last computed value.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import Any, BinaryIO
from xml.etree.ElementTree import ParseError

from openpyxl import load_workbook
from openpyxl.utils.exceptions import InvalidFileException

from .errors import (
    EmptyFileError,
    MalformedFileError,
    NoDataRowsError,
    NotTabularError,
    OptionError,
)
from .table import Record, Table

# The shared-strings part is held in memory whole (the format keeps every distinct text of
# the workbook there): bounded, uncompressed, so a small file cannot claim gigabytes.
MAX_SHARED_STRINGS = 256 * 1024 * 1024
# What openpyxl raises for a file that is a ZIP but no readable workbook.
BROKEN = (zipfile.BadZipFile, InvalidFileException, KeyError, ParseError, ValueError, OSError)


class XlsxTable(Table):
    format = "xlsx"
    pads_short_rows = True

    def __init__(self, source: Path | BinaryIO, *, sheet: str | None) -> None:
        _check_shared_strings(source)
        try:
            self._book = load_workbook(source, read_only=True, data_only=True)
        except BROKEN as error:
            raise NotTabularError(f"not a readable XLSX workbook ({error})") from None
        try:
            self.sheets = tuple(self._book.sheetnames)
            self._read_first_table(self._candidates(sheet))
        except BaseException:
            self.close()
            raise

    def _candidates(self, sheet: str | None) -> list[Any]:
        """The sheet asked for; else the one the workbook opens on, then the others."""
        if sheet is not None:
            if sheet not in self._book.sheetnames:
                raise OptionError(f"no sheet {sheet!r}; the workbook has {self._book.sheetnames}")
            return [self._book[sheet]]
        if not self._book.worksheets:
            raise NotTabularError("the workbook has no worksheet")
        active = self._book.active
        others = [ws for ws in self._book.worksheets if ws is not active]
        return [active, *others] if active in self._book.worksheets else others

    def _read_first_table(self, candidates: list[Any]) -> None:
        """Reads the first candidate sheet holding a header of two columns or more and
        rows (a workbook often opens on a cover or notes sheet: lines of text read as one
        column); else the first holding any table; when none does, says why the first
        does not."""
        first_error: EmptyFileError | NoDataRowsError | None = None
        narrow: Any = None
        for candidate in candidates:
            try:
                self._open_sheet(candidate)
            except (EmptyFileError, NoDataRowsError) as error:
                first_error = first_error or error
                continue
            if len(self.header) > 1 or len(candidates) == 1:
                return
            narrow = narrow or candidate
        if narrow is not None:
            self._open_sheet(narrow)
            return
        assert first_error is not None
        if len(candidates) > 1:
            raise type(first_error)(
                f"no sheet of the workbook holds a table ({', '.join(self.sheets)}); "
                f"the first: {first_error}",
                row=first_error.row,
            ) from None
        raise first_error

    def _open_sheet(self, sheet: Any) -> None:
        self._sheet = sheet
        # Some writers record a wrong size (A1:A1); read what the sheet really holds.
        self._sheet.reset_dimensions()
        self.sheet = self._sheet.title
        super().__init__()

    def close(self) -> None:
        self._book.close()

    def _read_records(self) -> Iterator[Record]:
        number = 0
        try:
            for values in self._sheet.iter_rows(values_only=True):
                number += 1
                cells = [cell_text(value) for value in values]
                while cells and not cells[-1]:
                    cells.pop()
                yield number, cells
        except BROKEN as error:
            raise MalformedFileError(
                f"the workbook is damaged after row {number} ({error})", row=number + 1
            ) from None


def _check_shared_strings(source: Path | BinaryIO) -> None:
    try:
        with zipfile.ZipFile(source) as archive:
            size = sum(
                info.file_size
                for info in archive.infolist()
                if info.filename.lower().endswith("sharedstrings.xml")
            )
    except (zipfile.BadZipFile, OSError) as error:
        raise NotTabularError(f"not a readable XLSX workbook ({error})") from None
    finally:
        if not isinstance(source, Path):
            source.seek(0)
    if size > MAX_SHARED_STRINGS:
        raise NotTabularError(
            f"the workbook's shared strings take {size // 2**20} MiB unpacked, over the "
            f"{MAX_SHARED_STRINGS // 2**20} MiB limit: save it as CSV"
        )


def cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        # Excel shows 15 significant digits; 0.1+0.2 stored is 0.3 to its user.
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return format(value, ".15g")
    if isinstance(value, datetime):
        if value.time() == time(0) and value.tzinfo is None:
            return value.date().isoformat()
        return value.isoformat(sep=" ")
    if isinstance(value, date | time | Decimal):
        return str(value) if isinstance(value, Decimal) else value.isoformat()
    return str(value)
