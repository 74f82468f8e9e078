"""What goes wrong with a file, a row or a mapping, as values a caller can show.

A problem with the whole file (empty, binary, no data rows, unreadable) is a
`TabularError` raised when the file is opened or, for a damaged stretch found later, while
it is read. A problem with one row is a `RowIssue` carried with the row: the row number,
the column, the value and the reason, so the caller can report it and go on.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Severity(StrEnum):
    ERROR = "error"  # the row is not imported
    WARNING = "warning"  # the row is imported; the issue is reported


@dataclass(frozen=True, slots=True)
class RowIssue:
    """One problem with one row. `row` is the row number as a spreadsheet shows it (the
    header is usually row 1); `column` the file's column, `field` the target field."""

    row: int
    code: str
    reason: str
    column: str | None = None
    value: str | None = None
    field: str | None = None
    severity: Severity = Severity.ERROR

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR

    def describe(self) -> str:
        """The issue without its row number: `Staff: 'many' is not a number`."""
        if self.column is not None and self.value is not None:
            return f"{self.column}: {self.value!r} {self.reason}"
        if self.field is not None:
            where = f" (column {self.column!r})" if self.column else ""
            return f"{self.field}: {self.reason}{where}"
        if self.column is not None:
            return f"{self.column}: {self.reason}"
        return self.reason

    def as_dict(self) -> dict[str, Any]:
        return {
            "row": self.row,
            "code": self.code,
            "severity": str(self.severity),
            "column": self.column,
            "field": self.field,
            "value": self.value,
            "reason": self.reason,
            "message": self.describe(),
        }


class TabularError(Exception):
    """A problem with the file as a whole (or with the options it was opened with)."""

    code = "BAD_FILE"

    def __init__(self, message: str, *, row: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.row = row

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "row": self.row}


class EmptyFileError(TabularError):
    code = "EMPTY_FILE"


class NoDataRowsError(TabularError):
    """The file has a header and nothing under it."""

    code = "NO_DATA_ROWS"


class NotTabularError(TabularError):
    """Binary data, an archive, a document: not something rows can be read from."""

    code = "NOT_TABULAR"


class MalformedFileError(TabularError):
    """The file breaks the format part-way (a line or field past the limits, a damaged
    workbook); `row` says where reading stopped."""

    code = "MALFORMED_FILE"


class OptionError(TabularError):
    """An option the caller gave (encoding, delimiter, sheet) cannot be used."""

    code = "BAD_OPTION"


@dataclass(frozen=True, slots=True)
class MappingProblem:
    path: str  # where in the mapping: `fields.stage.values`, `timezone`
    message: str


class MappingError(TabularError):
    """A mapping that cannot be applied; every problem found, each naming its place."""

    code = "BAD_MAPPING"

    def __init__(self, problems: list[MappingProblem]) -> None:
        super().__init__("; ".join(f"{p.path}: {p.message}" for p in problems))
        self.problems = problems

    @property
    def field(self) -> str:
        """The first offending place (what a GraphQL error's `extensions.field` names)."""
        return self.problems[0].path if self.problems else ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "message": self.message,
            "problems": [{"path": p.path, "message": p.message} for p in self.problems],
        }


class ValueProblem(ValueError):
    """Why one value cannot become its field's type, phrased to follow the value:
    `'many' is not a number`."""
