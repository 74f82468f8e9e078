"""The in-memory fake for unit tests: the store over the kit's in-memory database (same
semantics as MongoDB, `crm_kit.memory_db`), optionally with the embedded database's
workarounds (the read index), so both profiles' code runs in unit tests."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import AsyncIterator, Sequence
from typing import Any

from crm_kit.filters import Filter
from crm_kit.memory_db import MemoryDatabase
from crm_kit.records import Duplicate

from ..config import DEALS
from ..domain.deal import Deal
from ..domain.queries import StageTotal
from .assemble import deals_store
from .documents import DEAL
from .model_cache import ModelCache
from .port import DealsStore


def memory_store(
    db: MemoryDatabase, *, workarounds: bool = False, models: ModelCache | None = None
) -> DealsStore:
    """`db.outbox` holds the CloudEvents written (encoded by `db.encode`)."""
    return deals_store(
        db, MemoryBackend(db), models or ModelCache(), db.hooks, workarounds=workarounds
    )


class MemoryBackend:
    def __init__(self, db: MemoryDatabase) -> None:
        self.db = db

    async def scan_deals(
        self, workspace_id: str | None, fields: Sequence[str]
    ) -> AsyncIterator[dict[str, Any]]:
        wanted = {"_id", *fields}
        for doc in list(self.db.collections[DEALS].values()):
            if doc.get("deleted_at") is not None:
                continue
            if workspace_id is not None and doc.get("workspace_id") != workspace_id:
                continue
            await asyncio.sleep(0)  # a real scan takes time: let writers interleave
            yield {k: copy.deepcopy(v) for k, v in doc.items() if k in wanted}

    async def stage_totals(self, workspace_id: str, where: Filter) -> list[StageTotal] | None:
        return None  # added up from the records

    async def existing_external_ids(self, workspace_id: str, ids: Sequence[str]) -> set[str]:
        wanted = set(ids)
        return {
            doc["external_id"]
            for doc in self.db.collections[DEALS].values()
            if doc.get("workspace_id") == workspace_id and doc.get("external_id") in wanted
        }

    async def external_id_owners(self, workspace_id: str, ids: Sequence[str]) -> dict[str, str]:
        wanted = set(ids)
        return {
            doc["external_id"]: doc["_id"]
            for doc in self.db.collections[DEALS].values()
            if doc.get("workspace_id") == workspace_id and doc.get("external_id") in wanted
        }

    def prepare_import(self, workspace_id: str, batch_id: str, deals: Sequence[Deal]) -> None:
        """Nothing to make ahead in memory."""

    async def import_deals(
        self, workspace_id: str, batch_id: str, deals: Sequence[Deal]
    ) -> list[Deal]:
        records = self.db.records(DEAL, workspace_id)
        refused = []
        for deal in deals:
            try:
                await records.insert(deal)
            except Duplicate:
                refused.append(deal)
        return refused

    async def repair_imports(self, workspace_id: str | None) -> int:
        return 0  # nothing is ever half-written in memory
