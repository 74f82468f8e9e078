"""What an import shows before anything is written: how the file was read (format,
encoding, delimiter, header), its first rows, what each column holds, and a suggested
mapping onto a target. Reads at most `sample` rows, however large the file."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from .errors import OptionError, RowIssue
from .infer import ColumnProfile, profile_columns
from .mapping import Mapping
from .source import open_table
from .suggest import suggest_mapping
from .table import Row
from .targets import TARGETS

MAX_SAMPLE = 10_000


@dataclass
class Preview:
    format: str
    encoding: str | None
    delimiter: str | None
    sheet: str | None
    header: list[str]
    header_row: int
    rows: list[Row]  # the first ones
    columns: list[ColumnProfile]
    sampled_rows: int
    more_rows: bool  # the file goes on past the sample
    issues: list[RowIssue] = field(default_factory=list)  # header's and sampled rows'
    target: str | None = None
    suggested: Mapping | None = None
    unmapped: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "encoding": self.encoding,
            "delimiter": self.delimiter,
            "sheet": self.sheet,
            "header": self.header,
            "headerRow": self.header_row,
            "rows": [{"row": row.number, "values": list(row.values)} for row in self.rows],
            "columns": [column.as_dict() for column in self.columns],
            "sampledRows": self.sampled_rows,
            "moreRows": self.more_rows,
            "issues": [issue.as_dict() for issue in self.issues],
            "target": self.target,
            "suggestedMapping": self.suggested.to_json() if self.suggested else None,
            "unmappedColumns": self.unmapped,
            "notes": self.notes,
        }


def preview_file(
    source: str | Path | BinaryIO,
    *,
    target: str | None = None,
    rows: int = 20,
    sample: int = 1000,
    encoding: str | None = None,
    delimiter: str | None = None,
    sheet: str | None = None,
) -> Preview:
    if target is not None and target not in TARGETS:
        raise OptionError(f"unknown target {target!r}; one of {', '.join(TARGETS)}")
    sample = max(1, min(sample, MAX_SAMPLE))
    with open_table(source, encoding=encoding, delimiter=delimiter, sheet=sheet) as table:
        sampled: list[Row] = []
        issues = list(table.header_issues)
        more = False
        for row in table.rows():
            if len(sampled) == sample:
                more = True
                break
            sampled.append(row)
            issues.extend(row.issues)
        preview = Preview(
            format=table.format,
            encoding=table.encoding,
            delimiter=table.delimiter,
            sheet=table.sheet,
            header=list(table.header),
            header_row=table.header_row,
            rows=sampled[: max(0, rows)],
            columns=profile_columns(
                table.header, [r for r in sampled if not r.has_errors], table.delimiter
            ),
            sampled_rows=len(sampled),
            more_rows=more,
            issues=issues,
            target=target,
        )
    if target is not None:
        suggestion = suggest_mapping(TARGETS[target], preview.columns)
        preview.suggested = suggestion.mapping
        preview.unmapped = suggestion.unmapped
        preview.notes = suggestion.notes
    if table.title_rows:
        rows_above = ", ".join(str(n) for n in table.title_rows)
        preview.notes.append(
            f"row(s) {rows_above} above the header (row {table.header_row}) read as a title "
            "and skipped"
        )
    sheets = getattr(table, "sheets", ())
    if table.sheet is not None and len(sheets) > 1:
        others = ", ".join(repr(name) for name in sheets if name != table.sheet)
        preview.notes.append(f"read sheet {table.sheet!r}; the workbook also has {others}")
    for column in preview.columns:
        if column.ambiguous_dates:
            preview.notes.append(
                f"column {column.name!r} reads as dates in {' or '.join(column.date_formats)},"
                " which disagree on some values: choose its date_format"
            )
    return preview
