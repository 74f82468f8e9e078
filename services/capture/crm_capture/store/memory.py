"""The in-memory fake for unit tests: the store over the kit's in-memory database (same
semantics as MongoDB, `crm_kit.memory_db`)."""

from __future__ import annotations

from crm_kit.memory_db import MemoryDatabase

from .assemble import capture_store
from .port import CaptureStore


def memory_store(db: MemoryDatabase) -> CaptureStore:
    """`db.outbox` holds the CloudEvents written (encoded by `db.encode`)."""
    return capture_store(db)
