"""A table being read: its header, then its rows one at a time (never all at once).

Rows are numbered as a spreadsheet numbers them: the first record of the file is row 1
(usually the header), blank rows count but are not yielded. Every data row has one value
per header column; a row with more or fewer fields than the header carries a RowIssue
saying which column and why, and the caller decides what to do with it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from types import TracebackType

from .errors import EmptyFileError, NoDataRowsError, RowIssue, Severity

Record = tuple[int, list[str]]  # (row number, cells as read)
# Report exports (a CRM's report, a spreadsheet someone titled) put a title, a date or a
# "filtered by" line above the header. A leading row with one filled cell is such a line
# when a row among the next ones fills at least TITLE_WIDER cells: a one-column file, or
# a header narrower than its rows, is read as it is.
LOOKAHEAD_ROWS = 10
TITLE_WIDER = 3
# The same exports end with a footer: a total, "Confidential", a copyright line, "generated
# by"), set apart by a blank row. In a table at least FOOTER_MIN_WIDTH wide, a row after a
# blank row (or after another such row) that fills one cell, under half the header, or is
# shorter than it, is held back; data after it makes it data, the end of the file makes
# it part of a footer, refused by name instead of imported. At most FOOTER_MAX_ROWS are
# held (memory stays bounded). A last record that fills one cell right under the others is
# data.
FOOTER_MIN_WIDTH = 3
FOOTER_MAX_ROWS = 20


@dataclass(slots=True)  # not frozen: a frozen init costs more than reading the row
class Row:
    number: int
    values: tuple[str, ...]  # one per header column, as read (not stripped)
    issues: tuple[RowIssue, ...] = ()

    @property
    def has_errors(self) -> bool:
        return any(issue.is_error for issue in self.issues)


def build_header(cells: Sequence[str], row: int) -> tuple[tuple[str, ...], tuple[RowIssue, ...]]:
    """Column names from the header cells: trimmed, unnamed ones called `column N`, a
    repeated name (compared case-insensitively) suffixed ` (2)`, ` (3)`... with a warning,
    so no column silently hides another."""
    names: list[str] = []
    issues: list[RowIssue] = []
    seen: dict[str, int] = {}
    for position, raw in enumerate(cells, start=1):
        name = raw.replace("\ufeff", "").strip()
        if not name:
            name = f"column {position}"
            issues.append(
                RowIssue(
                    row, "unnamed_column", f"has no name in the header; read as {name!r}",
                    column=name, severity=Severity.WARNING,
                )
            )  # fmt: skip
        if name.casefold() in seen:
            first = seen[name.casefold()]
            suffix = 2
            while f"{name} ({suffix})".casefold() in seen:
                suffix += 1
            renamed = f"{name} ({suffix})"
            issues.append(
                RowIssue(
                    row, "duplicate_header",
                    f"column {position} repeats the name of column {first}; read as {renamed!r}",
                    column=name, severity=Severity.WARNING,
                )
            )  # fmt: skip
            name = renamed
        seen[name.casefold()] = position
        names.append(name)
    return tuple(names), tuple(issues)


class Table(ABC):
    """Common to CSV and XLSX: header, row shapes, blank rows. Use as a context manager;
    `rows()` can be iterated once."""

    format: str
    encoding: str | None = None  # CSV: the text encoding read with
    delimiter: str | None = None  # CSV: the field delimiter
    sheet: str | None = None  # XLSX: the worksheet read
    # XLSX stores no cell for an empty one, so a short row there is not malformed.
    pads_short_rows = False

    def __init__(self) -> None:
        self.blank_rows = 0
        self.rows_read = 0
        self._records = self._read_records()
        first = self._next_filled()
        if first is None:
            raise EmptyFileError("the file is empty: no header and no rows")
        leading = [first]
        # Only a first row with one filled cell may be a title: other files read no
        # further here than their first data row.
        while (
            _filled(first[1]) == 1
            and len(leading) < LOOKAHEAD_ROWS
            and (record := self._next_filled()) is not None
        ):
            leading.append(record)
        titles = _title_rows(leading)
        # The rows above the header (titles), by number: the preview says they were skipped.
        self.title_rows = tuple(number for number, _ in leading[:titles])
        self.header_row, header_cells = leading[titles]
        self.header, self.header_issues = build_header(header_cells, self.header_row)
        self._pending: deque[Record] = deque(leading[titles + 1 :])
        if not self._pending and (record := self._next_filled()) is not None:
            self._pending.append(record)
        if not self._pending:
            raise NoDataRowsError(
                f"the file has a header (row {self.header_row}) and no data rows",
                row=self.header_row,
            )

    @abstractmethod
    def _read_records(self) -> Iterator[Record]:
        """Every record of the file with its row number, blank ones included."""

    @abstractmethod
    def close(self) -> None: ...

    def fraction_read(self) -> float | None:
        """How far through the file reading is (0..1), where that can be told."""
        return None

    def __enter__(self) -> Table:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()

    def _next_filled(self) -> Record | None:
        for number, cells in self._records:
            if any(cells) and "".join(cells).strip():
                return number, cells
            self.blank_rows += 1
        return None

    def rows(self) -> Iterator[Row]:
        pending, self._pending = self._pending, deque()
        held: list[Record] = []  # sparse rows: data or footer, told by what follows
        for record in self._after(pending):
            if self._may_be_footer(record, held) and len(held) < FOOTER_MAX_ROWS:
                held.append(record)
                continue
            for earlier in held:
                self.rows_read += 1
                yield self._shape(*earlier)
            held.clear()
            self.rows_read += 1
            yield self._shape(*record)
        for footer in held:
            self.rows_read += 1
            yield self._footer(footer)

    def _after(self, pending: deque[Record]) -> Iterator[Record]:
        """The rows held at the start, then the rest of the file; after each, whether a
        blank row came before it is in `_gap`."""
        self._gap = False
        yield from pending
        while True:
            blanks = self.blank_rows
            record = self._next_filled()
            if record is None:
                return
            self._gap = self.blank_rows > blanks
            yield record

    def _may_be_footer(self, record: Record, held: list[Record]) -> bool:
        width = len(self.header)
        if width < FOOTER_MIN_WIDTH:
            return False
        cells = record[1]
        filled = _filled(cells)
        trailing = self._gap or bool(held)
        return trailing and (filled == 1 or filled * 2 < width or len(cells) < width)

    def _footer(self, record: Record) -> Row:
        number, cells = record
        text = next((cell.strip() for cell in cells if cell.strip()), "")
        issue = RowIssue(
            number, "footer_row", "comes after the last data row and fills too few columns "
            "to be a record (a report's total, confidentiality or copyright line): not "
            "imported", value=text[:200],
        )  # fmt: skip
        values = tuple((cells + [""] * len(self.header))[: len(self.header)])
        return Row(number, values, (issue,))

    def _shape(self, number: int, cells: list[str]) -> Row:
        width = len(self.header)
        count = len(cells)
        issues: list[RowIssue] = []
        if count > width:
            extra = cells[width:]
            filled = [i for i, value in enumerate(extra) if value.strip()]
            if filled:
                position = width + filled[0] + 1
                issues.append(
                    RowIssue(
                        number, "too_many_fields",
                        f"is beyond the header's {width} columns (the row has {count} fields)"
                        + _multiline_hint(cells),
                        column=f"column {position}", value=extra[filled[0]],
                    )
                )  # fmt: skip
            else:
                issues.append(
                    RowIssue(
                        number, "extra_empty_fields",
                        f"has {count} fields, the header {width}: the extra ones are empty "
                        "and ignored (a trailing delimiter)",
                        severity=Severity.WARNING,
                    )
                )  # fmt: skip
            cells = cells[:width]
        elif count < width:
            if not self.pads_short_rows:
                issues.append(
                    RowIssue(
                        number, "too_few_fields",
                        f"is missing: the row has {count} fields, the header {width}"
                        + _multiline_hint(cells),
                        column=self.header[count],
                    )
                )  # fmt: skip
            cells = cells + [""] * (width - count)
        issues.extend(self._value_issues(number, cells))
        return Row(number, tuple(cells), tuple(issues))

    def _value_issues(self, number: int, cells: list[str]) -> list[RowIssue]:
        return []


def _filled(cells: list[str]) -> int:
    return sum(1 for cell in cells if cell.strip())


def _title_rows(leading: list[Record]) -> int:
    """How many of the leading rows are titles above the header (see TITLE_WIDER)."""
    count = 0
    while count < len(leading) - 1 and _filled(leading[count][1]) == 1:
        if not any(_filled(cells) >= TITLE_WIDER for _, cells in leading[count + 1 :]):
            break
        count += 1
    return count


def _multiline_hint(cells: list[str]) -> str:
    if any("\n" in cell or "\r" in cell for cell in cells):
        return " (a quoted field runs over several lines: look for a quote that is not closed)"
    return ""
