"""The store on MongoDB (or FerretDB), writing through the kit's write path, and what only
the database can do for it: projected scans, the board's `$group` totals, bulk imports
whose events travel in one outbox document per batch; plus the indexes."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence
from typing import Any

from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.asynchronous.database import AsyncDatabase

from crm_kit.change_log import journal_on
from crm_kit.filters import Filter
from crm_kit.held_keys import HeldKeys
from crm_kit.outbox import OUTBOX, PENDING, OutboxRelay
from crm_kit.records import MongoSource, pending_events
from crm_kit.writer import DocumentWriter, Written, one_by_one

from ..config import DEALS, IMPORT_BATCHES, OUTBOX_COLLECTIONS, PIPELINES
from ..domain.deal import Deal
from ..domain.queries import StageTotal
from .assemble import deals_store
from .documents import slim_deal_doc
from .model_cache import ModelCache
from .pipeline_cache import PipelineCache
from .port import DealsStore
from .store import RecordStore

log = logging.getLogger(__name__)

Doc = dict[str, Any]
# An import batch holds its deals' events here until the deals are in (`import_deals`).
HELD = "held_events"
# Up to this many external ids are looked up with `$in`; more, with one projected scan.
EXTERNAL_ID_LOOKUP = 100
# Import batches' documents made ahead (`prepare_import`) kept at most (a batch whose
# insert never came is dropped first), as the writer keeps their events and entries.
PREPARED_HELD = 4


def mongo_store(
    writer: DocumentWriter, *, index: bool = True, live: bool = True, change_log: bool = True
) -> DealsStore:
    """The store writing through `writer` (which knows the database profile); with the
    profile's workarounds, the read index serves its lists unless `index` is off, and
    holds whole deals checked against their change log unless `change_log` is off."""
    workarounds = writer.profile.workarounds and index
    changes = None
    if workarounds and change_log:
        # The read index holds whole deals, checked against this journal per request.
        changes = journal_on(writer.db, writer.hooks)(DEALS)
    elif writer.profile.workarounds and change_log:
        # A writer without the index (an importer, a loader) journals its writes too: an
        # index started from its snapshot (`crm_kit.index_snapshot`) learns of them from
        # the log alone, whether or not any service ran meanwhile.
        journal = journal_on(writer.db, writer.hooks)
        journal(DEALS)
        journal(PIPELINES)
    store = deals_store(
        MongoSource(writer),
        MongoBackend(writer),
        ModelCache(),
        writer.hooks,
        workarounds=workarounds,
        live=live,
        changes=changes,
    )
    if changes is not None and isinstance(store, RecordStore):
        # Pipelines held too, checked against a journal of their own.
        cache = PipelineCache(journal_on(writer.db, writer.hooks)(PIPELINES))
        writer.hooks.subscribe(cache.on_write, batch=one_by_one(cache.on_write))
        store.pipeline_cache = cache
    return store


class MongoBackend:
    def __init__(self, writer: DocumentWriter) -> None:
        self.writer = writer
        self.db = writer.db
        # The embedded database scans for any filter but `_id`: external ids are answered
        # from a per-process read model there (`ExternalIds`); MongoDB's index answers.
        self.external_ids = ExternalIds(self.db) if writer.profile.workarounds else None
        if self.external_ids is not None:
            writer.hooks.subscribe(
                self.external_ids.on_write, batch=one_by_one(self.external_ids.on_write)
            )
        # Import batches' documents made ahead, by batch id: the deals (the objects
        # themselves) and their documents.
        self._prepared: dict[str, tuple[tuple[Deal, ...], list[Doc]]] = {}

    async def scan_deals(
        self, workspace_id: str | None, fields: Sequence[str]
    ) -> AsyncIterator[Doc]:
        query: Doc = {"deleted_at": None}
        if workspace_id is not None:
            query["workspace_id"] = workspace_id
        cursor = self.db[DEALS].find(query, dict.fromkeys(fields, 1), batch_size=2000)
        async for doc in cursor:
            yield doc

    async def stage_totals(self, workspace_id: str, where: Filter) -> list[StageTotal] | None:
        """`$group` by (stage, currency). One accumulator per aggregation, run side by side:
        FerretDB v1.24 feeds the documents of a group to its first accumulator only (the
        others read an exhausted iterator and return 0), so three accumulators in one
        `$group` would silently report zero amounts."""
        match: Doc = {"$match": {**where.to_mongo(), "workspace_id": workspace_id}}
        key = {"stage_key": "$stage_key", "currency": "$currency"}

        async def one(name: str, expression: Any) -> dict[tuple[str, str], int]:
            stages: list[Doc] = [match, {"$group": {"_id": key, name: {"$sum": expression}}}]
            cursor = await self.db[DEALS].aggregate(stages)
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
            StageTotal(stage, currency, count, amounts.get(key, 0), weighted.get(key, 0))
            for key, count in counts.items()
            for stage, currency in [key]
        ]

    async def existing_external_ids(self, workspace_id: str, ids: Sequence[str]) -> set[str]:
        return set(await self.external_id_owners(workspace_id, ids))

    async def external_id_owners(self, workspace_id: str, ids: Sequence[str]) -> dict[str, str]:
        if self.external_ids is not None and len(ids) > EXTERNAL_ID_LOOKUP:
            return await self.external_ids.owners(workspace_id, ids)
        wanted = sorted(set(ids))
        query: Doc = {"workspace_id": workspace_id, "external_id": {"$in": wanted}}
        cursor = self.db[DEALS].find(query, {"external_id": 1})
        return {doc["external_id"]: doc["_id"] async for doc in cursor}

    def prepare_import(self, workspace_id: str, batch_id: str, deals: Sequence[Deal]) -> None:
        """Make ahead what `import_deals` of these deals makes before its first statement:
        their documents, and through `DocumentWriter.prepare_batch` their events encoded
        with their ids, their audit entries and the batch's sealed fields (pure CPU, ~a
        fifth of an imported deal's), so that an import batch makes them while the batch
        before it holds the write turn (`crm_kit.imports.InOrder`), not inside its own.
        The documents are used by the `import_deals` of the same batch id given the same
        deal objects in the same order (nothing changes a built deal in between), the
        writer's parts under its own conditions (the same task and keyed operation);
        otherwise they are made again there."""
        if not deals:
            return
        docs = [slim_deal_doc(deal, workspace_id) for deal in deals]
        while len(self._prepared) >= PREPARED_HELD:  # a batch whose insert never came
            del self._prepared[next(iter(self._prepared))]
        self._prepared[batch_id] = (tuple(deals), docs)
        self.writer.prepare_batch(
            DEALS,
            docs,
            [pending_events(deal) for deal in deals],
            batch_collection=IMPORT_BATCHES,
            batch_id=batch_id,
        )

    def _documents(self, workspace_id: str, batch_id: str, deals: Sequence[Deal]) -> list[Doc]:
        """The batch's documents: those made ahead for exactly these deal objects, else
        made now."""
        ready = self._prepared.pop(batch_id, None)
        if (
            ready is not None
            and len(ready[0]) == len(deals)
            and all(made is deal for made, deal in zip(ready[0], deals, strict=True))
        ):
            return ready[1]
        return [slim_deal_doc(deal, workspace_id) for deal in deals]

    async def import_deals(
        self, workspace_id: str, batch_id: str, deals: Sequence[Deal]
    ) -> list[Deal]:
        """The events of the whole batch go in ONE outbox document (`import_batches`),
        written first and held; the deals follow in one `insert_many`; then the batch is
        armed for the relay with only the events of the deals inserted
        (`DocumentWriter.insert_batch`). One outbox document instead of 1,000 keeps the
        relay's per-document clean-up writes off a bulk import. A crash before arming is
        repaired by `repair_imports`.

        The documents leave out null fields: FerretDB's insert costs about a quarter less
        without them (`bench/import/bytes.py`), and every reader takes absent for null
        (`deal_from_doc`, the read index's `entry_of`, a `{field: null}` filter, the
        audit's diff). Empty lists stay: `[]` is not null to the audit."""
        if not deals:
            return []
        docs = self._documents(workspace_id, batch_id, deals)
        refused = await self.writer.insert_batch(
            DEALS,
            docs,
            [pending_events(deal) for deal in deals],
            batch_collection=IMPORT_BATCHES,
            batch_id=batch_id,
            records=deals,
        )
        for deal in deals:
            if deal.id not in refused:
                deal.events_written()
        return [deal for deal in deals if deal.id in refused]

    async def _arm(self, batch: Doc, existing: set[str]) -> None:
        """Batches written before `insert_batch`: their events held apart (`HELD`)."""
        held = batch.get(HELD)
        if held is None:
            held = batch.get(OUTBOX) or []
        kept = [
            (stored, deal_id)
            for stored, deal_id in zip(held, batch["event_deals"], strict=True)
            if deal_id in existing
        ]
        armed = {
            OUTBOX: [stored for stored, _ in kept],
            "event_deals": [deal_id for _, deal_id in kept],
            HELD: [],
            PENDING: bool(kept),
            "armed": True,
        }
        await self.writer.update(IMPORT_BATCHES, batch["_id"], {"$set": armed})
        if kept:
            self.writer.wake(IMPORT_BATCHES, batch["_id"])

    async def repair_imports(self, workspace_id: str | None) -> int:
        """Arm the import batches a crash left held (of one workspace, or of all: at
        start-up), so their deals' events go out; returns how many."""
        repaired = 0
        query: Doc = {"armed": False}
        if workspace_id is not None:
            query["workspace_id"] = workspace_id
        async for batch in self.db[IMPORT_BATCHES].find(query, {OUTBOX: 0, HELD: 0}):
            if "collection" in batch:  # written by `insert_batch`
                await self.writer.arm_batch(IMPORT_BATCHES, batch["_id"])
            else:
                full = await self.db[IMPORT_BATCHES].find_one({"_id": batch["_id"]})
                ids = list(batch["event_deals"])
                cursor = self.db[DEALS].find({"_id": {"$in": ids}}, {"_id": 1})
                await self._arm(full or batch, {doc["_id"] async for doc in cursor})
            repaired += 1
        return repaired


class ExternalIds:
    """Per process and workspace: each deal's external id -> its id (the `ferretdb`
    profile's read model for import batches, which ask up to a thousand at once: a `$in`
    there scans every deal and evaluates the list per document). Held as
    `crm_kit.held_keys.HeldKeys` holds it: loaded by one projected scan the first time a
    workspace is asked, kept by this process's writes, scanned again in the background
    after `MAX_AGE_SECONDS`. An id found is read by `_id` before it is used; the unique
    index on the external id stays the guard (a deal another replica imported since the
    load is refused at insert)."""

    MAX_AGE_SECONDS = 300.0

    def __init__(self, db: Any) -> None:
        self.db = db
        self._held: HeldKeys[str, dict[str, str]] = HeldKeys(
            dict, self._scan, max_age=self.MAX_AGE_SECONDS, name="deal external ids"
        )

    async def on_write(self, written: Written) -> None:
        record = written.record
        if not isinstance(record, Deal) or not record.external_id:
            return
        for owners in self._held.held(written.workspace_id or ""):
            owners[record.external_id] = record.id

    async def owners(self, workspace_id: str, ids: Sequence[str]) -> dict[str, str]:
        known = await self._held.get(workspace_id)
        return {external_id: known[external_id] for external_id in ids if external_id in known}

    async def _scan(self, workspace_id: str, owners: dict[str, str]) -> None:
        query = {"workspace_id": workspace_id}
        cursor = self.db[DEALS].find(query, {"external_id": 1}, batch_size=5000)
        async for doc in cursor:
            if doc.get("external_id"):
                # A write made during the scan holds the newer answer.
                owners.setdefault(doc["external_id"], doc["_id"])


async def ensure_indexes(db: AsyncDatabase[Any]) -> None:
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
