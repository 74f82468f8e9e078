"""The store on MongoDB (or FerretDB): the port's records through the kit's write path,
with the indexes its queries use."""

from __future__ import annotations

from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.database import AsyncDatabase

from crm_kit.change_log import journal_on
from crm_kit.records import MongoSource
from crm_kit.writer import DocumentWriter

from ..config import COMPANIES, CONTACTS, INTERACTIONS, MERGES
from .assemble import contacts_store
from .port import ContactsStore


def mongo_store(
    writer: DocumentWriter, *, index: bool = True, live: bool = True, change_log: bool = True
) -> ContactsStore:
    """The store writing through `writer`, with the read models of its profile."""
    journal = journal_on(writer.db, writer.hooks) if change_log else None
    if journal is not None and writer.profile.workarounds and not index:
        # A writer without the indexes (an importer) journals its writes too: an index
        # started from its snapshot (`crm_kit.index_snapshot`) learns of them from the log
        # alone, whether or not any service ran meanwhile.
        for collection in (CONTACTS, COMPANIES, INTERACTIONS):
            journal(collection)
    return contacts_store(
        MongoSource(writer),
        writer.hooks,
        workarounds=writer.profile.workarounds,
        index=index,
        live=live,
        # The indexes hold whole documents, checked against these logs per request.
        journal=journal,
    )


async def ensure_indexes(db: AsyncDatabase[Any]) -> None:
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
