"""What FerretDB has acknowledged survives kill -9 of FerretDB, with the SQLite setting the
local stack runs it with (`crm_kit.devstack.sqlite_pragmas`: WAL, synchronous NORMAL,
which fsyncs the WAL at checkpoints rather than at every commit). A commit is in the WAL
file before FerretDB answers, so the death of the process loses nothing; only an OS crash
or a power loss could lose the last commits (README: Known limits of the embedded
database). A writer inserts, updates and inserts in batches without pause; FerretDB is
killed (SIGKILL) in the middle of it; restarted on the same files, it has every
acknowledged write.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from pymongo import MongoClient
from pymongo.errors import PyMongoError

from crm_kit.devstack import free_port, sqlite_pragmas, start_ferretdb

pytestmark = pytest.mark.integration

DATABASE = "durability"


class Writer(threading.Thread):
    """Writes until FerretDB goes away, recording what FerretDB acknowledged: each
    document inserted (alone or in a batch of 20) and each document's acknowledged update."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.client: MongoClient[Any] = MongoClient(
            url, serverSelectionTimeoutMS=2000, socketTimeoutMS=5000, retryWrites=False
        )
        self.inserted: list[str] = []
        self.updated: list[str] = []
        self.failed: BaseException | None = None

    def run(self) -> None:
        docs = self.client[DATABASE]["docs"]
        n = 0
        try:
            while True:
                n += 1
                if n % 10 == 0:
                    batch = [{"_id": f"b{n}-{k}", "v": 0, "pad": "x" * 500} for k in range(20)]
                    docs.insert_many(batch)
                    self.inserted.extend(doc["_id"] for doc in batch)
                    continue
                doc_id = f"d{n}"
                docs.insert_one({"_id": doc_id, "v": 0, "pad": "x" * 500})
                self.inserted.append(doc_id)
                docs.update_one({"_id": doc_id}, {"$set": {"v": 1}})
                self.updated.append(doc_id)
        except PyMongoError as error:
            self.failed = error  # FerretDB was killed
        finally:
            self.client.close()


def test_kill_9_of_ferretdb_loses_no_acknowledged_write() -> None:
    assert sqlite_pragmas() == ("synchronous(normal)",)  # what the stack runs with
    data = Path(tempfile.mkdtemp(prefix="crm-durability-"))
    try:
        server = start_ferretdb(data, free_port())
        assert "_pragma=synchronous(normal)" in " ".join(map(str, server.process.args))  # type: ignore[arg-type]
        writer = Writer(server.url)
        writer.start()
        wal = data / "sqlite" / f"{DATABASE}.sqlite-wal"
        deadline = time.monotonic() + 60
        while len(writer.inserted) < 1500 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert writer.is_alive(), writer.failed
        # WAL mode: commits go to this file, and into the database file only at checkpoints.
        assert wal.exists() and wal.stat().st_size > 0
        acknowledged = len(writer.inserted)
        server.process.kill()  # SIGKILL, the writer still writing
        server.process.wait()
        writer.join(30)
        assert not writer.is_alive() and writer.failed is not None
        assert len(writer.inserted) >= acknowledged >= 1500

        restarted = start_ferretdb(data, free_port())
        try:
            client: MongoClient[Any] = MongoClient(restarted.url)
            stored = {doc["_id"]: doc["v"] for doc in client[DATABASE]["docs"].find({}, {"v": 1})}
            client.close()
        finally:
            restarted.stop()
        missing = [doc_id for doc_id in writer.inserted if doc_id not in stored]
        assert missing == []
        not_updated = [doc_id for doc_id in writer.updated if stored[doc_id] != 1]
        assert not_updated == []
        # At most the one write in flight at the kill is there unacknowledged.
        assert len(stored) - len(writer.inserted) <= 20
    finally:
        shutil.rmtree(data, ignore_errors=True)
