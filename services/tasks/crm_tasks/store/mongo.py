"""The store on MongoDB or FerretDB: the records through the kit's write path (which knows
the database profile), the indexes, the bookkeeping the janitor deletes, and the one-off
repair of the embedded database's deal lists."""

from __future__ import annotations

import contextlib
from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from crm_kit.change_log import journal_on
from crm_kit.clock import utcnow
from crm_kit.outbox import WRITTEN_AT
from crm_kit.records import MongoSource
from crm_kit.retention import Retention
from crm_kit.writer import DocumentWriter

from ..config import (
    DEAL_TASKS,
    FIRES,
    IMPORT_BATCHES,
    META,
    OUTCOMES,
    RULES,
    RUNS,
    SCHEDULE,
    SLOTS,
    TASKS,
    TEAMS,
)
from .assemble import tasks_store
from .deal_lists import deal_list_id
from .port import TasksStore

# Old bookkeeping the janitor deletes (crm_kit.retention; the period is a setting): fired
# reminder records once published, and round-robin slots (the team's `rr_hint` and the
# process's last turn say where the next free one is, so old slots are not needed).
RETENTION = (
    Retention(FIRES, "at", outbox=True),
    # Import batches, once published, are only bookkeeping.
    Retention(IMPORT_BATCHES, WRITTEN_AT, outbox=True),
    Retention(SLOTS, "at"),
)
_DEAL_LISTS_MARKER = "deal_tasks_backfilled:v1"


def mongo_store(
    writer: DocumentWriter, *, index: bool = True, live: bool = True, change_log: bool = True
) -> TasksStore:
    """The store writing through `writer`, with the read models of its profile."""
    journal = journal_on(writer.db, writer.hooks) if change_log else None
    if journal is not None and writer.profile.workarounds and not index:
        # A writer without the indexes (a loader) journals its writes too: an index
        # started from its snapshot (`crm_kit.index_snapshot`) learns of them from the log
        # alone, whether or not any service ran meanwhile.
        for collection in (TASKS, DEAL_TASKS, OUTCOMES):
            journal(collection)
    return tasks_store(
        MongoSource(writer),
        writer.hooks,
        workarounds=writer.profile.workarounds,
        index=index,
        live=live,
        # The indexes hold whole tasks and deal lists, checked against these per request.
        journal=journal,
    )


async def ensure_indexes(db: AsyncDatabase[Any]) -> None:
    ws = ("workspace_id", ASCENDING)
    tasks = db[TASKS]
    await tasks.create_index([ws, ("idem_key", ASCENDING)], unique=True, name="task_idem")
    await tasks.create_index([ws, ("due_sort", ASCENDING), ("_id", ASCENDING)], name="due")
    await tasks.create_index([ws, ("deal_id", ASCENDING)], name="deal")
    await tasks.create_index([ws, ("contact_id", ASCENDING)], name="contact")
    await tasks.create_index(
        [ws, ("assignee_id", ASCENDING), ("status", ASCENDING)], name="assignee"
    )
    await tasks.create_index([ws, ("created_at", ASCENDING)], name="created")
    await tasks.create_index(
        [("reminder_sent", ASCENDING), ("remind_at", ASCENDING)], name="remind_due"
    )
    await tasks.create_index(
        [("overdue_sent", ASCENDING), ("due_at", ASCENDING)], name="overdue_due"
    )
    await db[TEAMS].create_index([ws, ("name", ASCENDING)], unique=True, name="team_name")
    await db[RULES].create_index([ws, ("trigger", ASCENDING)], name="trigger")
    await db[RUNS].create_index(
        [ws, ("rule_id", ASCENDING), ("event_id", ASCENDING)], unique=True, name="run_once"
    )
    await db[RUNS].create_index(
        [ws, ("rule_id", ASCENDING), ("at", DESCENDING), ("_id", DESCENDING)], name="newest"
    )
    await db[SCHEDULE].create_index([("at", ASCENDING)], name="due")
    await db[SLOTS].create_index([ws, ("key", ASCENDING)], unique=True, name="slot_key")
    await db[OUTCOMES].create_index([ws, ("closed_at", ASCENDING)], name="closed")


async def backfill_deal_lists(writer: DocumentWriter) -> None:
    """Once per database, on the `ferretdb` profile: list the deal tasks written before
    `deal_tasks` existed (one scan at start-up; adding to a list is idempotent, so
    replicas doing it at once agree)."""
    if not writer.profile.workarounds:
        return
    db = writer.db
    if await db[META].find_one({"_id": _DEAL_LISTS_MARKER}) is not None:
        return
    lists: dict[tuple[str, str], list[str]] = {}
    async for doc in db[TASKS].find({"deal_id": {"$ne": None}}, {"workspace_id": 1, "deal_id": 1}):
        if doc.get("deal_id"):
            lists.setdefault((doc["workspace_id"], doc["deal_id"]), []).append(doc["_id"])
    for (workspace_id, deal_id), task_ids in lists.items():
        update = {
            "$set": {"workspace_id": workspace_id, "deal_id": deal_id},
            "$addToSet": {"task_ids": {"$each": task_ids}},
        }
        for attempt in range(2):
            try:
                # In its workspace: the write is journalled for the held lists.
                await writer.update(
                    DEAL_TASKS,
                    deal_list_id(workspace_id, deal_id),
                    update,
                    workspace_id=workspace_id,
                    upsert=True,
                )
                break
            except DuplicateKeyError:
                if attempt:  # another replica created the list meanwhile: add to it
                    raise
    with contextlib.suppress(DuplicateKeyError):
        await writer.insert(META, {"_id": _DEAL_LISTS_MARKER, "at": utcnow()})
