"""Benchmark: CPU microseconds per company of the contacts service's import pieces, in one
process (no database, no NATS): what a companies import spends per row, measured by
`time.process_time` (less moved by the machine's load than a wall clock), the median of
several rounds of `--rows` companies.

- `build`: `CompanySink.build` of rows as `bench/import/sinks.py` generates them (the
  row's values read and validated, the company made with its event and identity keys);
- `index hook, stored`: the company read index's write hook hearing an import batch's
  insert (`insert_batch` gives the stored document) for a workspace the index holds;
  `index hook, record`: the same insert heard with the record only (re-made into its
  document, refreshed one at a time: what the hook did with every insert before);
- `made ahead`: what `DocumentWriter.prepare_batch` makes of a batch before its insert
  (the documents, the `company.created` events encoded with their ids, the audit
  entries, the batch's sealed fields): the part of the insert's CPU an import batch now
  spends while the batch before it holds the write turn.

    .venv/bin/python bench/import/company_pieces.py [--rows 1000] [--rounds 11]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
for sub in ("libs", "services/contacts"):
    sys.path.insert(0, str(ROOT / sub))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from sinks import company_row  # noqa: E402

from crm_contacts.config import AUDIT, COMPANIES, IMPORT_BATCHES  # noqa: E402
from crm_contacts.domain.company import Company  # noqa: E402
from crm_contacts.events.publish import encode  # noqa: E402
from crm_contacts.store.documents import COMPANY, company_to_doc  # noqa: E402
from crm_contacts.store.indexed import COMPANY_FIELDS  # noqa: E402
from crm_contacts.store.memory import memory_store  # noqa: E402
from crm_contacts.usecases.imports.companies import CompanySink  # noqa: E402
from crm_contacts.usecases.scope import Scope  # noqa: E402
from crm_contracts.import_batches import ImportRow  # noqa: E402
from crm_kit.context import RequestContext  # noqa: E402
from crm_kit.doc_index import DocIndex  # noqa: E402
from crm_kit.memory_db import MemoryDatabase  # noqa: E402
from crm_kit.profile import DatabaseProfile  # noqa: E402
from crm_kit.records import MongoRecords  # noqa: E402
from crm_kit.writer import DocumentWriter, Written  # noqa: E402

WS = "bench"


async def median_us(rounds: int, rows: int, step: Callable[[int], Awaitable[None]]) -> float:
    spent = []
    for r in range(rounds):
        start = time.process_time()
        await step(r)
        spent.append(time.process_time() - start)
    return statistics.median(spent) * 1e6 / rows


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=11)
    args = parser.parse_args()
    rows = [ImportRow(row=n + 2, values=company_row(n, True)) for n in range(args.rows)]
    db = MemoryDatabase()
    caller = RequestContext(WS, "bench", frozenset({"admin"}))
    sink = CompanySink(Scope(memory_store(db).for_workspace(WS), caller), "job-1")

    async def build(_: int) -> None:
        for n, row in enumerate(rows):
            await sink.build(row, f"c{n}")

    print(f"build               {await median_us(args.rounds, args.rows, build):7.1f} µs a company")

    companies: list[Company] = [(await sink.build(r, f"c{n}")).record for n, r in enumerate(rows)]
    index = DocIndex(
        db, COMPANY, db.hooks, fields=COMPANY_FIELDS, posted=("owner_id",), name="companies"
    )
    assert await index.entries(WS) is not None  # the workspace held, as in the service

    def hook(stored: bool) -> Callable[[int], Awaitable[None]]:
        async def step(r: int) -> None:
            for company in companies:
                company.version = r + 1  # each round newer than the last: installed
                doc = {**company_to_doc(company), "workspace_id": WS} if stored else None
                written = Written(
                    COMPANY.collection, company.id, WS, company, kind="insert", stored=doc
                )
                await index._written(written)

        return step

    async def documents(_: int) -> None:
        for company in companies:
            {**company_to_doc(company), "workspace_id": WS}

    made = await median_us(args.rounds, args.rows, documents)
    for label, stored in (("index hook, stored", True), ("index hook, record", False)):
        spent = await median_us(args.rounds, args.rows, hook(stored)) - (made if stored else 0)
        print(f"{label:19} {spent:7.1f} µs a company")
    print(f"(the stored document, made for the insert anyway: {made:.1f} µs, not counted)")

    writer = DocumentWriter(
        None,  # type: ignore[arg-type]  # made ahead: nothing is written
        profile=DatabaseProfile.named("ferretdb"),
        outbox_collections=[*AUDIT.collections, COMPANIES, IMPORT_BATCHES],
        encode=encode,
        audit=AUDIT,
    )
    records = MongoRecords(writer, COMPANY, WS)

    async def ahead(r: int) -> None:
        records.prepare_batch(companies, batch_collection=IMPORT_BATCHES, batch_id=f"b{r}")

    spent = await median_us(args.rounds, args.rows, ahead)
    print(f"made ahead          {spent:7.1f} µs a company (outside the write turn now)")


if __name__ == "__main__":
    asyncio.run(main())
