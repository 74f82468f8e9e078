"""CSV (and other delimited text) read as a stream: a text decoder over the binary file,
lines read with a length bound, the csv module parsing records (quotes, doubled quotes,
quoted newlines, CRLF, CR or LF line ends)."""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterator
from typing import BinaryIO

from .encoding import Encoding
from .errors import MalformedFileError, RowIssue
from .table import Record, Table

# A line longer than this is no table (a binary blob, a file without line breaks).
MAX_LINE_CHARS = 1024 * 1024


class CsvTable(Table):
    format = "csv"

    def __init__(self, binary: BinaryIO, *, encoding: Encoding, delimiter: str) -> None:
        self._binary = binary
        self._size = _size_of(binary)
        self._encoding = encoding
        self.encoding = encoding.name
        self.delimiter = delimiter
        self._text = io.TextIOWrapper(
            binary, encoding=encoding.codec, errors=encoding.errors, newline=""
        )
        self._line = 0
        self._last = ""
        try:
            super().__init__()
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        # Closing the wrapper closes the binary file under it.
        self._text.close()

    def fraction_read(self) -> float | None:
        if not self._size or self._binary.closed:
            return None
        return min(1.0, self._binary.tell() / self._size)

    def _lines(self) -> Iterator[str]:
        while line := self._text.readline(MAX_LINE_CHARS + 1):
            self._line += 1
            self._last = line
            if len(line) > MAX_LINE_CHARS:
                raise MalformedFileError(
                    f"line {self._line} is longer than {MAX_LINE_CHARS} characters: not a "
                    "table with line breaks"
                )
            yield line

    def _read_records(self) -> Iterator[Record]:
        reader = csv.reader(self._lines(), delimiter=self.delimiter or ",", strict=False)
        number = 0
        while True:
            number += 1
            started = self._line + 1
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as error:
                raise MalformedFileError(
                    f"row {number} (line {self._line}): {error}; a quote that is not closed "
                    "makes the rest of the file one field",
                    row=number,
                ) from None
            if self._line > started and '"' not in self._last:
                # A record over several lines ends on the line that closes its quote; one
                # that does not was cut by the end of the file inside a quoted field.
                raise MalformedFileError(
                    f"row {number}: the quote opened on line {started} is never closed (the "
                    f"{self._line - started + 1} lines to the end of the file would be one "
                    "value)",
                    row=number,
                )
            yield number, cells

    def _value_issues(self, number: int, cells: list[str]) -> list[RowIssue]:
        if self._encoding.lossless or "\ufffd" not in "".join(cells):
            return []
        for column, value in zip(self.header, cells, strict=True):
            if "\ufffd" in value:
                how = "detected from the file's start" if self._encoding.detected else "given"
                return [
                    RowIssue(
                        number,
                        "undecodable",
                        f"holds bytes that are not {self._encoding.name} (the encoding was "
                        f"{how}): choose the file's encoding",
                        column=column,
                        value=value,
                    )
                ]
        return []


def _size_of(binary: BinaryIO) -> int:
    try:
        return os.fstat(binary.fileno()).st_size
    except (OSError, AttributeError, io.UnsupportedOperation):
        try:
            here = binary.tell()
            size = binary.seek(0, os.SEEK_END)
            binary.seek(here)
            return size
        except (OSError, io.UnsupportedOperation):
            return 0
