"""Contact, company and interaction lists served by per-process read indexes (the
`ferretdb` profile, unless `CONTACTS_INDEX=off`): `crm_kit.doc_index` over each
collection, holding the stored fields the lists filter and sort by (`filters.py`).

Why: on FerretDB's SQLite backend any filter but `{_id: value}` reads the whole
collection, so every contacts page, search, timeline and total cost a scan (or two: the
total and the page) under the single writer. The indexes select, sort, count and page in
memory and read only the rows of the page, by `_id`.

Only the lists and counts are served here: the look-ups that writes depend on (duplicate
checks, a company's contacts on rename, a merge's interactions) still ask the database,
current on every replica at once where an index of another replica lags by an event's
latency (so does the interaction count a merge records). Each index is kept current by
this process's write hooks and by an event feed of the service's own events (`app.py`),
and rebuilt periodically.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, TypeVar

from crm_kit.change_log import ChangeLog, Journal
from crm_kit.doc_index import DocIndex, Narrow
from crm_kit.filters import Filter
from crm_kit.pagination import Cursor, Order, Page
from crm_kit.records import RecordSource
from crm_kit.writer import WriteHooks

from ..domain.company import Company
from ..domain.contact import Contact
from ..domain.interaction import Interaction
from ..domain.queries import CompanyQuery, ContactQuery, InteractionQuery
from .documents import COMPANY, CONTACT, INTERACTION
from .email_claims import ClaimedRecordStore, ClaimedWorkspaceStore
from .filters import SEARCHED, companies_matching, contacts_matching, timeline_of

# The stored fields each list filters and sorts by (`filters.py`, the orders of
# `domain/queries.py`); a filter naming another raises `UnindexedField`.
CONTACT_FIELDS = (
    "workspace_id", "deleted_at", "search_text", "company_name", "owner_id",
    # Searched instead of `search_text` by a caller who may not read email addresses.
    "first_name", "last_name",
    "lifecycle_stage", "tags", "company_id", "created_at", "updated_at", "last_name_key",
    "version",
)  # fmt: skip
# The search's text (`filters.SEARCHED`; the names-only search builds its own on first
# use) and the lists' orders (`ContactOrderField`), built as the entries load, not by the
# first request (~0.3 s and ~0.5 s each over 200,000 contacts).
CONTACT_ORDERS = ("last_name_key", "created_at", "updated_at")
COMPANY_FIELDS = (
    "workspace_id", "deleted_at", "search_text", "owner_id", "tags", "industry",
    "created_at", "updated_at", "name_key", "version",
)  # fmt: skip
INTERACTION_FIELDS = (
    "workspace_id", "contact_ids", "company_id", "removed_at", "occurred_at", "revision",
)  # fmt: skip
NEWEST_FIRST = Order("occurred_at", descending=True)
R = TypeVar("R")


class Paged(Protocol):
    first: int
    after: Cursor | None


class IndexedStore(ClaimedRecordStore):
    def __init__(
        self,
        source: RecordSource,
        hooks: WriteHooks,
        *,
        live: bool = True,
        journal: Journal | None = None,
    ) -> None:
        """`live=False` keeps the indexes unused until their event feeds are subscribed
        (`ReadIndex.go_live`); `journal` makes each collection's change log (the indexes
        then hold whole documents and serve pages and look-ups by id from them)."""
        super().__init__(source, hooks)

        def changes(collection: str) -> ChangeLog | None:
            return journal(collection) if journal is not None else None

        self.contact_index = DocIndex(
            source, CONTACT, hooks, fields=CONTACT_FIELDS, posted=("company_id", "owner_id"),
            name="contact index", live=live, changes=changes(CONTACT.collection),
            searched=[SEARCHED], sorted_by=CONTACT_ORDERS,
        )  # fmt: skip
        # Every company's document held from the start (~10,100 at 100,000 deals, a few
        # MB): a contacts page's companies are then never read by `_id`, not even by the
        # first search of a text after a start from the snapshots (FerretDB decodes each
        # document read, ~0.2 ms each).
        self.company_index = DocIndex(
            source, COMPANY, hooks, fields=COMPANY_FIELDS, posted=("owner_id",),
            name="company index", live=live, changes=changes(COMPANY.collection),
            hold_all=True,
        )  # fmt: skip
        self.interaction_index = DocIndex(
            source, INTERACTION, hooks, fields=INTERACTION_FIELDS,
            posted=("contact_ids", "company_id"), name="interaction index", live=live,
            changes=changes(INTERACTION.collection),
        )  # fmt: skip

    @property
    def indexes(self) -> tuple[DocIndex[Contact], DocIndex[Company], DocIndex[Interaction]]:
        return self.contact_index, self.company_index, self.interaction_index

    def for_workspace(self, workspace_id: str) -> IndexedWorkspaceStore:
        return IndexedWorkspaceStore(self, workspace_id)


class IndexedWorkspaceStore(ClaimedWorkspaceStore):
    def __init__(self, root: IndexedStore, workspace_id: str) -> None:
        super().__init__(
            root.source, workspace_id, root.claims, root.domain_claims, root.import_keys
        )
        self.root = root

    async def get_companies(self, ids: Sequence[str]) -> list[Company]:
        held = await self.root.company_index.get(self.workspace_id, ids)
        return held if held is not None else await super().get_companies(ids)

    async def get_contacts(self, ids: Sequence[str]) -> list[Contact]:
        held = await self.root.contact_index.get(self.workspace_id, ids)
        return held if held is not None else await super().get_contacts(ids)

    async def list_contacts(self, query: ContactQuery) -> Page[Contact]:
        narrow = [(name, (value,)) for name, value in _equalities(query) if value is not None]
        order = Order(query.order_field, query.descending)
        where = contacts_matching(query)
        page = await self._page(self.root.contact_index, where, order, query, narrow)
        return page if page is not None else await super().list_contacts(query)

    async def list_companies(self, query: CompanyQuery) -> Page[Company]:
        narrow = [("owner_id", (query.owner_id,))] if query.owner_id is not None else []
        order = Order(query.order_field, query.descending)
        where = companies_matching(query)
        page = await self._page(self.root.company_index, where, order, query, narrow)
        return page if page is not None else await super().list_companies(query)

    async def list_interactions(self, query: InteractionQuery) -> Page[Interaction]:
        narrow = []
        if query.contact_id is not None:
            narrow.append(("contact_ids", (query.contact_id,)))
        if query.company_id is not None:
            narrow.append(("company_id", (query.company_id,)))
        where = timeline_of(query)
        page = await self._page(self.root.interaction_index, where, NEWEST_FIRST, query, narrow)
        return page if page is not None else await super().list_interactions(query)

    async def _page(
        self, index: DocIndex[R], where: Filter, order: Order, query: Paged, narrow: Narrow
    ) -> Page[R] | None:
        """The page and total from the index; None when it cannot serve."""
        entries = await index.entries(self.workspace_id)
        if entries is None:
            return None
        first = query.first
        rows = await index.page(
            self.workspace_id, entries, where, order=order, after=query.after,
            limit=first + 1, narrow=narrow,
        )  # fmt: skip
        return Page(rows[:first], index.count(entries, where, narrow), len(rows) > first)


def _equalities(query: ContactQuery) -> list[tuple[str, str | None]]:
    return [("company_id", query.company_id), ("owner_id", query.owner_id)]
