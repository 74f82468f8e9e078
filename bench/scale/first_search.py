"""CPU of a contact search's first evaluation (its count and first page of 25 by last
name, the entries' memo cleared before each) over a kept load's own 200,000 contacts, in
the code tree given (this checkout, or a `git archive` copy of another commit: A/B in one
minute), for the probe's ten texts as a manager, a rep (visibility over three owners) and
by names only (case-insensitive). Medians of `--repeat` runs per text, process CPU.

    # once, while serve.py serves the load: the contact index's entries to a file
    .venv/bin/python bench/scale/first_search.py --reuse /tmp/scale-kept --size 100000 \
        --dump /tmp/contacts.pickle
    .venv/bin/python bench/scale/first_search.py --entries /tmp/contacts.pickle [--code DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import pickle
import resource
import statistics
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
TERMS = ("son", "ber", "ada", "ros", "ana", "ler", "ito", "sen", "vog", "zha")


def dump(reuse: str, size: int, path: str) -> None:
    root = HERE.parents[1]
    sys.path[:0] = [str(root / p) for p in ("libs", "services/contacts")]
    # `kept` imports the bench's loaders, which import bench/load's and bench/import's.
    sys.path[:0] = [str(HERE), str(root / "bench" / "load"), str(root / "bench" / "import")]
    import kept
    import search_check

    state = json.loads((kept.directory(reuse, size) / "stack.json").read_text())
    held = asyncio.run(search_check.load(state["mongodb_uri"]))
    with open(path, "wb") as out:
        pickle.dump([(e.id, e.values) for e in held], out)
    print(f"{len(held):,} contacts to {path}")


def measure(code: str, path: str, repeat: int) -> None:
    root = Path(code).resolve()
    sys.path[:0] = [str(root / p) for p in ("libs", "services/contacts", "bench/scale")]
    import search_check

    from crm_contacts.domain.queries import ContactQuery
    from crm_contacts.store.filters import contacts_matching
    from crm_kit.doc_index import IndexedDoc
    from crm_kit.pagination import Order

    with open(path, "rb") as source:
        rows = pickle.load(source)  # written by --dump from the load's own snapshot
    index = search_check.contact_index()
    held = [IndexedDoc(i, v, index.layout) for i, v in rows]
    entries: Any = index.index._new_entries()
    for entry in held:
        entries.put(entry)
    started = time.process_time()
    index.index._prepare(entries)  # type: ignore[misc]  # no event loop: built whole
    prepared = time.process_time() - started
    owners = sorted({e.value("owner_id") for e in held if e.value("owner_id")})
    gc.collect()
    gc.freeze()  # as the services do after their warm-up (crm_kit.serve)
    results: dict[str, list[float]] = {}
    for who in ("manager", "rep", "names"):
        per: list[float] = []
        for text in TERMS:
            query = ContactQuery(
                first=25,
                text=text,
                visible_to=frozenset(owners[:3]) if who == "rep" else None,
                names_only=who == "names",
            )
            where = contacts_matching(query)
            if who == "names":  # its text column (and postings) built first, not timed
                index.count(entries, where)
            runs = []
            for _ in range(repeat):
                entries._memo.clear()
                started = time.process_time()
                index.count(entries, where)
                index._ordered(entries, where, (), Order("last_name_key")).first(25)
                runs.append((time.process_time() - started) * 1000)
            per.append(statistics.median(runs))
        results[who] = per
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    print(f"{root}: prepare {prepared:.1f} CPU s, max RSS {rss} MB, load {os.getloadavg()}")
    for who, per in results.items():
        texts = " ".join(f"{t} {v:.1f}" for t, v in zip(TERMS, per, strict=True))
        print(f"  {who:8} median {statistics.median(per):.1f} ms, max {max(per):.1f}: {texts}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reuse")
    parser.add_argument("--size", type=int)
    parser.add_argument("--dump", help="write the served load's contact entries here")
    parser.add_argument("--entries", help="entries written by --dump")
    parser.add_argument("--code", default=str(HERE.parents[1]), help="code tree to measure")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    if args.dump:
        if not args.reuse or not args.size:
            parser.error("--dump needs --reuse and --size")
        dump(args.reuse, args.size, args.dump)
    elif args.entries:
        measure(args.code, args.entries, args.repeat)
    else:
        parser.error("--dump or --entries")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
