"""Reading real tabular files (CSV in any common encoding and delimiter, XLSX) as a stream
of rows, and mapping rows onto the platform's record types. No I/O but the file read; no
domain rules beyond the documented consistency checks: the owning services validate.

    with open_table("deals.csv") as table:            # encoding, delimiter detected
        mapping = Mapping.from_json(saved)            # MappingError names each problem
        for row in mapped_rows(table, mapping, rules=Rules(now), duplicates=finder):
            row.values / row.issues                   # typed values, or why not

See README.md beside this file.
"""

from .apply import MappedRow, RowMapper
from .duplicates import DuplicateFinder, DuplicateGroup, DuplicateReport
from .errors import (
    EmptyFileError,
    MalformedFileError,
    MappingError,
    MappingProblem,
    NoDataRowsError,
    NotTabularError,
    OptionError,
    RowIssue,
    Severity,
    TabularError,
)
from .infer import ColumnProfile
from .mapping import FieldRule, Mapping
from .preview import Preview, preview_file
from .rules import Rules, check_row
from .source import open_table
from .stream import mapped_rows
from .suggest import Suggestion, suggest_mapping
from .table import Row, Table
from .targets import TARGETS, FieldSpec, TargetSpec
from .values import FieldType

__all__ = [
    "TARGETS",
    "ColumnProfile",
    "DuplicateFinder",
    "DuplicateGroup",
    "DuplicateReport",
    "EmptyFileError",
    "FieldRule",
    "FieldSpec",
    "FieldType",
    "MalformedFileError",
    "MappedRow",
    "Mapping",
    "MappingError",
    "MappingProblem",
    "NoDataRowsError",
    "NotTabularError",
    "OptionError",
    "Preview",
    "Row",
    "RowIssue",
    "RowMapper",
    "Rules",
    "Severity",
    "Suggestion",
    "Table",
    "TabularError",
    "TargetSpec",
    "check_row",
    "mapped_rows",
    "open_table",
    "preview_file",
    "suggest_mapping",
]
