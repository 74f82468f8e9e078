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

from collections.abc import AsyncIterator, Callable, Hashable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from crm_kit.change_log import ChangeLog
from crm_kit.filters import Filter
from crm_kit.index_snapshot import dataclass_codec
from crm_kit.pagination import BY_ID, Order, Page
from crm_kit.read_index import ReadIndex
from crm_kit.records import Held, RecordSource
from crm_kit.writer import WriteHooks, Written

from ..config import DEALS
from ..domain.deal import Deal
from ..domain.facts import ReportedDeal
from ..domain.queries import EVERY_DEAL, DealQuery, DealSelection
from .documents import DEAL, deal_from_doc, deal_to_doc
from .filters import deals_matching, order_of
from .index_data import Unsupported, WorkspaceDeals
from .index_entry import PROJECTION, Entry, live_entry_of, older
from .model_cache import ModelCache
from .port import Board
from .read_deals import held_read_deal, read_deal_from_doc
from .store import Backend, RecordStore, WorkspaceRecordStore

DealIndex = ReadIndex[Entry, WorkspaceDeals]
SELECT_ATTEMPTS = 3
# Bump when `index_entry.entry_of` derives an entry differently: older snapshots go unused.
ENTRY_VERSION = 1


def deal_index(
    source: RecordSource,
    backend: Backend,
    *,
    live: bool = True,
    projection: Sequence[str] = tuple(PROJECTION),
    changes: ChangeLog | None = None,
) -> DealIndex:
    """The read index over the database's deals: a workspace loads with one scan of its
    live deals read with `projection` (every workspace from one scan at the warm-up
    and the rebuilds; the bench narrows it to measure the entries'
    size); a deal is re-read by `_id` (None when deleted or another workspace's, which
    drops it)."""

    def scan(workspace: str) -> AsyncIterator[dict[str, Any]]:
        return backend.scan_deals(workspace, list(projection))

    async def scan_all() -> AsyncIterator[tuple[str, dict[str, Any]]]:
        # Every workspace's deals (the warm-up and rebuilds: one scan for all).
        async for doc in backend.scan_deals(None, [*projection, "workspace_id"]):
            yield str(doc["workspace_id"]), doc

    async def read(workspace: str, deal_id: str) -> dict[str, Any] | None:
        found = await source.records(DEAL, workspace).get([deal_id])
        return deal_to_doc(found[0]) if found else None

    async def read_many(workspace: str, deal_ids: list[str]) -> dict[str, dict[str, Any]]:
        found = await source.records(DEAL, workspace).get(deal_ids)
        return {deal.id: deal_to_doc(deal) for deal in found}

    return ReadIndex(
        scan=scan,
        scan_all=scan_all,
        read=read,
        read_many=read_many,
        entry_of=live_entry_of,
        new_entries=WorkspaceDeals,
        older=older,
        name="deal index",
        live=live,
        changes=changes,
        snapshot_codec=dataclass_codec(Entry, ENTRY_VERSION, read=",".join(sorted(projection))),
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
        hooks.subscribe(self._written, batch=self._written_batch)

    def for_workspace(self, workspace_id: str) -> IndexedWorkspaceStore:
        return IndexedWorkspaceStore(self, workspace_id, self.index)

    async def _written_batch(self, writes: Sequence[Written]) -> None:
        """An import batch's inserted deals (`WriteHooks.emit_batch`): installed as
        inserted, as `_written` installs each, in one `install` per workspace; any other
        write as `_written`."""
        known: dict[str, dict[str, dict[str, Any]]] = {}
        held: dict[str, bool] = {}
        expected: list[str] = []
        for written in writes:
            workspace = written.workspace_id
            if written.collection != DEALS or workspace is None:
                continue
            if workspace not in held:
                held[workspace] = self.index.loaded(workspace) is not None or self.index.complete
            if written.kind == "insert" and written.stored is not None and held[workspace]:
                deal_id = str(written.doc_id)
                known.setdefault(workspace, {})[deal_id] = _detached(dict(written.stored))
                expected.extend(event.id for event in written.events)
            else:
                await self._written(written)
        for workspace, docs in known.items():
            left = self.index.install(workspace, docs)
            if left:
                await self.index.refresh(workspace, left, known=docs)
        self.index.expect_events(expected)

    async def _written(self, written: Written) -> None:
        """Install a written deal as written (read-your-writes, no read); its own events
        need no re-read when the feed brings them."""
        if written.collection != DEALS or written.workspace_id is None:
            return
        deal_id = str(written.doc_id)
        held = self.index.loaded(written.workspace_id) is not None or self.index.complete
        if written.kind == "insert" and written.stored is not None and held:
            # An import batch's deal as inserted (`insert_batch`): the document is made
            # once, for the database and the index.
            known = {deal_id: _detached(dict(written.stored))}
            left = self.index.install(written.workspace_id, known)
            if left:
                await self.index.refresh(written.workspace_id, left, known=known)
        elif isinstance(written.record, Deal) and held:
            # A copy: the caller may go on changing its deal, and the index may hold this.
            # Only for a workspace the index holds or will (a complete index starts a new
            # workspace empty; else the refresh is a no-op): an import's thousand deals a
            # batch into a workspace no index holds spent ~0.2 CPU s copying them for
            # nothing, and without the copy a complete index re-reads each by `_id`.
            known = {deal_id: _detached(deal_to_doc(written.record))}
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

    async def get_deals(self, ids: Sequence[str]) -> list[Deal]:
        """Deals by id (the deal page, the `Deal` references of tasks and contacts) from
        the whole deals the index holds, current as of the change log it just followed:
        no `_id` read per deal. Only for a workspace already loaded (a look-up by id does
        not pay the scan of a whole workspace); a deal not held yet (new on another
        replica, or not asked for since the last rebuild) is read by `_id` and held."""
        if not self.index.holds_records or self.index.loaded(self.workspace_id) is None:
            return await super().get_deals(ids)
        if await self.index.entries(self.workspace_id) is None:  # follows the change log
            return await super().get_deals(ids)
        wanted = list(dict.fromkeys(ids))
        docs = await self.index.records(self.workspace_id, wanted)
        # The index holds live deals only (a deleted one has no entry, so no record).
        return [deal_from_doc(docs[i]) for i in wanted if i in docs]

    async def _held_deal(self, deal_id: str) -> Held | None:
        """A change of a deal starts from the whole deal the index holds, current as of
        the change log it just followed (one `_id` probe of an absent slot, shared by the
        requests of the moment, instead of reading the deal: FerretDB decodes a ~2 KB deal
        on every read, ~8x the probe's CPU). Read under the deal's lock, after which this
        process's writes of it are in the index (its write hook runs under that lock). As
        with a read, a replica's write that lands between the probe and this write is not
        seen: FerretDB isolates no concurrent updates across replicas either way. A deal
        not held (nobody viewed it since the index loaded) is read as before: the probe
        would not spare that read."""
        if not self.index.holds_records or not self.index.holds_record(self.workspace_id, deal_id):
            return None
        if await self.index.entries(self.workspace_id) is None:  # follows the change log
            return None

        async def held(deal_id: str) -> dict[str, Any] | None:
            docs = await self.index.records(self.workspace_id, [deal_id])
            return docs.get(deal_id)

        return held

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
        # A caller who sees every deal, with no owner or text, has the kept whole board.
        whole = narrowed is None or narrowed == EVERY_DEAL
        try:
            for attempt in range(SELECT_ATTEMPTS):
                totals, pages = data.board(
                    pipeline_id, stage_keys, per_stage, None if whole else where
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

    async def pipeline_report(
        self,
        pipeline_id: str,
        narrowed: DealSelection | None,
        key: Hashable,
        compute: Callable[[Sequence[ReportedDeal]], Any],
        merge: Callable[[Sequence[Any]], Any] | None = None,
    ) -> Any:
        """A dashboard's figures, kept by the entries (`WorkspaceDeals.report`) until a
        deal changes (this replica's write, the change log, an event, a rebuild's new
        entries), per visibility (the narrowed filter) and per `key` (the rest the figures
        depend on); with `merge`, in parts of which a change empties only its deal's."""
        data = await self.index.entries(self.workspace_id)
        # Kept for a caller's visibility (every deal, or the holders'); any other
        # narrowing (none is asked today) is computed by the store.
        visible_only = narrowed is None or narrowed == replace(
            EVERY_DEAL, visible_to=narrowed.visible_to
        )
        if data is None or not visible_only:
            return await super().pipeline_report(pipeline_id, narrowed, key, compute, merge)
        holders = None if narrowed is None else narrowed.visible_to
        return data.report(pipeline_id, holders, key, compute, merge)

    async def _fetch(
        self, chosen: list[Entry]
    ) -> tuple[list[Deal], list[str], Mapping[str, Mapping[str, Any]]]:
        """The chosen deals in order, the ids whose entry was behind the database, and the
        stored documents the deals were made from, by id."""
        if not chosen:
            return [], [], {}
        ids = [e.id for e in chosen]
        held = self.index.holds_records
        if held:
            docs = await self.index.records(self.workspace_id, ids)
        else:
            docs = {deal.id: deal_to_doc(deal) for deal in await self.get_deals(ids)}
        deals: list[Deal] = []
        behind: list[str] = []
        for entry in chosen:
            doc = docs.get(entry.id)
            # A held document is the one its entry was made from (`ReadIndex.records`):
            # never behind it, so not compared (an entry per card per board, ~20 % of
            # the deals service's CPU for a board at 100,000 deals).
            if doc is None or (not held and live_entry_of(doc) != entry):
                behind.append(entry.id)
            if doc is not None:
                # A card or a list row rarely asks for a history: converted if it does;
                # a held document's deal is made once while it is held.
                deals.append(held_read_deal(doc) if held else read_deal_from_doc(doc))
        return deals, behind, docs


def _detached(doc: dict[str, Any]) -> dict[str, Any]:
    """A deal's document sharing nothing mutable with the deal it was made from: every
    container of `deal_to_doc` is new but the custom fields' list values, copied here (a
    deep copy cost ~4x as much, on every imported deal)."""
    custom = doc.get("custom_fields")
    if custom:
        doc["custom_fields"] = {k: list(v) if isinstance(v, list) else v for k, v in custom.items()}
    return doc
