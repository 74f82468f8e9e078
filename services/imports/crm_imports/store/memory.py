"""The in-memory fake for unit tests (`crm_kit.memory_db`: MongoDB's semantics)."""

from __future__ import annotations

from crm_kit.memory_db import MemoryDatabase

from .port import ImportsStore
from .store import Store


def memory_store(db: MemoryDatabase) -> ImportsStore:
    """`db.outbox` holds the CloudEvents written (encoded by `db.encode`)."""
    return Store(db)
