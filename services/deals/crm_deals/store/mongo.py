"""MongoDB adapter (PyMongo async), coded to the FerretDB v1 subset."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError

from crm_contracts.envelope import CloudEvent
from crm_kit.locks import DocLocks
from crm_kit.mongo import isolates_updates
from crm_kit.outbox import (
    HIDE_OUTBOX,
    OUTBOX,
    PENDING,
    OutboxRelay,
    merge_update,
    outbox_fields,
    outbox_update,
)

from .matching import matches
from .protocol import DEALS, HANDOVERS, IMPORT_BATCHES, OUTBOX_COLLECTIONS, PIPELINES, Doc

NOT_DELETED = {"deleted_at": None}
BOARD_SORT = [("amount_minor", -1), ("_id", -1)]
# Concurrent by-`_id` reads of one `get_deals` call on FerretDB.
BY_ID_CONCURRENCY = 16


def board_from_docs(
    docs: list[Doc], stage_keys: list[str], per_stage: int
) -> tuple[list[Doc], dict[str, list[Doc]]]:
    """Board totals and first pages computed from the documents of one pipeline."""
    groups: dict[tuple[str, str], Doc] = {}
    by_stage: dict[str, list[Doc]] = {key: [] for key in stage_keys}
    for doc in docs:
        row = groups.setdefault(
            (doc["stage_key"], doc["currency"]),
            {
                "stage_key": doc["stage_key"],
                "currency": doc["currency"],
                "count": 0,
                "amount_minor": 0,
                "weighted_minor": 0,
            },
        )
        row["count"] += 1
        row["amount_minor"] += doc["amount_minor"]
        row["weighted_minor"] += doc["weighted_minor"]
        if doc["stage_key"] in by_stage:
            by_stage[doc["stage_key"]].append(doc)
    pages = {
        key: sorted(stage_docs, key=lambda d: (d["amount_minor"], d["_id"]), reverse=True)[
            :per_stage
        ]
        for key, stage_docs in by_stage.items()
    }
    return list(groups.values()), pages


async def ensure_indexes(db: AsyncDatabase) -> None:
    ws = ("workspace_id", ASCENDING)
    # One command per index: FerretDB v1.24 panics ("slice bounds out of range") when a
    # single createIndexes command re-declares several existing indexes.
    for model in (
        # The board: one column = one range on this prefix, sorted by amount.
        IndexModel(
            [
                ws,
                ("pipeline_id", 1),
                ("stage_key", 1),
                ("amount_minor", DESCENDING),
                ("_id", DESCENDING),
            ],
            name="board",
        ),
        # Scalar on purpose: FerretDB enforces unique indexes on scalars only.
        IndexModel([ws, ("external_id", 1)], name="external_id", unique=True),
        IndexModel([ws, ("status", 1), ("stale_at", 1)], name="stale"),
        IndexModel([ws, ("owner_id", 1)], name="owner"),
        IndexModel([ws, ("company_id", 1)], name="company"),
        IndexModel([ws, ("contact_ids", 1)], name="contacts"),
        IndexModel([ws, ("close_date", 1)], name="close_date"),
        IndexModel([ws, ("close_sort", 1), ("_id", 1)], name="close_sort"),
        IndexModel([ws, ("updated_at", -1), ("_id", -1)], name="updated"),
    ):
        await db[DEALS].create_indexes([model])
    await db[PIPELINES].create_indexes([IndexModel([ws, ("name", 1)], name="name")])
    # The importer writes without the runtime, so it declares the relay's index too.
    await OutboxRelay.ensure_indexes(db, OUTBOX_COLLECTIONS)


def import_batch(
    workspace_id: str, batch_id: str, items: list[tuple[Doc, list[CloudEvent]]]
) -> Doc:
    """The disarmed outbox document of one import batch (see DealStore.insert_deals)."""
    events = [(event, doc["_id"]) for doc, evs in items for event in evs]
    return {
        "_id": batch_id,
        "workspace_id": workspace_id,
        **outbox_fields([event for event, _ in events]),
        "event_deals": [deal_id for _, deal_id in events],
        PENDING: False,
        "armed": False,
    }


class MongoStoreFactory:
    def __init__(
        self, db: AsyncDatabase, locks: DocLocks | None = None, *, id_only: bool = False
    ) -> None:
        self.db = db
        self.locks = locks or DocLocks()
        self.id_only = id_only

    @classmethod
    async def create(cls, db: AsyncDatabase, locks: DocLocks | None = None) -> MongoStoreFactory:
        # `_id`-only reads and writes where the database does not isolate updates (FerretDB v1).
        return cls(db, locks, id_only=not await isolates_updates(db))

    def for_workspace(self, workspace_id: str) -> MongoDealStore:
        return MongoDealStore(self.db, workspace_id, self.locks, id_only=self.id_only)


class MongoDealStore:
    def __init__(
        self,
        db: AsyncDatabase,
        workspace_id: str,
        locks: DocLocks | None = None,
        *,
        id_only: bool = False,
    ) -> None:
        if not workspace_id:
            raise ValueError("a store is always scoped to a workspace")
        self.db = db
        self.id_only = id_only
        self.locks = locks or DocLocks()
        self.workspace_id = workspace_id
        self._deals = db[DEALS]
        self._pipelines = db[PIPELINES]

    def _scope(self, query: Doc) -> Doc:
        return {**query, "workspace_id": self.workspace_id}

    # --- pipelines ---

    async def _by_id(self, collection: Any, doc_id: str, query: Doc) -> Doc | None:
        """One document by id that also matches `query` (scoped to the workspace)."""
        scoped = self._scope(query)
        if not self.id_only:
            return await collection.find_one({**scoped, "_id": doc_id}, HIDE_OUTBOX)
        doc = await collection.find_one({"_id": doc_id}, HIDE_OUTBOX)
        return doc if doc is not None and matches(doc, scoped) else None

    async def get_pipeline(self, pipeline_id: str) -> Doc | None:
        return await self._by_id(self._pipelines, pipeline_id, {})

    async def list_pipelines(self) -> list[Doc]:
        cursor = self._pipelines.find(self._scope({}), HIDE_OUTBOX).sort([("created_at", 1)])
        return [doc async for doc in cursor]

    async def insert_pipeline(self, doc: Doc, events: list[CloudEvent]) -> bool:
        try:
            await self._pipelines.insert_one(
                {**doc, "workspace_id": self.workspace_id, **outbox_fields(events)}
            )
        except DuplicateKeyError:
            return False
        return True

    async def insert_handover(self, doc: Doc, events: list[CloudEvent]) -> bool:
        try:
            await self.db[HANDOVERS].insert_one(
                {**doc, "workspace_id": self.workspace_id, **outbox_fields(events)}
            )
        except DuplicateKeyError:
            return False
        return True

    async def update_pipeline(
        self, pipeline_id: str, expected_version: int, fields: Doc, events: list[CloudEvent]
    ) -> bool:
        fields = {k: v for k, v in fields.items() if k not in ("_id", "workspace_id")}
        async with self.locks.hold(f"{PIPELINES}:{pipeline_id}"):
            result = await self._pipelines.update_one(
                self._scope({"_id": pipeline_id, "version": expected_version}),
                merge_update({"$set": fields}, outbox_update(events)),
            )
        return result.modified_count == 1

    # --- deals ---

    async def get_deal(self, deal_id: str) -> Doc | None:
        return await self._by_id(self._deals, deal_id, NOT_DELETED)

    async def get_deals(self, deal_ids: list[str]) -> list[Doc]:
        if not deal_ids:
            return []
        if self.id_only:
            # Any other filter scans the collection on FerretDB: read by `_id`, a bounded
            # number at a time (a page of the read index is up to 200 deals).
            limit = asyncio.Semaphore(BY_ID_CONCURRENCY)

            async def one(deal_id: str) -> Doc | None:
                async with limit:
                    return await self.get_deal(deal_id)

            found = await asyncio.gather(*(one(i) for i in dict.fromkeys(deal_ids)))
            return [doc for doc in found if doc is not None]
        cursor = self._deals.find(
            self._scope({"_id": {"$in": deal_ids}, **NOT_DELETED}), HIDE_OUTBOX
        )
        return [doc async for doc in cursor]

    async def insert_deal(self, doc: Doc, events: list[CloudEvent]) -> None:
        await self._deals.insert_one(
            {**doc, "workspace_id": self.workspace_id, **outbox_fields(events)}
        )

    async def insert_deals(self, batch_id: str, items: list[tuple[Doc, list[CloudEvent]]]) -> int:
        if not items:
            return 0
        batch = import_batch(self.workspace_id, batch_id, items)
        await self.db[IMPORT_BATCHES].insert_one(batch)
        docs = [{**doc, "workspace_id": self.workspace_id} for doc, _ in items]
        failed: set[int] = set()
        try:
            await self._deals.insert_many(docs, ordered=False)
        except BulkWriteError as error:
            # Only duplicates (a concurrent or repeated import) are expected here.
            errors = error.details.get("writeErrors", [])
            if any(e.get("code") != 11000 for e in errors):
                raise
            failed = {int(e["index"]) for e in errors}
        inserted = {doc["_id"] for i, doc in enumerate(docs) if i not in failed}
        await self._arm(batch, inserted)
        return len(inserted)

    async def _arm(self, batch: Doc, existing: set[str]) -> None:
        kept = [
            (stored, deal_id)
            for stored, deal_id in zip(batch[OUTBOX], batch["event_deals"], strict=True)
            if deal_id in existing
        ]
        await self.db[IMPORT_BATCHES].update_one(
            {"_id": batch["_id"]},
            {
                "$set": {
                    OUTBOX: [stored for stored, _ in kept],
                    "event_deals": [deal_id for _, deal_id in kept],
                    PENDING: bool(kept),
                    "armed": True,
                }
            },
        )

    async def repair_import_batches(self) -> int:
        repaired = 0
        async for batch in self.db[IMPORT_BATCHES].find(self._scope({"armed": False})):
            ids = list(batch["event_deals"])
            cursor = self._deals.find(self._scope({"_id": {"$in": ids}}), {"_id": 1})
            await self._arm(batch, {doc["_id"] async for doc in cursor})
            repaired += 1
        return repaired

    async def existing_external_ids(self, external_ids: list[str]) -> set[str]:
        wanted = set(external_ids)
        if len(wanted) <= 100:
            query = self._scope({"external_id": {"$in": sorted(wanted)}})
        else:
            # One pass over the workspace's ids beats many `$in` queries for a big file.
            query = self._scope({})
        cursor = self._deals.find(query, {"external_id": 1, "_id": 0})
        return {doc["external_id"] async for doc in cursor if doc.get("external_id") in wanted}

    async def update_deal(
        self, deal_id: str, expected: Doc, update: Doc, events: list[CloudEvent]
    ) -> bool:
        query = {**NOT_DELETED, **expected}
        async with self.locks.hold(f"{DEALS}:{deal_id}"):
            if self.id_only:
                # Checked in Python under the lock, then written by `_id` (see isolates_updates).
                if await self._by_id(self._deals, deal_id, query) is None:
                    return False
                query = {}
            result = await self._deals.update_one(
                {"_id": deal_id, **(self._scope(query) if query else {})},
                merge_update(update, outbox_update(events)),
            )
        return result.matched_count == 1

    async def find_deals(
        self, query: Doc, sort: list[tuple[str, int]], limit: int | None
    ) -> list[Doc]:
        cursor = self._deals.find(self._scope({**query, **NOT_DELETED}), HIDE_OUTBOX)
        if sort:
            cursor = cursor.sort(sort)
        if limit is not None:
            cursor = cursor.limit(limit)
        return [doc async for doc in cursor]

    async def count_deals(self, query: Doc) -> int:
        return await self._deals.count_documents(self._scope({**query, **NOT_DELETED}))

    async def scan_deals(self, projection: dict[str, int]) -> AsyncIterator[Doc]:
        cursor = self._deals.find(self._scope(dict(NOT_DELETED)), projection, batch_size=2000)
        async for doc in cursor:
            yield doc

    async def stage_totals(self, pipeline_id: str, where: Doc | None = None) -> list[Doc]:
        """`$group` by (stage, currency). One accumulator per aggregation, run side by side:
        FerretDB v1.24 feeds the documents of a group to its first accumulator only (the
        others read an exhausted iterator and return 0), so three accumulators in one
        `$group` would silently report zero amounts."""
        match = {
            "$match": self._scope({"pipeline_id": pipeline_id, **(where or {}), **NOT_DELETED})
        }
        key = {"stage_key": "$stage_key", "currency": "$currency"}

        async def one(name: str, expression: Any) -> dict[tuple[str, str], int]:
            stages = [match, {"$group": {"_id": key, name: {"$sum": expression}}}]
            cursor = await self._deals.aggregate(stages)
            return {
                (row["_id"]["stage_key"], row["_id"]["currency"]): int(row[name])
                async for row in cursor
            }

        counts, amounts, weighted = await asyncio.gather(
            one("count", 1),
            one("amount_minor", "$amount_minor"),
            one("weighted", "$weighted_minor"),
        )
        return [
            {
                "stage_key": stage_key,
                "currency": currency,
                "count": count,
                "amount_minor": amounts.get((stage_key, currency), 0),
                "weighted_minor": weighted.get((stage_key, currency), 0),
            }
            for (stage_key, currency), count in counts.items()
        ]

    async def board(
        self, pipeline_id: str, stage_keys: list[str], per_stage: int, where: Doc | None = None
    ) -> tuple[list[Doc], dict[str, list[Doc]]]:
        narrowed = {"pipeline_id": pipeline_id, **(where or {})}
        if self.id_only:
            # FerretDB scans for any of these queries: one scan serves the whole board.
            cursor = self._deals.find(self._scope({**narrowed, **NOT_DELETED}), HIDE_OUTBOX)
            return board_from_docs([doc async for doc in cursor], stage_keys, per_stage)

        async def page(stage_key: str) -> list[Doc]:
            return await self.find_deals(
                {**narrowed, "stage_key": stage_key}, BOARD_SORT, per_stage
            )

        totals, *pages = await asyncio.gather(
            self.stage_totals(pipeline_id, where), *(page(k) for k in stage_keys)
        )
        return totals, dict(zip(stage_keys, pages, strict=True))
