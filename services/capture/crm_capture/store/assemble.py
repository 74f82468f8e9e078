"""The store a service runs. Capture reads every hot record by `_id`, so the embedded
database needs no read model here: both database profiles get the same store."""

from __future__ import annotations

from crm_kit.records import RecordSource

from .port import CaptureStore
from .store import RecordStore


def capture_store(source: RecordSource) -> CaptureStore:
    return RecordStore(source)
