"""Memory and speed of an import run's reading side (services/imports/crm_imports/domain/
reading.py: read, map, check, de-duplicate and batch), on a generated companies CSV, under
tracemalloc (which slows the run several times: the rows/s here is not the service's
speed, only the peak is the figure). Not run by `make bench` (minutes at full size):

    PYTHONPATH=libs:services/imports .venv/bin/python bench/imports_service/memory.py [rows]

The peak is one batch plus the duplicate finder's digests (24 to 48 bytes per distinct
row and identity key: three per row here, the whole row, the external id and the domain).
"""

from __future__ import annotations

import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

from crm_imports.domain.reading import read_batches
from crm_kit.clock import utcnow
from crm_tabular import DuplicateFinder, Mapping, Rules

FIELDS = {
    "external_id": "Id",
    "name": "Name",
    "domain": "Domain",
    "size": "Employees",
    "industry": "Industry",
}


def main(rows: int) -> None:
    path = Path(tempfile.mkdtemp()) / "companies.csv"
    with path.open("w") as out:
        out.write("Id,Name,Domain,Employees,Industry\n")
        for n in range(rows):
            out.write(f"X{n},Company number {n},company{n}.example,{n % 500},Manufacturing\n")
    mapping = Mapping.from_json({"target": "companies", "fields": FIELDS})
    finder = DuplicateFinder(mapping.spec.identity)
    tracemalloc.start()
    started = time.perf_counter()
    sent = 0
    for batch in read_batches(
        path, mapping, rules=Rules(now=utcnow()), start_row=0, batch_rows=500, duplicates=finder
    ):
        sent += len(batch.rows)
    elapsed = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    size = path.stat().st_size / 1e6
    print(
        f"file {size:.1f} MB, {sent} rows in {elapsed:.1f} s under tracemalloc, "
        f"traced peak {peak / 1e6:.1f} MB ({peak / sent:.0f} bytes a row)"
    )
    path.unlink()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 700_000)
