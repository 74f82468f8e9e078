"""Small keyed documents of one workspace in one collection: company facts, win-model
training jobs and versions, forecast submissions, quotas, exchange rates.

`_id` = `<workspace>:<key>`: every single read and write is by `_id` (the one lookup
FerretDB's SQLite backend serves from an index); `scan` reads a workspace's documents of
the collection (these collections hold hundreds to a few thousand small documents per
workspace, read by reports and training, never on a per-deal hot path). Writes of an
existing document hold its lock (`crm_kit.locks.DocLocks`: FerretDB v1 does not isolate
concurrent updates of one document); `insert` is a unique insert (exactly one caller
wins, across replicas too).
"""

from __future__ import annotations

import copy
from typing import Any, Protocol

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from crm_kit.locks import DocLocks

from .matching import matches
from .memory import MemoryDatabase
from .protocol import Doc

COMPANY_FACTS = "company_facts"
WIN_MODEL_JOBS = "win_model_jobs"
WIN_MODEL_JOB_LEASES = "win_model_job_leases"
WIN_MODEL_VERSIONS = "win_model_versions"
FORECAST_SUBMISSIONS = "forecast_submissions"
QUOTAS = "quotas"
EXCHANGE_RATES = "exchange_rates"


class Documents(Protocol):
    workspace_id: str

    async def get(self, key: str) -> Doc | None: ...

    async def put(self, key: str, doc: Doc) -> None:
        """Insert or replace."""
        ...

    async def insert(self, key: str, doc: Doc) -> bool:
        """Unique insert: False when the key exists."""
        ...

    async def update(self, key: str, fields: Doc) -> bool:
        """`$set` fields of an existing document; False when it does not exist."""
        ...

    async def delete(self, key: str) -> bool: ...

    async def scan(self, query: Doc | None = None) -> list[Doc]:
        """The workspace's documents matching `query` (equality on stored fields)."""
        ...


class DocumentStores(Protocol):
    def collection(self, name: str, workspace_id: str) -> Documents: ...

    async def workspaces(self, name: str) -> list[str]:
        """Workspaces with at least one document in the collection."""
        ...


def _key(workspace_id: str, key: str) -> str:
    return f"{workspace_id}:{key}"


def _public(doc: Doc) -> Doc:
    return {k: v for k, v in doc.items() if k not in ("_id",)}


class MongoDocumentStores:
    def __init__(self, db: AsyncDatabase, locks: DocLocks | None = None) -> None:
        self.db = db
        self.locks = locks or DocLocks()

    def collection(self, name: str, workspace_id: str) -> MongoDocuments:
        return MongoDocuments(self, name, workspace_id)

    async def workspaces(self, name: str) -> list[str]:
        return list(await self.db[name].distinct("workspace_id"))


class MongoDocuments:
    def __init__(self, stores: MongoDocumentStores, name: str, workspace_id: str) -> None:
        if not workspace_id:
            raise ValueError("a store is always scoped to a workspace")
        self.stores = stores
        self.name = name
        self.workspace_id = workspace_id
        self._collection = stores.db[name]

    async def get(self, key: str) -> Doc | None:
        doc = await self._collection.find_one({"_id": _key(self.workspace_id, key)})
        if doc is None or doc.get("workspace_id") != self.workspace_id:
            return None
        return _public(doc)

    async def put(self, key: str, doc: Doc) -> None:
        full = {**doc, "_id": _key(self.workspace_id, key), "workspace_id": self.workspace_id}
        async with self.stores.locks.hold(DocLocks.key(self.name, full["_id"])):
            await self._collection.replace_one({"_id": full["_id"]}, full, upsert=True)

    async def insert(self, key: str, doc: Doc) -> bool:
        full = {**doc, "_id": _key(self.workspace_id, key), "workspace_id": self.workspace_id}
        try:
            await self._collection.insert_one(full)
        except DuplicateKeyError:
            return False
        return True

    async def update(self, key: str, fields: Doc) -> bool:
        doc_id = _key(self.workspace_id, key)
        async with self.stores.locks.hold(DocLocks.key(self.name, doc_id)):
            result = await self._collection.update_one({"_id": doc_id}, {"$set": fields})
        return result.matched_count > 0

    async def delete(self, key: str) -> bool:
        doc_id = _key(self.workspace_id, key)
        async with self.stores.locks.hold(DocLocks.key(self.name, doc_id)):
            result = await self._collection.delete_one({"_id": doc_id})
        return result.deleted_count > 0

    async def scan(self, query: Doc | None = None) -> list[Doc]:
        cursor = self._collection.find({**(query or {}), "workspace_id": self.workspace_id})
        return [_public(doc) async for doc in cursor]


class MemoryDocumentStores:
    def __init__(self, database: MemoryDatabase) -> None:
        self.database = database

    def collection(self, name: str, workspace_id: str) -> MemoryDocuments:
        return MemoryDocuments(self.database.collections.setdefault(name, {}), workspace_id)

    async def workspaces(self, name: str) -> list[str]:
        docs = self.database.collections.get(name, {}).values()
        return sorted({d["workspace_id"] for d in docs})


class MemoryDocuments:
    def __init__(self, docs: dict[str, Doc], workspace_id: str) -> None:
        if not workspace_id:
            raise ValueError("a store is always scoped to a workspace")
        self.docs = docs
        self.workspace_id = workspace_id

    async def get(self, key: str) -> Doc | None:
        doc = self.docs.get(_key(self.workspace_id, key))
        return _public(copy.deepcopy(doc)) if doc is not None else None

    async def put(self, key: str, doc: Doc) -> None:
        doc_id = _key(self.workspace_id, key)
        self.docs[doc_id] = copy.deepcopy({**doc, "_id": doc_id, "workspace_id": self.workspace_id})

    async def insert(self, key: str, doc: Doc) -> bool:
        if _key(self.workspace_id, key) in self.docs:
            return False
        await self.put(key, doc)
        return True

    async def update(self, key: str, fields: Doc) -> bool:
        doc = self.docs.get(_key(self.workspace_id, key))
        if doc is None:
            return False
        doc.update(copy.deepcopy(fields))
        return True

    async def delete(self, key: str) -> bool:
        return self.docs.pop(_key(self.workspace_id, key), None) is not None

    async def scan(self, query: Doc | None = None) -> list[Doc]:
        scoped = {**(query or {}), "workspace_id": self.workspace_id}
        return [_public(copy.deepcopy(d)) for d in self.docs.values() if matches(d, scoped)]


def document_stores_for(stores: Any) -> DocumentStores | None:
    """The document stores beside a deal store factory."""
    from .indexed import IndexedStoreFactory
    from .mongo import MongoStoreFactory

    if isinstance(stores, IndexedStoreFactory):
        return document_stores_for(stores.stores)
    if isinstance(stores, MemoryDatabase):
        return MemoryDocumentStores(stores)
    if isinstance(stores, MongoStoreFactory):
        return MongoDocumentStores(stores.db, stores.locks)
    return None
