"""The contact search of the read index against the plain filter, on a kept load's own
contacts: the contact index's snapshot (`crm_kit.index_snapshot`) read from the load's
FerretDB while `serve.py` serves it, the entries of workspace `scale` installed as the
service installs them (with their joined text and kept orders), then for every text and
order: the count and the first pages through `DocIndex` (the joined-text search by its
trigram postings, the rest of the filter over its hits, the kept order) beside the filter
run entry by entry and a sort of its matches (`memory_db.select`). Then again after
changing some entries (the text's postings told of each change, the orders' places
stale), and as a rep (the visibility filter) and by names only (the case-insensitive
search). Prints each first evaluation's CPU ms beside the entry-by-entry path's, and
exits 1 on the first difference.

    .venv/bin/python bench/scale/search_check.py --reuse /tmp/scale-kept --size 100000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
for path in ("libs", "services/contacts", "bench/load", "bench/import"):
    sys.path.insert(0, str(ROOT / path))
sys.path.insert(0, str(HERE))

import kept  # noqa: E402
from pymongo import AsyncMongoClient  # noqa: E402

from crm_contacts.domain.queries import ContactQuery  # noqa: E402
from crm_contacts.store.documents import CONTACT  # noqa: E402
from crm_contacts.store.filters import SEARCHED, contacts_matching  # noqa: E402
from crm_contacts.store.indexed import CONTACT_FIELDS, CONTACT_ORDERS  # noqa: E402
from crm_kit.doc_index import DocIndex, IndexedDoc  # noqa: E402
from crm_kit.filters import ALL, Filter  # noqa: E402
from crm_kit.index_entries import Entries  # noqa: E402
from crm_kit.index_snapshot import index_snapshots  # noqa: E402
from crm_kit.memory_db import select  # noqa: E402
from crm_kit.pagination import Order  # noqa: E402
from crm_kit.writer import WriteHooks  # noqa: E402

# The probe's terms, a two-letter one, one matching nearly every contact, none.
TEXTS = "son,ber,ada,ros,ana,ler,ito,sen,vog,zha,an,e,zzq"
PAGE = 25
PAGES = 3


def contact_index() -> DocIndex[Any]:
    # Only its entries and snapshot codec are used: no source.
    return DocIndex(
        None,  # type: ignore[arg-type]
        CONTACT,
        WriteHooks(),
        fields=CONTACT_FIELDS,
        posted=("company_id", "owner_id"),
        name="contact index",
        searched=[SEARCHED],
        sorted_by=CONTACT_ORDERS,
    )


async def load(uri: str) -> list[IndexedDoc]:
    client: AsyncMongoClient[Any] = AsyncMongoClient(uri)
    try:
        index = contact_index()
        loaded = await index_snapshots(client["crm_contacts"]).load(
            "contact index",
            index.index._codec,
        )
        if loaded is None:
            raise SystemExit("no contact index snapshot in this load (start serve.py once)")
        return list(loaded.workspaces["scale"])
    finally:
        await client.close()


def compare(
    index: DocIndex[Any], entries: Entries[IndexedDoc], where: Filter, label: str
) -> tuple[float, float]:
    """Checks every order; the CPU ms of the first evaluation (count and first page) by
    the index and entry by entry."""
    cpu_index = cpu_plain = 0.0
    for field in CONTACT_ORDERS:
        for descending in (False, True):
            order = Order(field, descending=descending)
            entries._memo.clear()
            started = time.process_time()
            count = index.count(entries, where)
            ranked = index._ordered(entries, where, (), order)
            first = ranked.first(PAGE)
            cpu_index += time.process_time() - started
            rows = ranked.first(PAGE * PAGES)
            started = time.process_time()
            matching = [e for e in entries.entries.values() if where.matches(e.get())]
            expected = select(matching, IndexedDoc.get, ALL, order)
            cpu_plain += time.process_time() - started
            same = (
                count == len(expected)
                and [e.id for e in first] == [e.id for e in expected[:PAGE]]
                and [e.id for e in rows] == [e.id for e in expected[: PAGE * PAGES]]
            )
            if not same:
                print(f"DIFFERENT: {label} by {field} desc={descending}: {count}, {len(expected)}")
                raise SystemExit(1)
    return cpu_index * 1000 / 6, cpu_plain * 1000 / 6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reuse", required=True)
    parser.add_argument("--size", type=int, required=True)
    parser.add_argument("--changed", type=int, default=2_000, help="entries changed")
    parser.add_argument("--texts", default=TEXTS, help="comma-separated search texts")
    args = parser.parse_args()
    root = kept.directory(args.reuse, args.size)
    state = json.loads((root / "stack.json").read_text())
    held = asyncio.run(load(state["mongodb_uri"]))
    index = contact_index()
    entries: Entries[IndexedDoc] = index.index._new_entries()
    for entry in held:
        entries.put(entry)
    index.index._prepare(entries)  # type: ignore[misc]
    owners = sorted({e.value("owner_id") for e in held if e.value("owner_id")})
    print(f"{len(held):,} contacts, {len(owners)} owners (load average {os.getloadavg()})")
    print(f"  {'search':28} {'count':>7} {'index CPU ms':>13} {'entry by entry':>15}")

    def run(stage: str) -> None:
        for text in args.texts.split(","):
            cases = {
                "manager": ContactQuery(first=PAGE, text=text),
                "rep": ContactQuery(
                    first=PAGE, text=text, visible_to=frozenset(owners[:3]) or None
                ),
                "names only": ContactQuery(first=PAGE, text=text, names_only=True),
            }
            for who, query in cases.items():
                where = contacts_matching(query)
                fast, slow = compare(index, entries, where, f"{stage} {who} {text!r}")
                count = index.count(entries, where)
                label = f"{stage}, {who}, {text!r}"
                print(f"  {label:28} {count:7} {fast:13.1f} {slow:15.1f}")

    run("as loaded")
    # Changed since the text and the orders were built: told to the text's postings,
    # stale in the orders.
    for n, entry in enumerate(held[: args.changed]):
        values = list(entry.values)
        at = entry.layout.positions
        if n % 3 == 0:
            values[at["deleted_at"]] = values[at["created_at"]]
        elif n % 3 == 1:
            values[at["last_name_key"]] = "aaa" + str(values[at["last_name_key"]] or "")
            values[at["search_text"]] = "zzq " + str(values[at["search_text"]] or "")
        else:
            entries.drop(entry.id)
            continue
        entries.put(replace(entry, values=tuple(values)))
    run(f"{args.changed} changed")
    print(f"same answers everywhere (load average {os.getloadavg()})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
