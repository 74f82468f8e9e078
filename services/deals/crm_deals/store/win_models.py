"""Storage of the learned win models: one document per (workspace, pipeline) in
`win_models`, `_id` = `<workspace>:<pipeline>`, read by `_id` only (the one lookup
FerretDB's SQLite backend serves from an index) and cached per process.

Also the two reads training needs across documents: one projected scan of a pipeline's
deals, and (for the periodic retrain, across workspaces) the list of trained models. A
periodic retrain is claimed by a unique insert of a lease document per (workspace,
pipeline, period): exactly one replica gets it.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Protocol

from pymongo.asynchronous.database import AsyncDatabase

from crm_contracts.envelope import CloudEvent
from crm_kit.leases import take_lease, take_lease_in
from crm_kit.locks import DocLocks
from crm_kit.outbox import HIDE_OUTBOX, merge_update, outbox_update

from ..domain.win_model import model_id
from .matching import matches
from .memory import MemoryDatabase, apply_update
from .protocol import DEALS, WIN_MODELS, Doc

WIN_MODEL_LEASES = "win_model_leases"
CACHE_SECONDS = 60.0
# What training reads of a deal: its histories and the fields the features are built
# from (`win_features.DealHistory.from_doc`); no outbox.
TRAINING_FIELDS = {
    "_id": 1,
    "status": 1,
    "stage_key": 1,
    "stage_probability": 1,
    "created_at": 1,
    "closed_at": 1,
    "probability_model": 1,
    "stage_history": 1,
    "owner_id": 1,
    "owner_changes": 1,
    "amount_minor": 1,
    "currency": 1,
    "product": 1,
    "source": 1,
    "company_id": 1,
    "custom_fields": 1,
    "field_changes": 1,
    "activity_log": 1,
}


class ModelCache:
    """Model documents by `_id` (or their absence) for `ttl` seconds. The process that
    retrains drops its entry at once; other replicas see the new model within `ttl`."""

    def __init__(self, ttl: float = CACHE_SECONDS, clock: Callable[[], float] = time.monotonic):
        self.ttl = ttl
        self.clock = clock
        self._entries: dict[str, tuple[float, Doc | None]] = {}

    def get(self, key: str) -> tuple[bool, Doc | None]:
        entry = self._entries.get(key)
        if entry is None or entry[0] <= self.clock():
            return False, None
        return True, entry[1]

    def put(self, key: str, doc: Doc | None) -> None:
        self._entries[key] = (self.clock() + self.ttl, doc)

    def invalidate(self, key: str) -> None:
        self._entries.pop(key, None)


class WinModelStore(Protocol):
    workspace_id: str

    async def get_model(self, pipeline_id: str) -> Doc | None: ...

    async def save_model(self, doc: Doc, events: list[CloudEvent]) -> None:
        """Insert or replace the model document, its events in the same write."""
        ...

    async def training_deals(self, pipeline_id: str) -> list[Doc]:
        """The pipeline's (not deleted) deals, TRAINING_FIELDS only: one scan."""
        ...


class WinModelStores(Protocol):
    def for_workspace(self, workspace_id: str) -> WinModelStore: ...

    async def list_models(self) -> list[Doc]:
        """Every workspace's model: `workspace_id`, `pipeline_id`, `trained_at`."""
        ...

    async def take_lease(self, workspace_id: str, pipeline_id: str, period: int) -> bool:
        """True for exactly one caller per (workspace, pipeline, period)."""
        ...


def _lease_id(workspace_id: str, pipeline_id: str, period: int) -> str:
    return f"{model_id(workspace_id, pipeline_id)}:{period}"


LIST_FIELDS = {"workspace_id": 1, "pipeline_id": 1, "trained_at": 1}


# --- MongoDB ---------------------------------------------------------------------------------


class MongoWinModelStores:
    def __init__(self, db: AsyncDatabase, locks: DocLocks | None = None) -> None:
        self.db = db
        self.locks = locks or DocLocks()
        self.cache = ModelCache()

    def for_workspace(self, workspace_id: str) -> MongoWinModelStore:
        return MongoWinModelStore(self, workspace_id)

    async def list_models(self) -> list[Doc]:
        # A handful of documents (one per trained pipeline): the scan is cheap.
        return [doc async for doc in self.db[WIN_MODELS].find({}, LIST_FIELDS)]

    async def take_lease(self, workspace_id: str, pipeline_id: str, period: int) -> bool:
        return await take_lease(
            self.db[WIN_MODEL_LEASES],
            _lease_id(workspace_id, pipeline_id, period),
            datetime.now(UTC),
            workspace_id=workspace_id,
            pipeline_id=pipeline_id,
            period=period,
        )


