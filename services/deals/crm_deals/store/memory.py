"""In-memory fake of the store for unit tests.

It evaluates the same MongoDB-shaped filters, sorts and update operators as the Mongo
adapter (the subset this service uses), keeps the outbox fields on the documents, and
exposes `events()` so a test can see what would be published.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import AsyncIterator, Callable
from typing import Any

from crm_contracts.envelope import CloudEvent
from crm_kit.outbox import (
    OUTBOX,
    PENDING,
    WRITTEN_AT,
    merge_update,
    outbox_fields,
    outbox_update,
)

from .matching import _get, matches
from .mongo import board_from_docs, import_batch
from .protocol import DEALS, HANDOVERS, IMPORT_BATCHES, PIPELINES, Doc


class MemoryDatabase:
    def __init__(self) -> None:
        self.collections: dict[str, dict[str, Doc]] = {
            DEALS: {},
            PIPELINES: {},
            IMPORT_BATCHES: {},
            HANDOVERS: {},
        }

    def for_workspace(self, workspace_id: str) -> MemoryDealStore:
        return MemoryDealStore(self, workspace_id)

    def events(self, event_type: str | None = None) -> list[CloudEvent]:
        """Every event written to an outbox so far (the relay never drains the fake)."""
        found = []
        for docs in self.collections.values():
            for doc in docs.values():
                for stored in doc.get(OUTBOX, []):
                    event = CloudEvent.from_json(stored["body"])
                    if event_type is None or event.type == event_type:
                        found.append(event)
        return sorted(found, key=lambda e: e.time)


def apply_update(doc: Doc, update: Doc) -> None:
    for op, fields in update.items():
        for key, value in fields.items():
            current = doc.get(key)
            if op == "$set":
                doc[key] = copy.deepcopy(value)
            elif op == "$unset":
                doc.pop(key, None)
            elif op == "$inc":
                doc[key] = (current or 0) + value
            elif op == "$max":
                if current is None or value > current:
                    doc[key] = value
            elif op == "$push":
                items = value["$each"] if isinstance(value, dict) and "$each" in value else [value]
                doc[key] = [*(current or []), *copy.deepcopy(items)]
            elif op == "$addToSet":
                items = value["$each"] if isinstance(value, dict) and "$each" in value else [value]
                doc[key] = list(current or [])
                doc[key].extend(i for i in items if i not in doc[key])
            elif op == "$pullAll":
                doc[key] = [i for i in current or [] if i not in value]
            else:
                raise NotImplementedError(f"memory store: update operator {op}")


def _sort_key(sort: list[tuple[str, int]]) -> Callable[[Doc], Any]:
    def key(doc: Doc) -> tuple:
        parts = []
        for field, direction in sort:
            value = _get(doc, field)
            # None sorts first ascending, as in MongoDB; wrap to keep types comparable.
            part = (value is not None, value)
            parts.append(_Reversed(part) if direction < 0 else part)
        return tuple(parts)

    return key


class _Reversed:
    def __init__(self, value: Any) -> None:
        self.value = value

    def __lt__(self, other: _Reversed) -> bool:
        return other.value < self.value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Reversed) and other.value == self.value


def _public(doc: Doc) -> Doc:
    return {k: copy.deepcopy(v) for k, v in doc.items() if k not in (OUTBOX, PENDING, WRITTEN_AT)}


class MemoryDealStore:
    def __init__(self, database: MemoryDatabase, workspace_id: str) -> None:
        if not workspace_id:
            raise ValueError("a store is always scoped to a workspace")
        self.database = database
        self.workspace_id = workspace_id
        self._deals = database.collections[DEALS]
        self._pipelines = database.collections[PIPELINES]
        self._batches = database.collections[IMPORT_BATCHES]

    def _find(self, collection: dict[str, Doc], query: Doc) -> list[Doc]:
        scoped = {**query, "workspace_id": self.workspace_id}
        return [doc for doc in collection.values() if matches(doc, scoped)]

    async def get_pipeline(self, pipeline_id: str) -> Doc | None:
        found = self._find(self._pipelines, {"_id": pipeline_id})
        return _public(found[0]) if found else None

    async def list_pipelines(self) -> list[Doc]:
        found = sorted(self._find(self._pipelines, {}), key=_sort_key([("created_at", 1)]))
        return [_public(doc) for doc in found]

    async def insert_pipeline(self, doc: Doc, events: list[CloudEvent]) -> bool:
        if doc["_id"] in self._pipelines:
            return False
        self._pipelines[doc["_id"]] = copy.deepcopy(
            {**doc, "workspace_id": self.workspace_id, **outbox_fields(events)}
        )
        return True

    async def insert_handover(self, doc: Doc, events: list[CloudEvent]) -> bool:
        handovers = self.database.collections[HANDOVERS]
        if doc["_id"] in handovers:
            return False
        handovers[doc["_id"]] = copy.deepcopy(
            {**doc, "workspace_id": self.workspace_id, **outbox_fields(events)}
        )
        return True

    async def update_pipeline(
        self, pipeline_id: str, expected_version: int, fields: Doc, events: list[CloudEvent]
    ) -> bool:
        found = self._find(self._pipelines, {"_id": pipeline_id, "version": expected_version})
        if not found:
            return False
        fields = {k: v for k, v in fields.items() if k not in ("_id", "workspace_id")}
        apply_update(found[0], merge_update({"$set": fields}, outbox_update(events)))
        return True

    async def get_deal(self, deal_id: str) -> Doc | None:
        found = self._find(self._deals, {"_id": deal_id, "deleted_at": None})
        return _public(found[0]) if found else None

    async def get_deals(self, deal_ids: list[str]) -> list[Doc]:
        return [
            _public(d)
            for d in self._find(self._deals, {"_id": {"$in": deal_ids}, "deleted_at": None})
        ]

    async def insert_deal(self, doc: Doc, events: list[CloudEvent]) -> None:
        self._deals[doc["_id"]] = copy.deepcopy(
            {**doc, "workspace_id": self.workspace_id, **outbox_fields(events)}
        )

    async def insert_deals(self, batch_id: str, items: list[tuple[Doc, list[CloudEvent]]]) -> int:
        if not items:
            return 0
        batch = import_batch(self.workspace_id, batch_id, items)
        self._batches[batch_id] = batch
        inserted: set[str] = set()
        for doc, _ in items:
            if doc["_id"] in self._deals or self._find(
                self._deals, {"external_id": doc.get("external_id")}
            ):
                continue
            self._deals[doc["_id"]] = copy.deepcopy({**doc, "workspace_id": self.workspace_id})
            inserted.add(doc["_id"])
        self._arm(batch, inserted)
        return len(inserted)

    def _arm(self, batch: Doc, existing: set[str]) -> None:
        kept = [
            (stored, deal_id)
            for stored, deal_id in zip(batch[OUTBOX], batch["event_deals"], strict=True)
            if deal_id in existing
        ]
        batch[OUTBOX] = [stored for stored, _ in kept]
        batch["event_deals"] = [deal_id for _, deal_id in kept]
        batch[PENDING] = bool(kept)
        batch["armed"] = True

    async def repair_import_batches(self) -> int:
        found = self._find(self._batches, {"armed": False})
        for batch in found:
            self._arm(batch, {d["_id"] for d in self._find(self._deals, {})})
        return len(found)

    async def existing_external_ids(self, external_ids: list[str]) -> set[str]:
        wanted = set(external_ids)
        return {
            d["external_id"] for d in self._find(self._deals, {}) if d.get("external_id") in wanted
        }

    async def update_deal(
        self, deal_id: str, expected: Doc, update: Doc, events: list[CloudEvent]
    ) -> bool:
        found = self._find(self._deals, {"_id": deal_id, "deleted_at": None, **expected})
        if not found:
            return False
        apply_update(found[0], merge_update(update, outbox_update(events)))
        return True

    async def find_deals(
        self, query: Doc, sort: list[tuple[str, int]], limit: int | None
    ) -> list[Doc]:
        found = self._find(self._deals, {**query, "deleted_at": None})
        if sort:
            found.sort(key=_sort_key(sort))
        if limit is not None:
            found = found[:limit]
        return [_public(doc) for doc in found]

    async def count_deals(self, query: Doc) -> int:
        return len(self._find(self._deals, {**query, "deleted_at": None}))

    async def scan_deals(self, projection: dict[str, int]) -> AsyncIterator[Doc]:
        for doc in self._find(self._deals, {"deleted_at": None}):
            await asyncio.sleep(0)  # a real scan takes time: let writers interleave
            yield {k: copy.deepcopy(v) for k, v in doc.items() if k == "_id" or k in projection}

    async def stage_totals(self, pipeline_id: str) -> list[Doc]:
        totals, _ = await self.board(pipeline_id, [], 0)
        return totals

    async def board(
        self, pipeline_id: str, stage_keys: list[str], per_stage: int, where: Doc | None = None
    ) -> tuple[list[Doc], dict[str, list[Doc]]]:
        docs = await self.find_deals({"pipeline_id": pipeline_id, **(where or {})}, [], None)
        return board_from_docs(docs, stage_keys, per_stage)
