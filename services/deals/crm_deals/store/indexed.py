"""The store with list reads served by the read index (`crm_kit.read_index` over
`WorkspaceDeals`, built by `deal_index`).

A decorator of any `DealStore` (Mongo or the in-memory fake): writes go to the store and
then re-read the written deal into the index before returning (read-your-writes), and
tell the event feed (`crm_kit.index_feed`) to skip those writes' own events: the re-read
after the write already installed their effect (one read per move instead of two).
`find_deals`, `count_deals`, `stage_totals` and `board` select, sort and page over the
index and read only the chosen documents by `_id`. A query the index cannot evaluate, or a
workspace it cannot load, goes to the store as before.

A fetched document whose entry differs from the one it was selected by (written by
another replica, its event not applied yet) is re-read into the index and the selection
runs again, so a page is always ordered and filtered by the documents it returns.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

from crm_contracts.envelope import CloudEvent
from crm_kit.read_index import ReadIndex

from .index_data import WorkspaceDeals
from .index_entry import PROJECTION, Entry, entry_of
from .index_query import Unsupported, compile_query
from .matching import matches
from .protocol import DealStore, Doc, StoreFactory

DealIndex = ReadIndex[Entry, WorkspaceDeals]
SELECT_ATTEMPTS = 3


def deal_index(
    stores: StoreFactory, *, live: bool = True, projection: dict[str, int] = PROJECTION
) -> DealIndex:
    """The read index over `stores` (undecorated: its reads go straight to the database).
    A workspace loads with one scan of its live deals read with `projection` (the bench
    narrows it to measure the entries' size); a deal is re-read by `_id` (None when
    deleted or another workspace's, which drops it)."""

    def scan(workspace: str) -> AsyncIterator[Doc]:
        return stores.for_workspace(workspace).scan_deals(projection)

    async def read(workspace: str, deal_id: str) -> Doc | None:
        return await stores.for_workspace(workspace).get_deal(deal_id)

    return ReadIndex(
        scan=scan,
        read=read,
        entry_of=entry_of,
        new_entries=WorkspaceDeals,
        name="deal index",
        live=live,
    )


class IndexedStoreFactory:
    def __init__(self, stores: StoreFactory, index: DealIndex) -> None:
        self.stores = stores
        self.index = index

    def for_workspace(self, workspace_id: str) -> IndexedDealStore:
        return IndexedDealStore(self.stores.for_workspace(workspace_id), self.index)


class IndexedDealStore:
    def __init__(self, store: DealStore, index: DealIndex) -> None:
        self.store = store
        self.index = index
        self.workspace_id = store.workspace_id

    # --- pass-through ----------------------------------------------------------------------

    async def get_pipeline(self, pipeline_id: str) -> Doc | None:
        return await self.store.get_pipeline(pipeline_id)

    async def list_pipelines(self) -> list[Doc]:
        return await self.store.list_pipelines()

    async def insert_pipeline(self, doc: Doc, events: list[CloudEvent]) -> bool:
        return await self.store.insert_pipeline(doc, events)

    async def update_pipeline(
        self, pipeline_id: str, expected_version: int, fields: Doc, events: list[CloudEvent]
    ) -> bool:
        return await self.store.update_pipeline(pipeline_id, expected_version, fields, events)

    async def get_deal(self, deal_id: str) -> Doc | None:
        return await self.store.get_deal(deal_id)

    async def get_deals(self, deal_ids: list[str]) -> list[Doc]:
        return await self.store.get_deals(deal_ids)

    async def repair_import_batches(self) -> int:
        return await self.store.repair_import_batches()

    async def insert_handover(self, doc: Doc, events: list[CloudEvent]) -> bool:
        # Not a deal: the index never holds it, and the feed ignores its subject.
        return await self.store.insert_handover(doc, events)

    async def existing_external_ids(self, external_ids: list[str]) -> set[str]:
        return await self.store.existing_external_ids(external_ids)

    def scan_deals(self, projection: dict[str, int]) -> AsyncIterator[Doc]:
        return self.store.scan_deals(projection)

    # --- writes, then the index --------------------------------------------------------------

    async def _refresh(self, deal_ids: Sequence[str], events: Sequence[CloudEvent] = ()) -> None:
        """Re-read the written deals; then the feed skips the writes' own `events` (the
        re-read came after the write, so it holds their effect). Expected only once the
        re-read succeeded: a failed one leaves the events to the feed."""
        await self.index.refresh(self.workspace_id, deal_ids)
        self.index.expect_events(e.id for e in events)

    async def insert_deal(self, doc: Doc, events: list[CloudEvent]) -> None:
        await self.store.insert_deal(doc, events)
        await self._refresh([doc["_id"]], events)

    async def insert_deals(self, batch_id: str, items: list[tuple[Doc, list[CloudEvent]]]) -> int:
        inserted = await self.store.insert_deals(batch_id, items)
        # The events of deals that already existed are never published: expecting them
        # costs a bounded memo (`crm_kit.read_index.EXPECTED_EVENTS`), no read.
        await self._refresh(
            [doc["_id"] for doc, _ in items], [e for _, events in items for e in events]
        )
        return inserted

    async def update_deal(
        self, deal_id: str, expected: Doc, update: Doc, events: list[CloudEvent]
    ) -> bool:
        applied = await self.store.update_deal(deal_id, expected, update, events)
        # Refreshed even when the condition failed: the entry was behind the document.
        await self._refresh([deal_id], events if applied else ())
        return applied

    # --- reads from the index ----------------------------------------------------------------

    async def find_deals(
        self, query: Doc, sort: list[tuple[str, int]], limit: int | None
    ) -> list[Doc]:
        data, predicate = await self._plan(query)
        if data is None or predicate is None:
            return await self.store.find_deals(query, sort, limit)
        try:
            chosen = data.select(query, predicate, sort, limit)
        except Unsupported:
            return await self.store.find_deals(query, sort, limit)
        for _ in range(SELECT_ATTEMPTS - 1):
            docs, behind = await self._fetch(chosen)
            if not behind:
                return docs
            await self.index.refresh(self.workspace_id, behind)
            data = await self.index.entries(self.workspace_id) or data
            chosen = data.select(query, predicate, sort, limit)
        docs, _ = await self._fetch(chosen)
        return [doc for doc in docs if matches(doc, query)]

    async def count_deals(self, query: Doc) -> int:
        data, predicate = await self._plan(query)
        if data is None or predicate is None:
            return await self.store.count_deals(query)
        return data.count(query, predicate)

    async def stage_totals(self, pipeline_id: str) -> list[Doc]:
        data = await self.index.entries(self.workspace_id)
        if data is None:
            return await self.store.stage_totals(pipeline_id)
        totals, _ = data.board(pipeline_id, [], 0)
        return totals

    async def board(
        self, pipeline_id: str, stage_keys: list[str], per_stage: int, where: Doc | None = None
    ) -> tuple[list[Doc], dict[str, list[Doc]]]:
        data = await self.index.entries(self.workspace_id)
        if data is None:
            return await self.store.board(pipeline_id, stage_keys, per_stage, where)
        for attempt in range(SELECT_ATTEMPTS):
            totals, pages = data.board(pipeline_id, stage_keys, per_stage, where)
            chosen = [entry for page in pages.values() for entry in page]
            docs, behind = await self._fetch(chosen)
            if not behind or attempt == SELECT_ATTEMPTS - 1:
                break
            await self.index.refresh(self.workspace_id, behind)
            data = await self.index.entries(self.workspace_id) or data
        by_id = {doc["_id"]: doc for doc in docs}
        columns: dict[str, list[Doc]] = {}
        for key, page in pages.items():
            column = {"pipeline_id": pipeline_id, "stage_key": key, **(where or {})}
            columns[key] = [by_id[e.id] for e in page if matches(by_id.get(e.id, {}), column)]
        return totals, columns

    async def entries(self, pipeline_id: str) -> list[Entry] | None:
        """The index entries of a pipeline's live deals (the analytics' input), None when
        the index cannot serve the workspace."""
        data = await self.index.entries(self.workspace_id)
        if data is None:
            return None
        return data.matching({"pipeline_id": pipeline_id})

    async def _plan(self, query: Doc) -> tuple[WorkspaceDeals | None, Any]:
        data = await self.index.entries(self.workspace_id)
        if data is None:
            return None, None
        try:
            return data, compile_query(query)
        except Unsupported:
            return data, None

    async def _fetch(self, chosen: list[Entry]) -> tuple[list[Doc], list[str]]:
        """The chosen deals' documents in order, and the ids whose entry was behind."""
        if not chosen:
            return [], []
        found = {doc["_id"]: doc for doc in await self.store.get_deals([e.id for e in chosen])}
        docs: list[Doc] = []
        behind: list[str] = []
        for entry in chosen:
            doc = found.get(entry.id)
            if doc is None or entry_of(doc) != entry:
                behind.append(entry.id)
            if doc is not None:
                docs.append(doc)
        return docs, behind
