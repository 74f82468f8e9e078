"""The embedded database's read model (the `ferretdb` profile only): the store with its
list reads served by a per-process read index (`crm_kit.read_index` over
`WorkspaceDeals`).

FerretDB's SQLite backend evaluates every filter but `{_id: value}` over the whole
collection, so lists, counts, the board and the reports would scan the deals on every
request. Here they select, sort and page over the index and read only the chosen deals by
`_id`. The index keeps read-your-writes by hearing every write of a deal from the writer
(`WriteHooks`): it installs the written deal without a read and tells the event feed
(`crm_kit.index_feed`, which re-reads what other replicas wrote) to skip the write's own
events. A filter the index cannot evaluate, or a workspace it cannot load, goes to the
database as on MongoDB.

A fetched deal whose entry differs from the one it was selected by (written by another
replica, its event not applied yet) is re-read into the index and the selection runs
again, so a page is always ordered and filtered by the deals it returns.

With the deals' change log (`crm_kit.change_log`, journalled by every replica's writes)
the index also holds whole deals: a request follows the log (one `_id` look-up when
nothing changed, a re-read per deal another replica changed) and the board and lists take
their deals from memory instead of one `_id` read per card.

On MongoDB (the `mongodb` profile) none of this runs: its indexes answer. Drop the
embedded database, and this module goes with it.
"""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

from crm_kit.change_log import ChangeLog
from crm_kit.filters import Filter
from crm_kit.pagination import BY_ID, Order, Page
from crm_kit.read_index import ReadIndex
from crm_kit.records import RecordSource
from crm_kit.writer import WriteHooks, Written

from ..config import DEALS
from ..domain.deal import Deal
from ..domain.facts import ReportedDeal
from ..domain.queries import DealQuery, DealSelection
from .documents import DEAL, deal_from_doc, deal_to_doc
from .filters import deals_matching, order_of
from .index_data import Unsupported, WorkspaceDeals
from .index_entry import PROJECTION, Entry, live_entry_of, older
from .model_cache import ModelCache
from .port import Board
from .store import Backend, RecordStore, WorkspaceRecordStore

DealIndex = ReadIndex[Entry, WorkspaceDeals]
SELECT_ATTEMPTS = 3


def deal_index(
    source: RecordSource,
    backend: Backend,
    *,
    live: bool = True,
    projection: Sequence[str] = tuple(PROJECTION),
    changes: ChangeLog | None = None,
) -> DealIndex:
    """The read index over the database's deals: a workspace loads with one scan of its
    live deals read with `projection` (the bench narrows it to measure the entries'
    size); a deal is re-read by `_id` (None when deleted or another workspace's, which
    drops it)."""

    def scan(workspace: str) -> AsyncIterator[dict[str, Any]]:
        return backend.scan_deals(workspace, list(projection))

    async def read(workspace: str, deal_id: str) -> dict[str, Any] | None:
        found = await source.records(DEAL, workspace).get([deal_id])
        return deal_to_doc(found[0]) if found else None

    return ReadIndex(
        scan=scan,
        read=read,
        entry_of=live_entry_of,
        new_entries=WorkspaceDeals,
        older=older,
        name="deal index",
        live=live,
        changes=changes,
    )


class IndexedRecordStore(RecordStore):
    def __init__(
        self,
        source: RecordSource,
        backend: Backend,
        models: ModelCache,
        hooks: WriteHooks,
        *,
        live: bool = True,
        changes: ChangeLog | None = None,
    ) -> None:
        super().__init__(source, backend, models)
        self.index = deal_index(source, backend, live=live, changes=changes)
        hooks.subscribe(self._written)

    def for_workspace(self, workspace_id: str) -> IndexedWorkspaceStore:
        return IndexedWorkspaceStore(self, workspace_id, self.index)

    async def _written(self, written: Written) -> None:
        """Install a written deal as written (read-your-writes, no read); its own events
        need no re-read when the feed brings them."""
        if written.collection != DEALS or written.workspace_id is None:
            return
        deal_id = str(written.doc_id)
        loaded = self.index.loaded(written.workspace_id) is not None
        if isinstance(written.record, Deal) and loaded:
            # A copy: the caller may go on changing its deal, and the index may hold this.
            # Only for a workspace the index holds (else the refresh is a no-op): an
            # import's thousand deals a batch into a workspace nobody has listed yet
            # spent ~0.2 CPU s copying them for nothing.
            known = {deal_id: copy.deepcopy(deal_to_doc(written.record))}
            await self.index.refresh(written.workspace_id, [deal_id], known=known)
        else:
            await self.index.refresh(written.workspace_id, [deal_id])
        self.index.expect_events(event.id for event in written.events)


