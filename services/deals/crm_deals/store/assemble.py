"""The store a service runs: the port over some records, with the embedded database's
read model (the read index) where the profile asks for the workarounds."""

from __future__ import annotations

from crm_kit.change_log import ChangeLog
from crm_kit.records import RecordSource
from crm_kit.writer import WriteHooks

from .indexed import IndexedRecordStore
from .model_cache import ModelCache
from .port import DealsStore
from .store import Backend, RecordStore


def deals_store(
    source: RecordSource,
    backend: Backend,
    models: ModelCache,
    hooks: WriteHooks,
    *,
    workarounds: bool,
    live: bool = True,
    changes: ChangeLog | None = None,
) -> DealsStore:
    """`live=False` keeps the read index unused until its event feed is subscribed;
    `changes`: the deals' change log, with which the index holds whole deals."""
    if workarounds:
        return IndexedRecordStore(source, backend, models, hooks, live=live, changes=changes)
    return RecordStore(source, backend, models)
