"""Reading is streamed: the memory a file takes to read and map does not grow with its
size. A generated file of some 5 MB is read and mapped whole under tracemalloc; the peak
must stay under a bound that reading the file into memory would exceed several times."""

from __future__ import annotations

import tracemalloc
from datetime import UTC, datetime
from pathlib import Path

from crm_tabular import DuplicateFinder, Mapping, Rules, mapped_rows, open_table
from crm_tabular.duplicates import FirstRows

ROWS = 40_000
BOUND = 1024 * 1024  # bytes; the file is over 4x larger


def _write(path: Path) -> int:
    with path.open("w", encoding="utf-8", newline="") as handle:
        handle.write("id,owner,product,account,stage,engaged,closed,value,notes\r\n")
        for n in range(ROWS):
            stage = ("won", "lost", "engaging")[n % 3]
            closed = f"2017-05-{n % 28 + 1:02d}" if stage != "engaging" else ""
            handle.write(
                f"D{n:07d},Agent {n % 35},GTX Pro,Account {n % 900},{stage},"
                f"2017-01-{n % 28 + 1:02d},{closed},{n % 9000}.50,"
                f'"free text, with a comma and ""quotes"" {n}"\r\n'
            )
    return path.stat().st_size


def test_reading_and_mapping_a_large_file_takes_bounded_memory(tmp_path: Path) -> None:
    path = tmp_path / "large.csv"
    size = _write(path)
    assert size > 4 * BOUND
    mapping = Mapping.from_json(
        {
            "target": "deals",
            "fields": {
                "external_id": "id",
                "owner": "owner",
                "product": "product",
                "company": "account",
                "stage": "stage",
                "engaged_at": "engaged",
                "close_date": "closed",
                "amount": "value",
                "custom.notes": "notes",
            },
        }
    )
    rules = Rules(now=datetime(2018, 1, 1, tzinfo=UTC))
    tracemalloc.start()
    try:
        ok = 0
        with open_table(path) as table:
            for row in mapped_rows(table, mapping, rules=rules):
                ok += row.ok
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert ok == ROWS
    assert peak < BOUND, f"peak {peak / 1e6:.1f} MB reading a {size / 1e6:.0f} MB file"
    # The control: the same file read whole breaks the bound.
    tracemalloc.start()
    try:
        whole = path.read_text(encoding="utf-8")
        _, whole_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(whole) > 0 and whole_peak > BOUND


def test_duplicate_finder_keeps_only_digests(tmp_path: Path) -> None:
    """The finder is the one part that grows with the file: one small digest per distinct
    row and key value, far less than the rows themselves."""
    path = tmp_path / "large.csv"
    _write(path)
    finder = DuplicateFinder(("external_id",))
    tracemalloc.start()
    try:
        with open_table(path) as table:
            for row in table.rows():
                finder.observe(row.number, row.values, {"external_id": row.values[0]})
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert finder.report().whole_rows == []
    # Two entries a row (the whole row, the id), at most 48 bytes each as documented, and
    # the reading itself (a dict of Python ints would take ~100 bytes an entry).
    assert peak < 2 * ROWS * 64, f"peak {peak / 1e6:.1f} MB for {ROWS} rows"


def test_first_rows_table_grows_and_finds_every_key() -> None:
    table = FirstRows(slots=4)
    keys = [(n * 0x9E3779B97F4A7C15 >> 1) % (1 << 62) | 1 for n in range(1, 5000)]
    for row, key in enumerate(keys, start=2):
        assert table.setdefault(key, row) == row
    assert len(table) == len(keys)
    for row, key in enumerate(keys, start=2):
        assert table.setdefault(key, 10**6) == row