class MongoWinModelStore:
    def __init__(self, stores: MongoWinModelStores, workspace_id: str) -> None:
        if not workspace_id:
            raise ValueError("a store is always scoped to a workspace")
        self.stores = stores
        self.workspace_id = workspace_id
        self._models = stores.db[WIN_MODELS]

    async def get_model(self, pipeline_id: str) -> Doc | None:
        key = model_id(self.workspace_id, pipeline_id)
        hit, doc = self.stores.cache.get(key)
        if not hit:
            doc = await self._models.find_one({"_id": key}, HIDE_OUTBOX)
            if doc is not None and doc.get("workspace_id") != self.workspace_id:
                doc = None
            self.stores.cache.put(key, doc)
        return copy.deepcopy(doc)

    async def save_model(self, doc: Doc, events: list[CloudEvent]) -> None:
        key = doc["_id"]
        fields = {k: v for k, v in doc.items() if k != "_id"}
        fields["workspace_id"] = self.workspace_id
        async with self.stores.locks.hold(DocLocks.key(WIN_MODELS, key)):
            await self._models.update_one(
                {"_id": key}, merge_update({"$set": fields}, outbox_update(events)), upsert=True
            )
        self.stores.cache.invalidate(key)

    async def training_deals(self, pipeline_id: str) -> list[Doc]:
        query = {"workspace_id": self.workspace_id, "pipeline_id": pipeline_id, "deleted_at": None}
        cursor = self.stores.db[DEALS].find(query, TRAINING_FIELDS)
        return [doc async for doc in cursor]


# --- in-memory fake ------------------------------------------------------------------------------


class MemoryWinModelStores:
    """Keeps its documents in the MemoryDatabase, so `MemoryDatabase.events()` sees the
    model's outbox like any other."""

    def __init__(self, database: MemoryDatabase, cache: ModelCache | None = None) -> None:
        self.database = database
        self.models = database.collections.setdefault(WIN_MODELS, {})
        self.leases = database.collections.setdefault(WIN_MODEL_LEASES, {})
        self.cache = cache or ModelCache()
        self.reads = 0  # model documents read from the "database" (not the cache)

    def for_workspace(self, workspace_id: str) -> MemoryWinModelStore:
        return MemoryWinModelStore(self, workspace_id)

    async def list_models(self) -> list[Doc]:
        return [{k: d.get(k) for k in LIST_FIELDS} for d in self.models.values()]

    async def take_lease(self, workspace_id: str, pipeline_id: str, period: int) -> bool:
        lease_id = _lease_id(workspace_id, pipeline_id, period)
        return take_lease_in(self.leases, lease_id, datetime.now(UTC), period=period)


class MemoryWinModelStore:
    def __init__(self, stores: MemoryWinModelStores, workspace_id: str) -> None:
        if not workspace_id:
            raise ValueError("a store is always scoped to a workspace")
        self.stores = stores
        self.workspace_id = workspace_id

    async def get_model(self, pipeline_id: str) -> Doc | None:
        key = model_id(self.workspace_id, pipeline_id)
        hit, doc = self.stores.cache.get(key)
        if not hit:
            self.stores.reads += 1
            stored = self.stores.models.get(key)
            doc = None
            if stored is not None and stored.get("workspace_id") == self.workspace_id:
                doc = {k: v for k, v in stored.items() if k not in HIDE_OUTBOX}
            self.stores.cache.put(key, copy.deepcopy(doc))
        return copy.deepcopy(doc)

    async def save_model(self, doc: Doc, events: list[CloudEvent]) -> None:
        key = doc["_id"]
        stored = self.stores.models.setdefault(key, {"_id": key})
        fields = {k: v for k, v in doc.items() if k != "_id"}
        fields["workspace_id"] = self.workspace_id
        apply_update(stored, merge_update({"$set": fields}, outbox_update(events)))
        self.stores.cache.invalidate(key)

    async def training_deals(self, pipeline_id: str) -> list[Doc]:
        query = {"workspace_id": self.workspace_id, "pipeline_id": pipeline_id, "deleted_at": None}
        return [
            {k: copy.deepcopy(d.get(k)) for k in TRAINING_FIELDS}
            for d in self.stores.database.collections[DEALS].values()
            if matches(d, query)
        ]


def win_model_stores_for(stores: Any) -> WinModelStores | None:
    """The model stores beside a deal store factory (the app builds its own once)."""
    from .indexed import IndexedStoreFactory
    from .mongo import MongoStoreFactory

    if isinstance(stores, IndexedStoreFactory):  # the read index wraps the real stores
        return win_model_stores_for(stores.stores)
    if isinstance(stores, MemoryDatabase):
        return MemoryWinModelStores(stores)
    if isinstance(stores, MongoStoreFactory):
        return MongoWinModelStores(stores.db, stores.locks)
    return None
