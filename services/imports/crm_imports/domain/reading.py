"""A file read as batches of mapped rows ready for the owner, one batch at a time: the
memory a run holds is one batch and the duplicate finder's digests, whatever the file's
size. Rows with errors stop here (counted as failed, their issues kept); rows the owner
should write go out in their JSON form (`crm_contracts.import_batches.ImportRow`).

Synchronous (the csv module and openpyxl are): the runner pulls each batch in a thread.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson

from crm_tabular import DuplicateFinder, Mapping, Rules, mapped_rows, open_table
from crm_tabular.errors import RowIssue

from .issues import Issue
from .job import Counts

# A batch also ends when its rows' JSON reaches this size: NATS carries at most 1 MiB
# per message by default, and a row with long texts can be kilobytes.
MAX_BATCH_BYTES = 512 * 1024


def wire_value(value: Any) -> Any:
    """A mapped value in its JSON form: decimals as strings, dates and date-times in ISO
    8601 (UTC with Z), lists as arrays."""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return [wire_value(item) for item in value]
    return value


def issue_of(found: RowIssue) -> Issue:
    return Issue(
        row=found.row,
        code=found.code,
        severity=str(found.severity),
        message=found.describe(),
        column=found.column,
        field=found.field,
        value=found.value,
    )


@dataclass
class Batch:
    rows: list[dict[str, Any]] = field(default_factory=list)  # {"row": n, "values": {...}}
    issues: list[Issue] = field(default_factory=list)  # found here, before the owner
    counts: Counts = field(default_factory=Counts)  # rows read, failed here, warnings
    last_row: int = 0  # the last row number this batch covers
    fraction: float | None = None
    warned_rows: set[int] = field(default_factory=set)


def read_batches(
    path: Path,
    mapping: Mapping,
    *,
    rules: Rules,
    start_row: int,
    batch_rows: int,
    duplicates: DuplicateFinder,
) -> Generator[Batch, None, None]:
    """Batches of the rows numbered `start_row` and after. The rows before are still read
    and observed by `duplicates` (a resumed run reports the same duplicates) but not
    counted again. Raises crm_tabular's TabularError for a file that cannot be read (a
    MalformedFileError mid-file after the batches before it)."""
    with open_table(path) as table:
        batch = Batch()
        size = 0
        for mapped in mapped_rows(table, mapping, rules=rules, duplicates=duplicates):
            if mapped.row < start_row:
                continue
            batch.counts.rows_read += 1
            batch.last_row = mapped.row
            if mapped.issues:
                batch.issues.extend(issue_of(i) for i in mapped.issues)
                if any(not i.is_error for i in mapped.issues):
                    batch.warned_rows.add(mapped.row)
            if not mapped.ok:
                batch.counts.failed += 1
            else:
                values = {k: wire_value(v) for k, v in mapped.values.items()}
                batch.rows.append({"row": mapped.row, "values": values})
                size += len(orjson.dumps(values)) + 16
            if batch.counts.rows_read >= batch_rows or size >= MAX_BATCH_BYTES:
                batch.fraction = table.fraction_read()
                yield batch
                batch, size = Batch(), 0
        if batch.counts.rows_read:
            batch.fraction = table.fraction_read()
            yield batch


# Duplicate groups kept in a job's report (all are found; a file of repeats would otherwise
# make a report larger than a document may be), and rows named per group.
MAX_DUPLICATE_GROUPS = 1000
MAX_GROUP_ROWS = 100


def bounded_report(report: dict[str, Any]) -> dict[str, Any]:
    """crm_tabular's duplicate report (`as_dict`), its groups and rows bounded, with the
    number of groups found of each kind."""

    def groups(found: list[dict[str, Any]]) -> dict[str, Any]:
        kept = [
            {**group, "rows": group["rows"][:MAX_GROUP_ROWS], "count": len(group["rows"])}
            for group in found[:MAX_DUPLICATE_GROUPS]
        ]
        return {"total": len(found), "groups": kept}

    return {
        "wholeRows": groups(report.get("wholeRows") or []),
        "byKey": {key: groups(found) for key, found in (report.get("byKey") or {}).items()},
    }
