"""The in-memory fake for unit tests: the store over the kit's in-memory database (same
semantics as MongoDB, `crm_kit.memory_db`), optionally with the embedded database's
workarounds, so both profiles' code runs in unit tests."""

from __future__ import annotations

from crm_kit.memory_db import MemoryDatabase

from .assemble import tasks_store
from .port import TasksStore


def memory_store(
    db: MemoryDatabase, *, workarounds: bool = False, index: bool = True
) -> TasksStore:
    """`db.outbox` holds the CloudEvents written (encoded by `db.encode`)."""
    return tasks_store(db, db.hooks, workarounds=workarounds, index=index)
