"""Open a file as a table: tell XLSX from text by its first bytes (never by its name),
refuse what is neither, detect the encoding and the delimiter of text on a bounded prefix.
"""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

from .csv_table import CsvTable
from .encoding import PREFIX_BYTES, Encoding, detect_encoding, named_encoding
from .errors import EmptyFileError, NotTabularError, OptionError, TabularError
from .sniff import check_delimiter, sniff_delimiter
from .table import Table

ZIP = b"PK\x03\x04"
# Formats people send instead of a table, each with what to do about it.
NOT_TABLES = (
    (b"\xd0\xcf\x11\xe0", "an old Excel .xls or encrypted workbook: save it as XLSX or CSV"),
    (b"%PDF", "a PDF document, not a table"),
    (b"\x89PNG", "a PNG image, not a table"),
    (b"\xff\xd8\xff", "a JPEG image, not a table"),
    (b"GIF8", "a GIF image, not a table"),
    (b"\x1f\x8b", "a gzip archive: unpack it first"),
    (b"PK\x05\x06", "an empty ZIP archive, not a table"),
)  # fmt: skip
FORMATS = ("csv", "xlsx")


def open_table(
    source: str | Path | BinaryIO,
    *,
    encoding: str | None = None,
    delimiter: str | None = None,
    sheet: str | None = None,
    format: str | None = None,
) -> Table:
    """The table in `source` (a path or a seekable binary file, which the table closes).
    `encoding`, `delimiter` (CSV) and `sheet` (XLSX) override what would be detected.
    Raises a TabularError subclass for a file that cannot be read as a table."""
    if format is not None and format not in FORMATS:
        raise OptionError(f"format {format!r}: one of {', '.join(FORMATS)}")
    chosen_delimiter = check_delimiter(delimiter) if delimiter is not None else None
    chosen_encoding = named_encoding(encoding) if encoding is not None else None
    binary = _open(source)
    try:
        prefix = binary.read(PREFIX_BYTES + 1)
        complete = len(prefix) <= PREFIX_BYTES
        prefix = prefix[:PREFIX_BYTES]
        binary.seek(0)
        if not prefix:
            raise EmptyFileError("the file is empty (0 bytes)")
        kind = format or ("xlsx" if prefix.startswith(ZIP) else "csv")
        if kind == "xlsx":
            # Imported here: openpyxl is slow to import and only workbooks need it.
            from .xlsx_table import XlsxTable

            return XlsxTable(binary, sheet=sheet)
        if format is None:
            _refuse_non_tables(prefix)
        text_encoding = chosen_encoding or detect_encoding(prefix, complete=complete)
        return CsvTable(
            binary,
            encoding=text_encoding,
            delimiter=chosen_delimiter or _sniff(prefix, text_encoding, complete),
        )
    except BaseException:
        binary.close()
        raise


def _open(source: str | Path | BinaryIO) -> BinaryIO:
    if isinstance(source, str | Path):
        try:
            return Path(source).open("rb")
        except FileNotFoundError:
            raise TabularError(f"no such file: {source}") from None
        except IsADirectoryError:
            raise TabularError(f"a directory, not a file: {source}") from None
        except PermissionError:
            raise TabularError(f"not allowed to read {source}") from None
    if not source.seekable():
        raise OptionError("the file must be seekable (read it from disk or a buffer)")
    return source


def _refuse_non_tables(prefix: bytes) -> None:
    for magic, what in NOT_TABLES:
        if prefix.startswith(magic):
            raise NotTabularError(f"the file is {what}")
    if prefix.startswith(ZIP):
        raise NotTabularError("the file is a ZIP archive, not a table")


def _sniff(prefix: bytes, encoding: Encoding, complete: bool) -> str:
    # A multi-byte character cut at the prefix's end turns into U+FFFD: harmless here.
    text = prefix.decode(encoding.codec, errors="replace")
    if not text.strip():
        raise EmptyFileError("the file holds only blank lines")
    return sniff_delimiter(text, complete=complete)