class IndexedWorkspaceStore(WorkspaceRecordStore):
    def __init__(self, root: RecordStore, workspace_id: str, index: DealIndex) -> None:
        super().__init__(root, workspace_id)
        self.index = index

    async def list_deals(self, query: DealQuery) -> Page[Deal]:
        where = deals_matching(query.selection)
        order = order_of(query.order)
        found = await self._select(where, order=order, query=query)
        if found is None:
            return await super().list_deals(query)
        rows, total = found
        return Page(rows[: query.first], total, len(rows) > query.first)

    async def count_deals(self, selection: DealSelection) -> int:
        data = await self.index.entries(self.workspace_id)
        if data is not None:
            try:
                return data.count(deals_matching(selection))
            except Unsupported:
                pass
        return await super().count_deals(selection)

    async def find_deals(self, selection: DealSelection) -> list[Deal]:
        found = await self._select(deals_matching(selection))
        return found[0] if found is not None else await super().find_deals(selection)

    async def _select(
        self, where: Filter, *, order: Order = BY_ID, query: DealQuery | None = None
    ) -> tuple[list[Deal], int] | None:
        """The deals `where` selects (a page of `query` when given, one more than asked)
        and how many it selects in all; None when the index cannot answer."""
        data = await self.index.entries(self.workspace_id)
        if data is None:
            return None
        after = query.after if query is not None else None
        limit = query.first + 1 if query is not None else None
        try:
            for attempt in range(SELECT_ATTEMPTS):
                chosen = data.select(where, order, after, limit)
                deals, behind, docs = await self._fetch(chosen)
                if not behind or attempt == SELECT_ATTEMPTS - 1:
                    break
                await self.index.refresh(self.workspace_id, behind)
                data = await self.index.entries(self.workspace_id) or data
            total = data.count(where) if query is not None else len(deals)
        except Unsupported:
            return None
        # Re-checked by the documents they were made from (no re-encoding per row).
        return [deal for deal in deals if where.matches(docs[deal.id].get)], total

    async def board(
        self,
        pipeline_id: str,
        stage_keys: Sequence[str],
        per_stage: int,
        narrowed: DealSelection | None = None,
    ) -> Board:
        data = await self.index.entries(self.workspace_id)
        if data is None:
            return await super().board(pipeline_id, stage_keys, per_stage, narrowed)
        where = self._of_pipeline(pipeline_id, narrowed)
        try:
            for attempt in range(SELECT_ATTEMPTS):
                totals, pages = data.board(
                    pipeline_id, stage_keys, per_stage, where if narrowed else None
                )
                chosen = [entry for page in pages.values() for entry in page]
                deals, behind, docs = await self._fetch(chosen)
                if not behind or attempt == SELECT_ATTEMPTS - 1:
                    break
                await self.index.refresh(self.workspace_id, behind)
                data = await self.index.entries(self.workspace_id) or data
        except Unsupported:
            return await super().board(pipeline_id, stage_keys, per_stage, narrowed)
        # Each fetched deal re-checked against its column (it may have moved meanwhile).
        by_id = {deal.id: deal for deal in deals}
        columns = {
            key: [
                by_id[e.id]
                for e in page
                if e.id in by_id and by_id[e.id].stage_key == key and where.matches(docs[e.id].get)
            ]
            for key, page in pages.items()
        }
        return totals, columns

    async def pipeline_facts(
        self, pipeline_id: str, narrowed: DealSelection | None = None
    ) -> Sequence[ReportedDeal]:
        data = await self.index.entries(self.workspace_id)
        if data is None:
            return await super().pipeline_facts(pipeline_id, narrowed)
        if narrowed is None:
            return data.of_pipeline(pipeline_id)
        try:
            return data.matching(self._of_pipeline(pipeline_id, narrowed))
        except Unsupported:
            return await super().pipeline_facts(pipeline_id, narrowed)

    async def _fetch(
        self, chosen: list[Entry]
    ) -> tuple[list[Deal], list[str], Mapping[str, Mapping[str, Any]]]:
        """The chosen deals in order, the ids whose entry was behind the database, and the
        stored documents the deals were made from, by id."""
        if not chosen:
            return [], [], {}
        ids = [e.id for e in chosen]
        if self.index.holds_records:
            docs = await self.index.records(self.workspace_id, ids)
        else:
            docs = {deal.id: deal_to_doc(deal) for deal in await self.get_deals(ids)}
        deals: list[Deal] = []
        behind: list[str] = []
        for entry in chosen:
            doc = docs.get(entry.id)
            if doc is None or live_entry_of(doc) != entry:
                behind.append(entry.id)
            if doc is not None:
                deals.append(deal_from_doc(doc))
        return deals, behind, docs
