"""MongoDB adapter (PyMongo async API), coded to the subset FerretDB v1 supports."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable
from typing import Any

from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from crm_contracts.envelope import CloudEvent
from crm_kit.filters import bounds
from crm_kit.locks import DocLocks, hold_locks
from crm_kit.outbox import HIDE_OUTBOX, merge_update, outbox_fields, outbox_update
from crm_kit.pagination import keyset_filter, keyset_sort

from ..config import COMPANIES, CONTACTS, EMAIL_CLAIMS, INTERACTIONS, MERGES
from ..domain.model import Company, Contact, Interaction, MergeRecord, Page, utcnow
from .documents import (
    company_from_doc,
    company_to_doc,
    contact_from_doc,
    contact_to_doc,
    interaction_from_doc,
    interaction_to_doc,
    merge_from_doc,
    merge_to_doc,
)
from .protocol import (
    CompanyQuery,
    ContactQuery,
    Cursor,
    DomainTaken,
    EmailTaken,
    InteractionQuery,
)

_REGEX_SPECIAL = set("\\.^$|?*+()[]{}/")


def literal_regex(text: str) -> str:
    """A regex matching `text` literally. Only metacharacters are escaped: FerretDB's Go
    regexp engine rejects escapes of ordinary characters that Python's re.escape emits."""
    return "".join(f"\\{ch}" if ch in _REGEX_SPECIAL else ch for ch in text)


async def ensure_indexes(db: AsyncDatabase) -> None:
    ws = ("workspace_id", ASCENDING)
    contacts, companies, interactions = db[CONTACTS], db[COMPANIES], db[INTERACTIONS]
    # One contact per primary email per workspace. email_key is scalar ("none:<id>" when
    # there is no email): FerretDB has no partial indexes and no per-element uniqueness.
    await contacts.create_index([ws, ("email_key", ASCENDING)], unique=True, name="email_key")
    for field in ("created_at", "updated_at", "last_name_key"):
        await contacts.create_index(
            [ws, (field, DESCENDING), ("_id", DESCENDING)], name=f"by_{field}"
        )
    for field in ("emails", "phones", "company_id", "tags", "owner_id"):
        await contacts.create_index([ws, (field, ASCENDING)], name=f"by_{field}")
    await companies.create_index([ws, ("domain_key", ASCENDING)], unique=True, name="domain_key")
    await companies.create_index([ws, ("name_key", ASCENDING)], name="by_name_key")
    for field in ("created_at", "updated_at"):
        await companies.create_index(
            [ws, (field, DESCENDING), ("_id", DESCENDING)], name=f"by_{field}"
        )
    for field in ("contact_ids", "company_id"):
        await interactions.create_index(
            [ws, (field, ASCENDING), ("occurred_at", DESCENDING), ("_id", DESCENDING)],
            name=f"timeline_{field}",
        )
    await db[MERGES].create_index([("status", ASCENDING)], name="by_status")


def _and(*filters: dict[str, Any]) -> dict[str, Any]:
    parts = [f for f in filters if f]
    if not parts:
        return {}
    return parts[0] if len(parts) == 1 else {"$and": parts}


# Called after a write that stored outbox events: (collection, _id). The runtime's
# `notify_outbox`, which makes the relay publish exactly that document's events.
Notify = Callable[[str, Any], None]


class MongoContactsStore:
    """Writes hold the lock of each document they update (`DocLocks`, pass the runtime's
    `doc_locks`: it is shared with the outbox relay, which updates a document to remove
    its published events). FerretDB v1 applies an update as read-modify-write of the whole
    document without isolation, so two overlapping updates of one document lose one of
    them; on MongoDB updates are atomic per document and a lock costs little. Inserts take
    no lock. Lock order, so that nothing deadlocks: company, then contacts (several at
    once in sorted order), then interactions, email claims and merge records (each held
    alone, never while waiting for a company or contact). Locks are per process: across
    replicas the version checks remain the guard.

    `notify(collection, _id)` is called after each write that stored outbox events (pass
    the runtime's `notify_outbox`); without it (the importer) the events wait for the
    running service's periodic sweep."""

    def __init__(
        self, db: AsyncDatabase, locks: DocLocks | None = None, notify: Notify | None = None
    ) -> None:
        self.db = db
        self.locks = locks or DocLocks()
        self.notify = notify

    def for_workspace(self, workspace_id: str) -> MongoWorkspaceStore:
        return MongoWorkspaceStore(self.db, workspace_id, self.locks, self.notify)

    async def pending_merges(self) -> list[MergeRecord]:
        cursor = self.db[MERGES].find({"status": {"$ne": "done"}})
        return [merge_from_doc(doc) async for doc in cursor]


