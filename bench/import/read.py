"""Benchmark: reading and mapping import files with crm_tabular, beside the bare readers.

Generates a CSV of `--rows` rows and one of `--mb` megabytes (deals-shaped: ids, names,
stages, ISO dates, decimal amounts, quoted free text with commas and quotes), and the same
rows as XLSX. For each file, in a fresh process each (so peak memory is its own):

- bare: Python's csv module iterating the rows (XLSX: openpyxl's read-only iter_rows);
- read: crm_tabular's rows (encoding and delimiter detection, row shapes);
- read+map: the same, mapped onto deals with the consistency rules and the duplicate
  finder (external id and whole rows).

Prints rows/s and its ratio to the bare reader of the same file, the process's peak
resident memory (ru_maxrss: interpreter and imports included) and its growth over the
resident size before reading (what reading cost). Files live in a temporary directory,
removed at the end.

    .venv/bin/python bench/import/read.py [--rows 100000] [--mb 50] [--no-xlsx]
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "libs"))

HEADER = ["id", "owner", "product", "account", "stage", "engaged", "closed", "value", "notes"]
MAPPING = {
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
    "currency": "USD",
}


def deal_row(n: int) -> list[str]:
    stage = ("won", "lost", "engaging", "prospecting")[n % 4]
    closed = f"2017-{n % 12 + 1:02d}-{n % 28 + 1:02d}" if stage in ("won", "lost") else ""
    return [
        f"D{n:08d}",
        f"Agent {n % 35}",
        ("GTX Pro", "MG Special", "GTX Plus Basic")[n % 3],
        f"Account {n % 900}",
        stage,
        f"2016-{n % 12 + 1:02d}-{n % 28 + 1:02d}" if stage != "prospecting" else "",
        closed,
        f"{n % 9000}.{n % 100:02d}",
        f'free text, with a comma and "quotes" for deal {n}',
    ]


def write_csv(path: Path, *, rows: int | None = None, size: int | None = None) -> int:
    import csv

    count = 0
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        while (rows is None or count < rows) and (size is None or handle.tell() < size):
            writer.writerow(deal_row(count))
            count += 1
    return count


def write_xlsx(path: Path, rows: int) -> None:
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet("Deals")
    sheet.append(HEADER)
    for n in range(rows):
        sheet.append(deal_row(n))
    book.save(path)


# -- what each child process runs --------------------------------------------------------


def bare_csv(path: Path) -> int:
    import csv

    with path.open(newline="", encoding="utf-8") as handle:
        return sum(1 for _ in csv.reader(handle)) - 1


def bare_xlsx(path: Path) -> int:
    from openpyxl import load_workbook

    book = load_workbook(path, read_only=True)
    try:
        return sum(1 for _ in book.worksheets[0].iter_rows(values_only=True)) - 1
    finally:
        book.close()


def tabular_read(path: Path) -> int:
    from crm_tabular import open_table

    with open_table(path) as table:
        return sum(1 for _ in table.rows())


def tabular_map(path: Path) -> int:
    from crm_tabular import DuplicateFinder, Mapping, Rules, mapped_rows, open_table

    mapping = Mapping.from_json(MAPPING)
    rules = Rules(now=datetime(2018, 1, 1, tzinfo=UTC))
    finder = DuplicateFinder(("external_id",))
    ok = 0
    with open_table(path) as table:
        for row in mapped_rows(table, mapping, rules=rules, duplicates=finder):
            ok += row.ok
    return ok


def _resident() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize()


def _child(task: Callable[[Path], int], path: Path, out: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    # Imports before the clock and the memory baseline: each reader pays only its reading.
    import csv  # noqa: F401

    import openpyxl  # noqa: F401

    import crm_tabular  # noqa: F401

    before = _resident()
    started = time.perf_counter()
    rows = task(path)
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    out.put((rows, seconds, peak, max(0, peak - before)))


def measure(task: Callable[[Path], int], path: Path) -> tuple[int, float, int, int]:
    context = multiprocessing.get_context("spawn")
    out = context.Queue()
    process = context.Process(target=_child, args=(task, path, out))
    process.start()
    result = out.get(timeout=1800)
    process.join()
    return result  # type: ignore[no-any-return]


def report(label: str, path: Path, bare: Callable[[Path], int]) -> None:
    size = path.stat().st_size
    print(f"\n{label}: {path.name}, {size / 1e6:.1f} MB")
    print(
        f"  {'reader':<10} {'rows':>9} {'rows/s':>10} {'speed':>7} {'peak MB':>8} {'growth MB':>10}"
    )
    base = 0.0
    for name, task in (("bare", bare), ("read", tabular_read), ("read+map", tabular_map)):
        rows, seconds, peak, growth = measure(task, path)
        rate = rows / seconds
        base = base or rate
        print(
            f"  {name:<10} {rows:>9} {rate:>10.0f} {rate / base:>6.2f}x {peak / 1e6:>8.1f} "
            f"{growth / 1e6:>10.1f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--mb", type=float, default=50.0)
    parser.add_argument("--no-xlsx", action="store_true", help="CSV only (XLSX is slow to make)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="crm-bench-import-") as folder:
        work = Path(folder)
        by_rows = work / f"deals-{args.rows}-rows.csv"
        by_size = work / f"deals-{args.mb:g}-mb.csv"
        write_csv(by_rows, rows=args.rows)
        size_rows = write_csv(by_size, size=int(args.mb * 1e6))
        print("crm_tabular reading and mapping; speed is relative to the bare reader of the")
        print("same file; growth is the resident memory reading added to the process")
        report("CSV", by_rows, bare_csv)
        report("CSV", by_size, bare_csv)
        if not args.no_xlsx:
            for rows in (args.rows, size_rows):
                path = work / f"deals-{rows}-rows.xlsx"
                write_xlsx(path, rows)
                report("XLSX", path, bare_xlsx)


if __name__ == "__main__":
    main()
