"""Read, map, check and de-duplicate in one pass: what an importer iterates."""

from __future__ import annotations

from collections.abc import Iterator

from .apply import MappedRow, RowMapper
from .duplicates import DuplicateFinder
from .mapping import Mapping
from .rules import Rules, check_row
from .table import Table


def mapped_rows(
    table: Table,
    mapping: Mapping,
    *,
    rules: Rules | None = None,
    duplicates: DuplicateFinder | None = None,
) -> Iterator[MappedRow]:
    """Each data row of `table` mapped (MappingError first if the mapping does not fit the
    header), with the consistency rules' and the duplicate finder's issues added."""
    mapper = RowMapper(mapping, table.header)
    spec = mapping.spec
    for row in table.rows():
        mapped = mapper.map(row)
        if rules is not None and mapped.ok:
            check_row(spec, mapped, rules)
        if duplicates is not None:
            mapped.issues.extend(duplicates.observe(row.number, row.values, mapped.values))
        yield mapped