class MongoWorkspaceStore:
    def __init__(
        self,
        db: AsyncDatabase,
        workspace_id: str,
        locks: DocLocks | None = None,
        notify: Notify | None = None,
    ) -> None:
        self.db = db
        self.workspace_id = workspace_id
        self.locks = locks or DocLocks()
        self._notify = notify
        self._contacts = db[CONTACTS]
        self._companies = db[COMPANIES]
        self._interactions = db[INTERACTIONS]
        self._merges = db[MERGES]
        self._claims = db[EMAIL_CLAIMS]

    # locking and notification
    def _hold(self, collection: str, *ids: Any) -> contextlib.AbstractAsyncContextManager[None]:
        return hold_locks(self.locks, [DocLocks.key(collection, doc_id) for doc_id in ids])

    def lock_contacts(self, ids: Iterable[str]) -> contextlib.AbstractAsyncContextManager[None]:
        """Hold these contacts' locks for a whole read-modify-write use case, so that this
        process's updates of a contact run one after another instead of failing their
        version check. The store's own writes inside see the locks as held."""
        return self._hold(CONTACTS, *ids)

    def lock_company(self, company_id: str) -> contextlib.AbstractAsyncContextManager[None]:
        return self._hold(COMPANIES, company_id)

    def _written(self, collection: str, doc_id: Any, events: list[CloudEvent]) -> None:
        if events and self._notify is not None:
            self._notify(collection, doc_id)

    def _scope(self, extra: dict[str, Any] | None = None) -> dict[str, Any]:
        return {"workspace_id": self.workspace_id, **(extra or {})}

    async def _by_ids(self, collection: Any, ids: list[str]) -> list[dict[str, Any]]:
        """Documents of this workspace by id. One id is looked up by `_id` alone, the only
        filter FerretDB's SQLite backend answers from an index, and the workspace checked
        here; several ids take one `$in` query (one round trip per DataLoader batch)."""
        if len(ids) == 1:
            doc = await collection.find_one({"_id": ids[0]}, HIDE_OUTBOX)
            return [doc] if doc and doc.get("workspace_id") == self.workspace_id else []
        if not ids:
            return []
        return [
            doc async for doc in collection.find(self._scope({"_id": {"$in": ids}}), HIDE_OUTBOX)
        ]

    async def _page(
        self,
        collection: Any,
        base: dict[str, Any],
        field: str,
        descending: bool,
        after: Cursor | None,
        first: int,
        parse: Any,
    ) -> Page[Any]:
        total = await collection.count_documents(base)
        query = _and(base, keyset_filter(field, descending, after))
        cursor = (
            collection.find(query, HIDE_OUTBOX)
            .sort(keyset_sort(field, descending))
            .limit(first + 1)
        )
        docs = [doc async for doc in cursor]
        return Page([parse(doc) for doc in docs[:first]], total, len(docs) > first)

    # companies
    async def insert_company(self, company: Company, events: list[CloudEvent]) -> None:
        company.workspace_id = self.workspace_id
        try:
            await self._companies.insert_one({**company_to_doc(company), **outbox_fields(events)})
        except DuplicateKeyError:
            existing = await self.find_company_by_domain(company.domain or "")
            raise DomainTaken(existing.id if existing else None) from None
        self._written(COMPANIES, company.id, events)

    async def get_companies(self, ids: list[str]) -> list[Company]:
        return [company_from_doc(doc) for doc in await self._by_ids(self._companies, ids)]

    async def update_company(self, company: Company, events: list[CloudEvent]) -> bool:
        doc = company_to_doc(company)
        doc.pop("_id")
        doc["version"] = company.version + 1
        update = merge_update({"$set": doc}, outbox_update(events))
        try:
            async with self._hold(COMPANIES, company.id):
                result = await self._companies.update_one(
                    self._scope({"_id": company.id, "version": company.version}), update
                )
        except DuplicateKeyError:
            existing = await self.find_company_by_domain(company.domain or "")
            raise DomainTaken(existing.id if existing else None) from None
        if result.matched_count == 0:
            return False
        company.version += 1
        self._written(COMPANIES, company.id, events)
        return True

    async def find_company_by_domain(self, domain: str) -> Company | None:
        doc = await self._companies.find_one(self._scope({"domain_key": domain}), HIDE_OUTBOX)
        return company_from_doc(doc) if doc else None

    async def find_companies_by_name_keys(self, keys: list[str]) -> list[Company]:
        cursor = self._companies.find(self._scope({"name_key": {"$in": keys}}), HIDE_OUTBOX).sort(
            [("created_at", ASCENDING), ("_id", ASCENDING)]
        )
        return [company_from_doc(doc) async for doc in cursor]

    async def list_companies(self, query: CompanyQuery) -> Page[Company]:
        base = self._scope()
        if not query.include_deleted:
            base["deleted_at"] = None
        if query.text:
            base["search_text"] = {"$regex": literal_regex(query.text.lower())}
        if query.owner_id is not None:
            base["owner_id"] = query.owner_id
        if query.tag is not None:
            base["tags"] = query.tag
        if query.industry is not None:
            base["industry"] = query.industry
        return await self._page(
            self._companies,
            base,
            query.order_field,
            query.descending,
            query.after,
            query.first,
            company_from_doc,
        )

    # contacts
    async def _email_owner(self, key: str) -> str | None:
        doc = await self._contacts.find_one(self._scope({"email_key": key}), {"_id": 1})
        return doc["_id"] if doc else None

    async def insert_contact(self, contact: Contact, events: list[CloudEvent]) -> None:
        contact.workspace_id = self.workspace_id
        doc = contact_to_doc(contact)
        try:
            await self._contacts.insert_one({**doc, **outbox_fields(events)})
        except DuplicateKeyError:
            raise EmailTaken(await self._email_owner(doc["email_key"])) from None
        self._written(CONTACTS, contact.id, events)
        await self._claim(contact)

    async def get_contacts(self, ids: list[str]) -> list[Contact]:
        return [contact_from_doc(doc) for doc in await self._by_ids(self._contacts, ids)]

    async def update_contact(self, contact: Contact, events: list[CloudEvent]) -> bool:
        doc = contact_to_doc(contact)
        doc.pop("_id")
        doc["version"] = contact.version + 1
        update = merge_update({"$set": doc}, outbox_update(events))
        try:
            async with self._hold(CONTACTS, contact.id):
                result = await self._contacts.update_one(
                    self._scope({"_id": contact.id, "version": contact.version}), update
                )
        except DuplicateKeyError:
            raise EmailTaken(await self._email_owner(doc["email_key"])) from None
        if result.matched_count == 0:
            return False
        contact.version += 1
        self._written(CONTACTS, contact.id, events)
        await self._claim(contact)
        return True

    # Email claims: `contact_emails` maps "<workspace>:<email>" to the contact holding the
    # address, so look-ups by address are `_id` look-ups (the only ones FerretDB's SQLite
    # backend serves from an index; any other filter scans the collection). It is derived
    # data: written after the contact, verified against the contact on every read, so a
    # stale claim is ignored. The unique index on `email_key` remains the guard for
    # primary addresses; claims make the check of further addresses cheap.
    def _claim_id(self, email: str) -> str:
        return f"{self.workspace_id}:{email}"

    async def _claim(self, contact: Contact) -> None:
        if contact.merged_into:
            return
        for email in contact.emails:
            claim_id = self._claim_id(email)
            async with self._hold(EMAIL_CLAIMS, claim_id):
                await self._claims.replace_one(
                    {"_id": claim_id},
                    {"workspace_id": self.workspace_id, "email": email, "contact_id": contact.id},
                    upsert=True,
                )

    async def find_contacts_with_emails(self, emails: list[str]) -> list[Contact]:
        holders: dict[str, Contact] = {}
        for email in dict.fromkeys(emails):
            claim = await self._claims.find_one({"_id": self._claim_id(email)})
            if claim is None or claim["contact_id"] in holders:
                continue
            found = await self.get_contacts([claim["contact_id"]])
            if found and email in found[0].emails and not found[0].merged_into:
                holders[found[0].id] = found[0]
        return sorted(holders.values(), key=lambda c: c.id)

    async def find_contact_by_email_key(self, email: str) -> Contact | None:
        for contact in await self.find_contacts_with_emails([email]):
            if contact.email == email:
                return contact
        doc = await self._contacts.find_one(self._scope({"email_key": email}), HIDE_OUTBOX)
        return contact_from_doc(doc) if doc else None

    async def _find_contacts(self, query: dict[str, Any], limit: int = 100) -> list[Contact]:
        cursor = (
            self._contacts.find(self._scope(query), HIDE_OUTBOX)
            .sort([("_id", ASCENDING)])
            .limit(limit)
        )
        return [contact_from_doc(doc) async for doc in cursor]

    async def find_contacts_with_phones(self, phones: list[str]) -> list[Contact]:
        return await self._find_contacts({"phones": {"$in": phones}}) if phones else []

    async def contacts_of_company(self, company_id: str, limit: int) -> list[Contact]:
        return await self._find_contacts({"company_id": company_id, "deleted_at": None}, limit)

    async def set_company_name(self, company_id: str, name: str | None) -> None:
        # One contact at a time, each under its lock (setting the name again is harmless);
        # the filter skips a contact that moved to another company meanwhile.
        selector = self._scope({"company_id": company_id})
        ids = [doc["_id"] async for doc in self._contacts.find(selector, {"_id": 1})]
        for contact_id in ids:
            async with self._hold(CONTACTS, contact_id):
                await self._contacts.update_one(
                    {**selector, "_id": contact_id}, {"$set": {"company_name": name}}
                )

    async def list_contacts(self, query: ContactQuery) -> Page[Contact]:
        base = self._scope()
        if not query.include_deleted:
            base["deleted_at"] = None
        if query.text:
            pattern = {"$regex": literal_regex(query.text.lower())}
            base["$or"] = [{"search_text": pattern}, {"company_name": pattern}]
        for field in ("owner_id", "lifecycle_stage", "company_id"):
            value = getattr(query, field)
            if value is not None:
                base[field] = value
        if query.tag is not None:
            base["tags"] = query.tag
        created = bounds(gte=query.created_after, lt=query.created_before)
        if created:
            base["created_at"] = created
        return await self._page(
            self._contacts,
            base,
            query.order_field,
            query.descending,
            query.after,
            query.first,
            contact_from_doc,
        )

    # interactions
    async def insert_interaction(self, interaction: Interaction, events: list[CloudEvent]) -> bool:
        interaction.workspace_id = self.workspace_id
        doc = {**interaction_to_doc(interaction), **outbox_fields(events)}
        try:
            await self._interactions.insert_one(doc)
        except DuplicateKeyError:
            return False
        self._written(INTERACTIONS, interaction.id, events)
        return True

    async def get_interactions(self, ids: list[str]) -> list[Interaction]:
        docs = await self._by_ids(self._interactions, ids)
        return [interaction_from_doc(doc) for doc in docs]

    async def list_interactions(self, query: InteractionQuery) -> Page[Interaction]:
        base = self._scope()
        if query.contact_id is not None:
            base["contact_ids"] = query.contact_id
        if query.company_id is not None:
            base["company_id"] = query.company_id
        return await self._page(
            self._interactions,
            base,
            "occurred_at",
            True,
            query.after,
            query.first,
            interaction_from_doc,
        )

    async def count_interactions_of(self, contact_id: str) -> int:
        return await self._interactions.count_documents(self._scope({"contact_ids": contact_id}))

    async def interaction_ids_of(self, contact_id: str, limit: int) -> list[str]:
        cursor = (
            self._interactions.find(self._scope({"contact_ids": contact_id}), {"_id": 1})
            .sort([("_id", ASCENDING)])
            .limit(limit)
        )
        return [doc["_id"] async for doc in cursor]

    async def move_interactions(self, from_contact: str, to_contact: str) -> int:
        # One interaction at a time under its lock (the relay updates interactions too, to
        # remove published events). Two idempotent steps instead of a positional update:
        # add the survivor, then pull the duplicate (exact-value $pull, which FerretDB
        # supports). Each is safe to repeat, so an interrupted move is finished by another.
        selector = self._scope({"contact_ids": from_contact})
        ids = [doc["_id"] async for doc in self._interactions.find(selector, {"_id": 1})]
        for interaction_id in ids:
            async with self._hold(INTERACTIONS, interaction_id):
                one = {**selector, "_id": interaction_id}
                await self._interactions.update_one(one, {"$addToSet": {"contact_ids": to_contact}})
                await self._interactions.update_one(one, {"$pull": {"contact_ids": from_contact}})
        return len(ids)

    # merges
    async def insert_merge(self, record: MergeRecord) -> bool:
        record.workspace_id = self.workspace_id
        try:
            await self._merges.insert_one(merge_to_doc(record))
        except DuplicateKeyError:
            return False
        return True

    async def get_merge(self, duplicate_id: str) -> MergeRecord | None:
        doc = await self._merges.find_one({"_id": f"{self.workspace_id}:{duplicate_id}"})
        return merge_from_doc(doc) if doc else None

    async def finish_merge(self, duplicate_id: str) -> None:
        record_id = f"{self.workspace_id}:{duplicate_id}"
        async with self._hold(MERGES, record_id):
            await self._merges.update_one(
                {"_id": record_id}, {"$set": {"status": "done", "finished_at": utcnow()}}
            )

    async def apply_merge_to_survivor(
        self, survivor: Contact, duplicate_id: str, events: list[CloudEvent]
    ) -> bool:
        doc = contact_to_doc(survivor)
        for key in ("_id", "merged_from", "version", "workspace_id", "created_at", "created_by"):
            doc.pop(key)
        update = merge_update(
            {"$set": doc, "$push": {"merged_from": duplicate_id}, "$inc": {"version": 1}},
            outbox_update(events),
        )
        async with self._hold(CONTACTS, survivor.id):
            result = await self._contacts.find_one_and_update(
                self._scope({"_id": survivor.id, "merged_from": {"$ne": duplicate_id}}),
                update,
                # (no projection: FerretDB v1's findAndModify does not implement `fields`)
                return_document=ReturnDocument.AFTER,
            )
        # Claim the duplicate's addresses for the survivor, also when resuming a merge
        # whose survivor update was already written.
        await self._claim(survivor)
        if result is None:
            return False
        self._written(CONTACTS, survivor.id, events)
        survivor.merged_from = [*survivor.merged_from, duplicate_id]
        survivor.version = int(result["version"])
        return True

    async def mark_merged(
        self, duplicate: Contact, survivor_id: str, events: list[CloudEvent]
    ) -> bool:
        update = merge_update(
            {
                "$set": {
                    "merged_into": survivor_id,
                    "email_key": f"merged:{duplicate.id}",
                    "deleted_at": duplicate.deleted_at or utcnow(),
                    "updated_at": duplicate.updated_at,
                    "updated_by": duplicate.updated_by,
                },
                "$inc": {"version": 1},
            },
            outbox_update(events),
        )
        async with self._hold(CONTACTS, duplicate.id):
            result = await self._contacts.update_one(
                self._scope({"_id": duplicate.id, "merged_into": None}), update
            )
        if result.modified_count != 1:
            return False
        self._written(CONTACTS, duplicate.id, events)
        return True
