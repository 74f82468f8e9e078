"""The contacts' read index at scale, in process (no database, no GraphQL): memory per
entry (tracemalloc) of the contact and interaction indexes, and the contact search over N
contacts through `DocIndex` (the joined-text narrowing, `crm_kit.text_column`) beside
the same filter evaluated entry by entry, in the same run; then a search's first
evaluation (count and first page by last name, as after a write emptied the memo) for
texts matching many contacts: the exact text hits and the kept order
(`crm_kit.order_column`) beside the whole filter over the hits and a sort of the
matches (the path before them).

    .venv/bin/python bench/scale/index_micro.py [--contacts 200000] [--interactions 1000000]
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import statistics
import sys
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
for path in ("libs", "services/contacts"):
    sys.path.insert(0, str(ROOT / path))

from crm_contacts.domain.queries import ContactQuery  # noqa: E402
from crm_contacts.store.documents import CONTACT, INTERACTION  # noqa: E402
from crm_contacts.store.filters import contacts_matching  # noqa: E402
from crm_contacts.store.indexed import CONTACT_FIELDS, INTERACTION_FIELDS  # noqa: E402
from crm_kit.doc_index import DocIndex, IndexedDoc  # noqa: E402
from crm_kit.filters import ALL  # noqa: E402
from crm_kit.index_entries import Entries  # noqa: E402
from crm_kit.memory_db import select  # noqa: E402
from crm_kit.pagination import Order  # noqa: E402
from crm_kit.writer import WriteHooks  # noqa: E402

FIRST = ["ada", "grace", "alan", "linus", "barbara", "ken", "dennis", "margaret", "john"]
BASE = datetime(2025, 1, 1, tzinfo=UTC)
SEARCHES = ["name1234", "name4321", "ada name9", "name77", "zzz", "grace name1"]
# Texts matching 1 % to 100 % of the contacts (first names, a last-name prefix, the domain).
BROAD = ["name1", "ada", "grace", "name", "example"]
BY_LAST_NAME = Order("last_name_key", descending=False)


def contact_doc(rng: random.Random, i: int) -> dict[str, Any]:
    first, last = rng.choice(FIRST), f"name{rng.randrange(20_000)}"
    return {
        "_id": f"{i:024x}", "workspace_id": "scale", "deleted_at": None,
        "search_text": f"{first} {last} {first}.{last}{i}@example.com",
        "company_name": f"Company {i % 10_000}", "owner_id": f"u{i % 200}",
        "first_name": first.title(), "last_name": last.title(), "lifecycle_stage": "lead",
        "tags": ["a", "b"], "company_id": f"co{i % 10_000:022x}",
        "created_at": BASE + timedelta(minutes=i), "updated_at": BASE + timedelta(minutes=i),
        "last_name_key": last, "version": 1,
    }  # fmt: skip


def interaction_doc(rng: random.Random, i: int, contacts: int) -> dict[str, Any]:
    contact = rng.randrange(contacts)
    return {
        # Ids as the driver decodes them: a string object per document.
        "_id": f"{i:024x}", "workspace_id": "scale", "contact_ids": [f"{contact:024x}"],
        "company_id": f"co{contact % 10_000:022x}", "removed_at": None,
        "occurred_at": BASE + timedelta(seconds=i), "revision": 0,
    }  # fmt: skip


def doc_index(kind: Any, fields: tuple[str, ...], posted: tuple[str, ...]) -> DocIndex[Any]:
    # Only its entries are used: no source.
    return DocIndex(None, kind, WriteHooks(), fields=fields, posted=posted, name="bench")  # type: ignore[arg-type]


def filled(index: DocIndex[Any], docs: Any) -> tuple[Entries[IndexedDoc], float]:
    """The entries of `docs`, and the bytes they hold (tracemalloc) per entry."""
    gc.collect()
    tracemalloc.start()
    entries: Entries[IndexedDoc] = index.index._new_entries()
    for doc in docs:
        entry = index._entry_of_doc(doc)
        assert entry is not None
        entries.put(entry)
    held, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return entries, held / max(len(entries), 1)


def timed(run: Any, rounds: int = 3) -> float:
    """Median seconds of `run()`."""
    seconds = []
    for _ in range(rounds):
        started = time.perf_counter()
        run()
        seconds.append(time.perf_counter() - started)
    return statistics.median(seconds)


def searches(entries: Entries[IndexedDoc]) -> None:
    print(f"  {'search':14} {'hits':>6} {'text column ms':>15} {'entry by entry ms':>18} ratio")
    for text in SEARCHES:
        where = contacts_matching(ContactQuery(first=25, text=text))

        def narrowed(where: Any = where) -> None:
            entries._memo.clear()  # a write came: the selection is computed again
            DocIndex._matching(entries, where, ())

        def walked(where: Any = where) -> None:
            [e for e in entries.entries.values() if where.matches(e.get())]

        narrowed()  # joins the text once (done again only after many changes)
        fast, slow = timed(narrowed), timed(walked, rounds=1)
        hits = len(DocIndex._matching(entries, where, ()))
        print(f"  {text:14} {hits:6} {fast * 1000:15.1f} {slow * 1000:18.0f} {slow / fast:5.0f}x")


def first_pages(index: DocIndex[Any], entries: Entries[IndexedDoc]) -> None:
    print(f"  {'first page':14} {'hits':>6} {'now ms':>8} {'before ms':>10} ratio")
    for text in BROAD:
        where = contacts_matching(ContactQuery(first=25, text=text))

        def now(where: Any = where) -> None:
            entries._memo.clear()  # a write came: the selection is computed again
            index.count(entries, where)
            index._ordered(entries, where, (), BY_LAST_NAME).first(26)

        def before(where: Any = where, text: str = text) -> None:
            # The whole filter over the joined text's hits, then a sort of the matches.
            column = entries.text_column(("text", ("search_text", "company_name")), None)  # type: ignore[arg-type]
            held = entries.entries
            hits = [held[i] for i in column.hits(text, ignore_case=False) if i in held]
            matching = [e for e in hits if where.matches(e.get())]
            select(matching, IndexedDoc.get, ALL, BY_LAST_NAME)[:26]

        now()  # builds the text and the order once (at install, in the service)
        fast, slow = timed(now), timed(before)
        hits = index.count(entries, where)
        print(f"  {text:14} {hits:6} {fast * 1000:8.1f} {slow * 1000:10.1f} {slow / fast:5.1f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=200_000)
    parser.add_argument("--interactions", type=int, default=1_000_000)
    args = parser.parse_args()
    rng = random.Random(14)
    print(f"index micro-benchmark (load average {os.getloadavg()})")
    contacts = doc_index(CONTACT, CONTACT_FIELDS, ("company_id", "owner_id"))
    entries, per_contact = filled(contacts, (contact_doc(rng, i) for i in range(args.contacts)))
    print(f"  contact entries: {len(entries):,}, {per_contact:.0f} B each")
    searches(entries)
    first_pages(contacts, entries)
    del entries
    interactions = doc_index(INTERACTION, INTERACTION_FIELDS, ("contact_ids", "company_id"))
    docs = (interaction_doc(rng, i, args.contacts) for i in range(args.interactions))
    held, per_interaction = filled(interactions, docs)
    print(f"  interaction entries: {len(held):,}, {per_interaction:.0f} B each")
    print(f"  (load average {os.getloadavg()})")


if __name__ == "__main__":
    main()
