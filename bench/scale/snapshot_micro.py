"""How fast FerretDB gives a read index its entries: a scan of N small documents (what a
warm-up without a snapshot does) against a persisted snapshot of the same entries, a few
large compressed documents read by `_id` (`crm_kit.index_snapshot`), on one fresh FerretDB
in the same run. Prints wall seconds and CPU seconds of FerretDB and of this process for
the scan, the snapshot's save and its load (entries rebuilt into `Entries` each time),
per document and as ratios.

    .venv/bin/python bench/scale/snapshot_micro.py [--contacts 50000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, cast

ROOT = Path(__file__).resolve().parents[2]
for path in ("libs", "services/contacts"):
    sys.path.insert(0, str(ROOT / path))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import psutil  # noqa: E402
from index_micro import contact_doc  # noqa: E402
from pymongo import AsyncMongoClient  # noqa: E402

from crm_contacts.store.documents import CONTACT  # noqa: E402
from crm_contacts.store.indexed import CONTACT_FIELDS  # noqa: E402
from crm_kit.devstack import free_port, start_ferretdb  # noqa: E402
from crm_kit.doc_index import DocIndex, IndexedDoc  # noqa: E402
from crm_kit.index_entries import Entries  # noqa: E402
from crm_kit.index_snapshot import IndexSnapshots  # noqa: E402
from crm_kit.records import RecordSource  # noqa: E402
from crm_kit.writer import WriteHooks  # noqa: E402

BATCH = 1_000


def load_average() -> str:
    return "load average " + " ".join(f"{n:.2f}" for n in os.getloadavg())


async def measured(
    what: str, server: psutil.Process, work: Callable[[], Awaitable[Any]]
) -> tuple[Any, dict[str, float]]:
    me = psutil.Process()
    server_before, me_before = server.cpu_times(), me.cpu_times()
    started = time.perf_counter()
    result = await work()
    wall = time.perf_counter() - started
    server_after, me_after = server.cpu_times(), me.cpu_times()
    figures = {
        "wall": wall,
        "ferretdb": (server_after.user + server_after.system)
        - (server_before.user + server_before.system),
        "process": (me_after.user + me_after.system) - (me_before.user + me_before.system),
    }
    print(
        f"  {what}: {wall:.2f} s wall, FerretDB {figures['ferretdb']:.2f} CPU s, "
        f"this process {figures['process']:.2f} CPU s ({load_average()})",
        flush=True,
    )
    return result, figures


async def run(contacts: int, uri: str, server: psutil.Process) -> None:
    client: AsyncMongoClient[Any] = AsyncMongoClient(uri, tz_aware=True)
    db = client["snapshot_micro"]
    rng = random.Random(14)
    for start in range(0, contacts, BATCH):
        docs = [contact_doc(rng, i) for i in range(start, min(start + BATCH, contacts))]
        await db["contacts"].insert_many(docs)
    print(f"{contacts:,} contacts in FerretDB ({load_average()})", flush=True)
    index = DocIndex(
        cast(RecordSource, None),
        CONTACT,
        WriteHooks(),
        fields=CONTACT_FIELDS,
        posted=("company_id", "owner_id"),
        name="contact index",
    )
    entry_of = index._entry_of_doc
    codec = index.index._codec
    assert codec is not None

    async def scan() -> Entries[IndexedDoc]:
        entries: Entries[IndexedDoc] = Entries(index._postings)
        async for doc in db["contacts"].find({}):
            entry = entry_of(doc)
            if entry is not None:
                entries.put(entry)
        return entries

    entries, by_scan = await measured("scan of every document", server, scan)
    snapshots = IndexSnapshots(db["index_snapshots"])
    captured = {"scale": list(entries.entries.values())}

    async def save() -> Any:
        return await snapshots.save("contact index", codec, 1, captured)

    saved, _ = await measured("snapshot save", server, save)
    print(f"    {saved.chunks} chunks, {saved.bytes / 1e6:.1f} MB compressed", flush=True)

    async def load() -> Entries[IndexedDoc]:
        loaded = await snapshots.load("contact index", codec)
        assert loaded is not None
        fresh: Entries[IndexedDoc] = Entries(index._postings)
        for entry in loaded.workspaces["scale"]:
            fresh.put(entry)
        return fresh

    restored, by_load = await measured("snapshot load", server, load)
    assert restored.entries == entries.entries, "the snapshot does not give the scan's entries"
    per = 1e6 / contacts
    print(
        f"per document: scan FerretDB {by_scan['ferretdb'] * per:.0f} µs, this process "
        f"{by_scan['process'] * per:.0f} µs; snapshot load FerretDB "
        f"{by_load['ferretdb'] * per:.1f} µs, this process {by_load['process'] * per:.0f} µs"
    )
    for name in ("wall", "ferretdb", "process"):
        ratio = by_scan[name] / by_load[name] if by_load[name] > 0 else float("inf")
        print(f"scan / snapshot load, {name}: {ratio:.1f}x")
    await client.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--contacts", type=int, default=50_000)
    args = parser.parse_args()
    contacts = max(1_000, min(args.contacts, 500_000))
    with tempfile.TemporaryDirectory(prefix="crm-snapshot-micro-") as tmp:
        server = start_ferretdb(Path(tmp) / "ferretdb", free_port())
        try:
            asyncio.run(run(contacts, server.url, psutil.Process(server.process.pid)))
        finally:
            server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
