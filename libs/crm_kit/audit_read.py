"""Reading the audit log (`crm_kit.audit`): one workspace's entries, newest first, paged
with the kit's keyset cursors, over the same records API on MongoDB and in memory.

A record's trail first stores the entries its document still holds (the relay moves them
within moments of the write; a trail read at once would miss the newest change): an
insert keyed by the entry's id, so the relay's own move later changes nothing.

A bulk write's entries are stored packed, one document per batch (`audit.packed_entries`):
a page reads documents in (at, _id) order and gives a pack's entries in its place (a
record's trail, that record's one), each with a cursor inside the pack
(`audit.pack_cursor_id`), so the next page goes on within the pack or after it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .audit import AUDIT, PACK_SIZE, PACKED, PENDING_FIELD, is_pack, store_entries, unpacked
from .filters import And, Eq, Filter, Ne, Range
from .pagination import Cursor, Order, Page, encode_cursor
from .records import MongoSource, RecordSource, RecordType


def _entry(doc: Mapping[str, Any]) -> dict[str, Any]:
    return dict(doc)


AUDIT_ENTRY: RecordType[dict[str, Any]] = RecordType(AUDIT, _entry, _entry)
NEWEST_FIRST = Order("at", descending=True)


@dataclass(frozen=True)
class AuditQuery:
    """Which entries: all of a record's, or a workspace's by record type, actor and time
    (`since` inclusive, `until` exclusive)."""

    record_id: str | None = None
    record_type: str | None = None
    actor: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def where(self) -> Filter:
        parts: list[Filter | None] = [
            Eq("record_id", self.record_id) if self.record_id is not None else None,
            Eq("record_type", self.record_type) if self.record_type is not None else None,
            Eq("actor", self.actor) if self.actor is not None else None,
            Range("at", gte=self.since, lt=self.until)
            if self.since is not None or self.until is not None
            else None,
        ]
        return And(*parts)


def entry_cursor(entry: Mapping[str, Any]) -> str:
    return encode_cursor(entry["at"], str(entry.get("cursor_id") or entry["_id"]))


def _entries_of(
    doc: dict[str, Any], record_id: str | None, after: Cursor | None
) -> list[dict[str, Any]]:
    """A stored document's entries (a pack's: `record_id`'s only, when given), newest
    first, those a cursor minted inside the pack has passed left out."""
    if not is_pack(doc):
        return [doc]
    entries = unpacked(doc, record_id)
    if after is not None and after[1].startswith(f"{doc['_id']}/"):
        entries = [e for e in entries if e["cursor_id"] < after[1]]
    return entries


class AuditTrail:
    """One workspace's audit log."""

    def __init__(self, source: RecordSource, workspace_id: str) -> None:
        self.source = source
        self.workspace_id = workspace_id
        self._entries = source.records(AUDIT_ENTRY, workspace_id)

    async def page(
        self, query: AuditQuery, *, first: int, after: Cursor | None
    ) -> Page[dict[str, Any]]:
        if query.record_id is not None:
            await self._store_waiting(query.record_id)
        where = query.where()
        total = await self._entries.count(where)
        if query.record_id is None:  # a record is in a pack once; the log shows them all
            total += sum(size - 1 for size in await self._pack_sizes(where))
        items: list[dict[str, Any]] = []
        cursor = after
        while len(items) <= first:
            docs = await self._entries.find(
                where, order=NEWEST_FIRST, after=cursor, limit=first + 1
            )
            for doc in docs:
                items.extend(_entries_of(doc, query.record_id, after))
            if len(docs) <= first:
                break
            cursor = (docs[-1]["at"], str(docs[-1]["_id"]))
        return Page(items[:first], total, len(items) > first)

    async def _pack_sizes(self, where: Filter) -> list[int]:
        """How many entries each pack `where` selects holds (on the database, that field
        alone is read)."""
        packs = And(where, Ne(PACKED, None))
        if isinstance(self.source, MongoSource):
            query = And(Eq("workspace_id", self.workspace_id), packs).to_mongo()
            cursor = self.source.writer.db[AUDIT].find(query, {PACK_SIZE: 1})
            return [int(doc.get(PACK_SIZE) or 0) async for doc in cursor]
        return [int(doc.get(PACK_SIZE) or 0) for doc in await self._entries.find(packs)]

    async def _store_waiting(self, record_id: str) -> None:
        """The record's entries not yet moved by the relay (on the database)."""
        if not isinstance(self.source, MongoSource) or self.source.writer.audit is None:
            return
        db = self.source.writer.db
        for collection in self.source.writer.audit.collections:
            doc = await db[collection].find_one(
                {"_id": record_id}, {PENDING_FIELD: 1, "workspace_id": 1}
            )
            if doc is not None and doc.get("workspace_id") == self.workspace_id:
                await store_entries(db, doc.get(PENDING_FIELD) or [])
                return
