"""MongoDB adapter (PyMongo async API), within the FerretDB v1 subset.

FerretDB v1 (SQLite) serves a filter from an index only when it is exactly `{_id: <value>}`;
any other filter (even `{_id: x, workspace_id: w}`) reads the whole collection and blocks
writes to the database meanwhile. So lookups of one document go by `_id` alone and check
the workspace in Python, updates of an existing document are read, checked and written
under the process-wide per-document lock (`crm_kit.locks.DocLocks`, shared with the
outbox relay's clean-up), and a deal's tasks are found through a small per-deal document
listing their ids (`deal_tasks`, `_id` = `<workspace>:<deal>`).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator, Sequence
from datetime import datetime, timedelta
from typing import Any

from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError

from crm_contracts.envelope import CloudEvent
from crm_kit.filters import bounds
from crm_kit.ids import new_id
from crm_kit.locks import DocLocks
from crm_kit.mongo import guarded_filter
from crm_kit.outbox import HIDE_OUTBOX, merge_update, outbox_fields, outbox_update
from crm_kit.pagination import keyset_filter, keyset_sort
from crm_kit.retention import Retention

from ..domain.model import ACTIVE_STATUSES, Rule, RuleRun, Task, Team, utcnow
from .codec import (
    derived_task_fields,
    rule_changes_to_doc,
    rule_from_doc,
    rule_to_doc,
    run_from_doc,
    run_to_doc,
    task_from_doc,
    task_to_doc,
    team_from_doc,
    team_to_doc,
)
from .filtering import matches, page_docs
from .index_entry import PROJECTION as INDEX_PROJECTION
from .index_entry import TaskEntry, entry_of
from .protocol import (
    DEAL_TASKS,
    FIRES,
    FLAG_TIME,
    RUN_RESULTS,
    TASKS,
    DealOutcome,
    DuplicateKey,
    EventsFor,
    TaskFilter,
    TaskPageRequest,
    deal_list_id,
    fire_id,
)

TEAMS = "teams"
RULES = "automation_rules"
RUNS = "rule_runs"
OUTCOMES = "deal_outcomes"
SLOTS = "round_robin_slots"
SCHEDULE = "schedule"
META = "tasks_meta"
_DEAL_INDEX_MARKER = "deal_tasks_backfilled:v1"
# Old bookkeeping the janitor deletes (crm_kit.retention; the period is a setting): fired
# reminder records once published, and round-robin slots (the team's `rr_hint` and the
# process's last slot say where the next free one is, so old slots are not needed).
RETENTION = (
    Retention(FIRES, "at", outbox=True),
    Retention(SLOTS, "at"),
)
_MAX_SLOT_ATTEMPTS = 500
# Concurrent `_id` lookups of one request (a page of deals' tasks).
_ID_LOOKUPS = 32
_MAX_UPDATE_RETRIES = 8
_DUPLICATE_KEY = 11000
# How long the scheduler may skip scanning `schedule` when it knows nothing of its own is
# due: entries written by other replicas are seen at the latest this much later.
SCHEDULE_QUIET_MAX = timedelta(seconds=2.5)


async def _insert_new(collection: AsyncCollection, docs: list[dict[str, Any]]) -> list[int]:
    """Insert documents in one statement; returns the positions of those refused as
    duplicates (each other document is inserted: `ordered=False`)."""
    if not docs:
        return []
    try:
        await collection.insert_many(docs, ordered=False)
    except BulkWriteError as error:
        errors = error.details.get("writeErrors", [])
        if any(e.get("code") != _DUPLICATE_KEY for e in errors) or not errors:
            raise
        return [int(e["index"]) for e in errors]
    return []


class ScheduleHint:
    """Per process: no `schedule` entry is due before `until` (as of the scan at `scanned`),
    apart from entries written since, which this process reports (`note`) and other
    replicas' entries, found by a scan at most `SCHEDULE_QUIET_MAX` later. Saves the
    scheduler a scan of `schedule` (FerretDB: a whole-collection read that holds up writes)
    on most ticks."""

    def __init__(self) -> None:
        self.until: datetime | None = None
        self.scanned: datetime | None = None
        self._noted: datetime | None = None  # earliest entry written since the scan began

    def note(self, when: datetime) -> None:
        if self._noted is None or when < self._noted:
            self._noted = when
        if self.until is not None and when < self.until:
            self.until = when

    def quiet(self, now: datetime) -> bool:
        if self.until is None or self.scanned is None:
            return False
        return self.scanned <= now < min(self.until, self.scanned + SCHEDULE_QUIET_MAX)

    def scan_started(self) -> None:
        self._noted = None

    def scanned_at(self, now: datetime, until: datetime | None) -> None:
        if until is not None and self._noted is not None and self._noted < until:
            until = self._noted
        self.scanned, self.until = now, until


_HINT_EVERY = 16
# Per-process hint of each team's last taken slot (a hint only: the slots decide).
_HINTS: dict[tuple[str, str, str], int] = {}
_SCHEDULED_FIELDS = {"remind_at", "due_at", "reminder_sent", "overdue_sent"}


def sort_key_field(field: str) -> str:
    return "due_sort" if field == "due_at" else field


def task_query(flt: TaskFilter, now: datetime) -> dict[str, Any]:
    query: dict[str, Any] = {}
    clauses: list[dict[str, Any]] = []
    if flt.ids is not None:
        query["_id"] = {"$in": list(flt.ids)}
    if flt.assignee_id is not None:
        query["assignee_id"] = flt.assignee_id
    if flt.team_id is not None:
        query["team_id"] = flt.team_id
    if flt.statuses is not None:
        query["status"] = {"$in": list(flt.statuses)}
    if flt.deal_ids is not None:
        query["deal_id"] = {"$in": list(flt.deal_ids)}
    if flt.contact_ids is not None:
        query["contact_id"] = {"$in": list(flt.contact_ids)}
    if flt.source_kind is not None:
        query["source.kind"] = flt.source_kind
    due = bounds(lt=flt.due_before, gte=flt.due_after)
    if due:
        clauses.append({"due_at": due})
    if flt.overdue is True:
        clauses.append({"due_at": {"$lt": now}})
        clauses.append({"status": {"$in": list(ACTIVE_STATUSES)}})
    elif flt.overdue is False:
        clauses.append(
            {
                "$or": [
                    {"status": {"$nin": list(ACTIVE_STATUSES)}},
                    {"due_sort": {"$gte": now}},
                ]
            }
        )
    created = bounds(gte=flt.created_from, lt=flt.created_to)
    if created:
        query["created_at"] = created
    if clauses:
        query["$and"] = clauses
    return query


class MongoWorkspaceStore:
    def __init__(
        self,
        db: AsyncDatabase,
        workspace_id: str,
        locks: DocLocks | None = None,
        schedule_hint: ScheduleHint | None = None,
        isolated_updates: bool = True,
    ) -> None:
        self._db = db
        self.workspace_id = workspace_id
        self._locks = locks or DocLocks()
        self._hint = schedule_hint or ScheduleHint()
        self._isolated = isolated_updates

    def _scope(self, query: dict[str, Any] | None = None) -> dict[str, Any]:
        return {**(query or {}), "workspace_id": self.workspace_id}

    @contextlib.asynccontextmanager
    async def _hold(self, collection: str, doc_id: Any) -> AsyncIterator[None]:
        """This document's lock: every update of an existing document in this process."""
        async with self._locks.hold(DocLocks.key(collection, doc_id)):
            yield

    async def _get(
        self, collection: str, doc_id: str, projection: dict[str, Any] | None = None
    ) -> dict[str, Any] | None:
        """One document of this workspace by `_id` (the filter FerretDB serves by index)."""
        doc = await self._db[collection].find_one({"_id": doc_id}, projection)
        return doc if doc is not None and doc.get("workspace_id") == self.workspace_id else None

    async def _get_many(
        self, collection: str, ids: Sequence[str], projection: dict[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        """Documents by `_id`, one indexed lookup each (`{_id: {$in: ...}}` would scan)."""
        unique = list(dict.fromkeys(ids))
        found: list[dict[str, Any] | None] = []
        for start in range(0, len(unique), _ID_LOOKUPS):
            chunk = unique[start : start + _ID_LOOKUPS]
            found += await asyncio.gather(*(self._get(collection, i, projection) for i in chunk))
        return [doc for doc in found if doc is not None]

    # tasks -----------------------------------------------------------------------------

    async def insert_task(self, task: Task, events: list[CloudEvent]) -> None:
        if await self.insert_tasks([(task, events)]):
            raise DuplicateKey("task", None)

    async def insert_tasks(self, items: Sequence[tuple[Task, list[CloudEvent]]]) -> set[str]:
        """Tasks with their schedule entries and deal lists, in a few statements whatever
        their number (a playbook's tasks cost what one task does; on FerretDB's single
        SQLite writer the number of write statements is the throughput).

        Schedule entries and the deals' task lists go first: a crash before the tasks leaves
        an entry for a missing task, which the scheduler (and the deal lookup) drops; never
        a task whose reminder is lost or that its deal does not list."""
        tasks = [task for task, _ in items]
        if not tasks:
            return set()
        await self._schedule(tasks)
        by_deal: dict[str, list[str]] = {}
        for task in tasks:
            if task.deal_id:
                by_deal.setdefault(task.deal_id, []).append(task.id)
        for deal_id, task_ids in by_deal.items():
            await self._list_deal_tasks(deal_id, task_ids)
        docs = [
            {**task_to_doc(task), "workspace_id": self.workspace_id, **outbox_fields(events)}
            for task, events in items
        ]
        return {docs[i]["_id"] for i in await _insert_new(self._db[TASKS], docs)}

    async def insert_deal_tasks(
        self, deal_id: str, tasks: Sequence[Task], events: list[CloudEvent]
    ) -> set[str]:
        """Schedule entries, the tasks, then the deal's list with the events: after the
        tasks, since events must not announce what is not stored. A crash before the list
        leaves tasks their deal does not show yet; the stage change, not acknowledged, is
        delivered again and lists them (and stores the events) then."""
        if not tasks:
            return set()
        await self._schedule(tasks)
        docs = [{**task_to_doc(task), "workspace_id": self.workspace_id} for task in tasks]
        existing = {docs[i]["_id"] for i in await _insert_new(self._db[TASKS], docs)}
        await self._list_deal_tasks(deal_id, [task.id for task in tasks], events)
        return existing

    async def get_task(self, task_id: str) -> Task | None:
        doc = await self._get(TASKS, task_id, HIDE_OUTBOX)
        return task_from_doc(doc) if doc else None

    async def get_task_by_idem(self, idem_key: str) -> Task | None:
        doc = await self._db[TASKS].find_one(self._scope({"idem_key": idem_key}), HIDE_OUTBOX)
        return task_from_doc(doc) if doc else None

    async def update_task(
        self,
        task_id: str,
        changes: dict[str, Any],
        events_for: EventsFor,
        *,
        expect: dict[str, Any] | None = None,
    ) -> Task | None:
        """Read, check `expect`, write, under the task's lock: no other writer in this
        process (API, consumers, scheduler, the relay's clean-up) interleaves. On MongoDB the
        write is also conditional on the version read, for other replicas (`guarded_filter`:
        on FerretDB that compound filter would scan the collection)."""
        async with self._hold(TASKS, task_id):
            for _ in range(_MAX_UPDATE_RETRIES):
                current = await self.get_task(task_id)
                if current is None:
                    return None
                if any(getattr(current, key) != value for key, value in (expect or {}).items()):
                    return None
                updated = dataclasses.replace(current, **changes, version=current.version + 1)
                if _SCHEDULED_FIELDS & changes.keys():
                    await self._schedule([updated])
                if changes.get("deal_id"):
                    await self._list_deal_tasks(changes["deal_id"], [task_id])
                update = merge_update(
                    {
                        "$set": {
                            **changes,
                            **derived_task_fields(changes),
                            "version": updated.version,
                        }
                    },
                    outbox_update(events_for(updated)),
                )
                doc = await self._db[TASKS].find_one_and_update(
                    guarded_filter(task_id, self._isolated, version=current.version),
                    update,
                    return_document=ReturnDocument.AFTER,  # (FerretDB: no projection here)
                )
                if doc is not None:
                    return task_from_doc(doc)
        raise RuntimeError(f"task {task_id} kept changing; update abandoned")

    async def _list_deal_tasks(
        self, deal_id: str, task_ids: Sequence[str], events: Sequence[CloudEvent] = ()
    ) -> None:
        """Add tasks to their deal's list (`deal_tasks`, one small document per deal, read
        by `_id`), with `events` for the relay in the same write. Entries are never
        removed: readers re-check each task's `deal_id`."""
        list_id = deal_list_id(self.workspace_id, deal_id)
        async with self._hold(DEAL_TASKS, list_id):
            for _ in range(2):
                try:
                    await self._db[DEAL_TASKS].update_one(
                        {"_id": list_id},
                        merge_update(
                            {
                                "$set": {"workspace_id": self.workspace_id, "deal_id": deal_id},
                                "$addToSet": {"task_ids": {"$each": list(task_ids)}},
                            },
                            outbox_update(events),
                        ),
                        upsert=True,
                    )
                    return
                except DuplicateKeyError:
                    continue  # another replica created the list meanwhile: add to it

    async def _deal_task_docs(self, deal_ids: Sequence[str]) -> list[dict[str, Any]]:
        lists = await self._get_many(
            DEAL_TASKS, [deal_list_id(self.workspace_id, d) for d in deal_ids], HIDE_OUTBOX
        )
        ids = [task_id for doc in lists for task_id in doc.get("task_ids") or []]
        return await self._get_many(TASKS, ids, HIDE_OUTBOX)

    async def find_tasks(
        self, flt: TaskFilter, now: datetime, page: TaskPageRequest | None = None
    ) -> list[Task]:
        if flt.ids is not None or flt.deal_ids is not None:
            # By `_id` (tasks by id; a deal's tasks through its list), the rest in Python.
            if flt.ids is not None:
                docs = await self._get_many(TASKS, list(flt.ids), HIDE_OUTBOX)
            else:
                docs = await self._deal_task_docs(list(flt.deal_ids or []))
            kept = [doc for doc in docs if matches(task_from_doc(doc), flt, now)]
            return [task_from_doc(doc) for doc in page_docs(kept, page)]
        query = self._scope(task_query(flt, now))
        if page is None:
            cursor = self._db[TASKS].find(query, HIDE_OUTBOX)
        else:
            sort_field = sort_key_field(page.sort_field)
            after = keyset_filter(sort_field, page.descending, page.after)
            if after:
                query = {"$and": [query, after]}
            cursor = (
                self._db[TASKS]
                .find(query, HIDE_OUTBOX)
                .sort(keyset_sort(sort_field, page.descending))
                .limit(page.limit)
            )
        return [task_from_doc(doc) async for doc in cursor]

    async def count_tasks(self, flt: TaskFilter, now: datetime) -> int:
        if flt.ids is not None or flt.deal_ids is not None:
            return len(await self.find_tasks(flt, now))
        return await self._db[TASKS].count_documents(self._scope(task_query(flt, now)))

    async def task_rows(self, flt: TaskFilter, now: datetime) -> list[TaskEntry]:
        if flt.ids is not None or flt.deal_ids is not None:
            return [entry_of(task_to_doc(t)) for t in await self.find_tasks(flt, now)]
        cursor = self._db[TASKS].find(self._scope(task_query(flt, now)), INDEX_PROJECTION)
        return [entry_of(doc) async for doc in cursor]

    async def index_docs(self) -> AsyncIterator[dict[str, Any]]:
        """Every task of the workspace, projected for the read index (one scan)."""
        async for doc in self._db[TASKS].find(self._scope(), INDEX_PROJECTION):
            yield doc

    async def index_doc(self, task_id: str) -> dict[str, Any] | None:
        """One task by `_id`, projected for the read index."""
        return await self._get(TASKS, task_id, INDEX_PROJECTION)

    async def open_counts(self, member_ids: Sequence[str]) -> dict[str, int]:
        pipeline = [
            {
                "$match": self._scope(
                    {
                        "assignee_id": {"$in": list(member_ids)},
                        "status": {"$in": list(ACTIVE_STATUSES)},
                    }
                )
            },
            {"$group": {"_id": "$assignee_id", "n": {"$sum": 1}}},
        ]
        cursor = await self._db[TASKS].aggregate(pipeline)
        return {doc["_id"]: doc["n"] async for doc in cursor}

    # teams -----------------------------------------------------------------------------

    async def insert_team(self, team: Team) -> None:
        try:
            await self._db[TEAMS].insert_one(
                {**team_to_doc(team), "workspace_id": self.workspace_id}
            )
        except DuplicateKeyError:
            existing = await self.get_team_by_name(team.name)
            raise DuplicateKey("team name", existing.id if existing else None) from None

    async def get_teams(self, ids: Sequence[str]) -> list[Team]:
        return [team_from_doc(doc) for doc in await self._get_many(TEAMS, ids)]

    async def get_team_by_name(self, name: str) -> Team | None:
        doc = await self._db[TEAMS].find_one(self._scope({"name": name}))
        return team_from_doc(doc) if doc else None

    async def list_teams(self) -> list[Team]:
        cursor = self._db[TEAMS].find(self._scope()).sort("name", ASCENDING)
        return [team_from_doc(doc) async for doc in cursor]

    async def update_team(self, team_id: str, changes: dict[str, Any]) -> Team | None:
        try:
            async with self._hold(TEAMS, team_id):
                if await self._get(TEAMS, team_id, {"_id": 1, "workspace_id": 1}) is None:
                    return None
                doc = await self._db[TEAMS].find_one_and_update(
                    {"_id": team_id}, {"$set": changes}, return_document=ReturnDocument.AFTER
                )
        except DuplicateKeyError:
            existing = await self.get_team_by_name(changes.get("name", ""))
            raise DuplicateKey("team name", existing.id if existing else None) from None
        return team_from_doc(doc) if doc else None

    async def reserve_round_robin(self, team: Team, key: str | None) -> int:
        """Take the team's next round-robin position.

        FerretDB v1 does not apply concurrent updates atomically (`$inc` loses increments;
        a conditional update can match twice) but it does enforce unique keys on insert.
        So each position is a slot document `slot:<workspace>:<team>:<n>`, taken by
        inserting it, and slots also carry a unique `key` (the natural key of a playbook or
        rule task): a duplicate event handled at the same moment by another replica finds
        the slot its key already holds instead of taking another turn. Within a process,
        reservations for one team take turns (no two pullers race for the same slot), and
        the process's last slot says where the next free one is: usually one insert."""
        team_id = team.id
        slots = self._db[SLOTS]
        slot_key = f"{team_id}:{key}" if key else f"{team_id}:once:{new_id()}"
        hint_key = (self._db.name, self.workspace_id, team_id)
        async with self._locks.hold(DocLocks.key(SLOTS, f"{self.workspace_id}:{team_id}")):
            if hint_key in _HINTS:  # ours is the latest we know of: try the next one
                n = _HINTS[hint_key] + 1
            else:
                n = await self._first_free_slot(team_id, team.rr_hint)
            for _ in range(_MAX_SLOT_ATTEMPTS):
                try:
                    await slots.insert_one(
                        {
                            "_id": self._slot_id(team_id, n),
                            "workspace_id": self.workspace_id,
                            "key": slot_key,
                            "at": utcnow(),
                        }
                    )
                except DuplicateKeyError:
                    # Slot n taken (by `_id`: no scan) or this key holds a slot already.
                    taken = await slots.find_one({"_id": self._slot_id(team_id, n)}, {"key": 1})
                    if taken is not None and taken.get("key") != slot_key:
                        # Another replica took n (and perhaps more): the first free one.
                        n = await self._first_free_slot(team_id, n)
                        continue
                    # n is ours, or free (so the key's unique index refused): the key's slot.
                    held = taken or await slots.find_one(self._scope({"key": slot_key}))
                    if held is not None:  # this key took its turn already
                        return int(str(held["_id"]).rsplit(":", 1)[1])
                    continue  # n was freed meanwhile? try it again
                break
            else:
                raise RuntimeError(f"could not take a round-robin slot of team {team_id}")
            _HINTS[hint_key] = max(n, _HINTS.get(hint_key, 0))
        if n % _HINT_EVERY == 0:  # a coarse hint in the team for fresh processes
            async with self._hold(TEAMS, team_id):  # the team is this workspace's (read above)
                await self._db[TEAMS].update_one({"_id": team_id}, {"$max": {"rr_hint": n}})
        return n

    def _slot_id(self, team_id: str, n: int) -> str:
        return f"slot:{self.workspace_id}:{team_id}:{n}"

    async def _slot_taken(self, team_id: str, n: int) -> bool:
        found = await self._db[SLOTS].find_one({"_id": self._slot_id(team_id, n)}, {"_id": 1})
        return found is not None

    async def _first_free_slot(self, team_id: str, hint: int) -> int:
        """The lowest untaken position above `hint` (slots are taken contiguously): gallop
        forward from the hint, then bisect; a handful of primary-key lookups."""
        low = hint  # taken (or 0)
        step = 1
        high = low + step
        while await self._slot_taken(team_id, high):
            low, step = high, step * 2
            high = low + step
        while high - low > 1:
            middle = (low + high) // 2
            if await self._slot_taken(team_id, middle):
                low = middle
            else:
                high = middle
        return high

    async def _schedule(self, tasks: Sequence[Task]) -> None:
        """One schedule entry per unfired reminder / due time, inserted together; an entry
        that exists already is moved to the new time."""
        entries: list[dict[str, Any]] = []
        for task in tasks:
            for flag, when in (("reminder_sent", task.remind_at), ("overdue_sent", task.due_at)):
                if when is None or getattr(task, flag):
                    continue
                self._hint.note(when)
                entries.append(
                    {
                        "_id": f"{flag}:{task.id}",
                        "workspace_id": self.workspace_id,
                        "task_id": task.id,
                        "flag": flag,
                        "at": when,
                    }
                )
        for i in await _insert_new(self._db[SCHEDULE], entries):
            entry_id = entries[i]["_id"]
            async with self._hold(SCHEDULE, entry_id):
                await self._db[SCHEDULE].update_one(
                    {"_id": entry_id}, {"$set": {"at": entries[i]["at"]}}
                )

    # rules and runs --------------------------------------------------------------------

    async def insert_rule(self, rule: Rule) -> None:
        await self._db[RULES].insert_one({**rule_to_doc(rule), "workspace_id": self.workspace_id})

    async def get_rule(self, rule_id: str) -> Rule | None:
        doc = await self._db[RULES].find_one(self._scope({"_id": rule_id}))
        return rule_from_doc(doc) if doc else None

    async def list_rules(
        self, trigger: str | None = None, enabled: bool | None = None
    ) -> list[Rule]:
        query: dict[str, Any] = {}
        if trigger is not None:
            query["trigger"] = trigger
        if enabled is not None:
            query["enabled"] = enabled
        cursor = self._db[RULES].find(self._scope(query)).sort("_id", ASCENDING)
        return [rule_from_doc(doc) async for doc in cursor]

    async def update_rule(self, rule_id: str, changes: dict[str, Any]) -> Rule | None:
        doc = await self._db[RULES].find_one_and_update(
            self._scope({"_id": rule_id}),
            {"$set": rule_changes_to_doc(changes)},
            return_document=ReturnDocument.AFTER,
        )
        return rule_from_doc(doc) if doc else None

    async def delete_rule(self, rule_id: str) -> bool:
        result = await self._db[RULES].delete_one(self._scope({"_id": rule_id}))
        return result.deleted_count == 1

    async def start_run(self, run: RuleRun) -> RuleRun | None:
        try:
            await self._db[RUNS].insert_one({**run_to_doc(run), "workspace_id": self.workspace_id})
        except DuplicateKeyError:
            doc = await self._db[RUNS].find_one(
                self._scope({"rule_id": run.rule_id, "event_id": run.event_id}), HIDE_OUTBOX
            )
            return run_from_doc(doc) if doc else None
        return None

    async def finish_run(self, run: RuleRun, events: list[CloudEvent]) -> bool:
        """Settle a run once: its result (with the notifications it sends) is inserted under
        the run's id, unique, so of two replicas finishing the same run only one sends."""
        try:
            await self._db[RUN_RESULTS].insert_one(
                {
                    "_id": run.id,
                    "workspace_id": self.workspace_id,
                    "outcome": run.outcome,
                    **outbox_fields(events),
                }
            )
            won = True
        except DuplicateKeyError:
            won = False
        async with self._hold(RUNS, run.id):
            stored = await self._get(RUNS, run.id, {"outcome": 1, "workspace_id": 1})
            if stored is not None and stored.get("outcome") == "running":
                await self._db[RUNS].update_one(
                    {"_id": run.id},
                    {
                        "$set": {
                            "outcome": run.outcome,
                            "error": run.error,
                            "task_ids": run.task_ids,
                            "notification_ids": run.notification_ids,
                        }
                    },
                )
        return won

    async def list_runs(self, rule_id: str, after: str | None, limit: int) -> list[RuleRun]:
        query: dict[str, Any] = {"rule_id": rule_id}
        if after is not None:
            query["_id"] = {"$lt": after}
        cursor = (
            self._db[RUNS]
            .find(self._scope(query), HIDE_OUTBOX)
            .sort("_id", DESCENDING)
            .limit(limit)
        )
        return [run_from_doc(doc) async for doc in cursor]

    # deal outcomes ---------------------------------------------------------------------

    async def record_deal_outcome(self, outcome: DealOutcome) -> None:
        # The id names the workspace, so `{_id}` alone (served by index) is scoped.
        outcome_id = f"{self.workspace_id}:{outcome.deal_id}"
        async with self._hold(OUTCOMES, outcome_id):
            for _ in range(2):
                try:
                    await self._db[OUTCOMES].update_one(
                        {"_id": outcome_id},
                        {
                            "$set": {
                                "workspace_id": self.workspace_id,
                                "deal_id": outcome.deal_id,
                                "outcome": outcome.outcome,
                                "closed_at": outcome.closed_at,
                            }
                        },
                        upsert=True,
                    )
                    return
                except DuplicateKeyError:
                    continue  # created by another replica meanwhile: update it

    async def delete_deal_outcome(self, deal_id: str) -> None:
        outcome_id = f"{self.workspace_id}:{deal_id}"
        async with self._hold(OUTCOMES, outcome_id):
            await self._db[OUTCOMES].delete_one({"_id": outcome_id})

    async def deal_outcomes(self, closed_from: datetime, closed_to: datetime) -> list[DealOutcome]:
        cursor = self._db[OUTCOMES].find(
            self._scope({"closed_at": {"$gte": closed_from, "$lt": closed_to}})
        )
        return [
            DealOutcome(doc["deal_id"], doc["outcome"], doc["closed_at"]) async for doc in cursor
        ]


class MongoTasksStore:
    def __init__(
        self, db: AsyncDatabase, locks: DocLocks | None = None, isolated_updates: bool = True
    ) -> None:
        self._db = db
        # The runtime's registry (`ServiceRuntime.doc_locks`), shared with the outbox relay.
        self._locks = locks or DocLocks()
        self._hint = ScheduleHint()
        self._isolated = isolated_updates  # see crm_kit.mongo.guarded_filter

    async def ensure_indexes(self) -> None:
        tasks = self._db[TASKS]
        await tasks.create_index(
            [("workspace_id", 1), ("idem_key", 1)], unique=True, name="task_idem"
        )
        await tasks.create_index([("workspace_id", 1), ("due_sort", 1), ("_id", 1)], name="due")
        await tasks.create_index([("workspace_id", 1), ("deal_id", 1)], name="deal")
        await tasks.create_index([("workspace_id", 1), ("contact_id", 1)], name="contact")
        await tasks.create_index(
            [("workspace_id", 1), ("assignee_id", 1), ("status", 1)], name="assignee"
        )
        await tasks.create_index([("workspace_id", 1), ("created_at", 1)], name="created")
        await tasks.create_index([("reminder_sent", 1), ("remind_at", 1)], name="remind_due")
        await tasks.create_index([("overdue_sent", 1), ("due_at", 1)], name="overdue_due")
        await self._db[TEAMS].create_index(
            [("workspace_id", 1), ("name", 1)], unique=True, name="team_name"
        )
        await self._db[RULES].create_index([("workspace_id", 1), ("trigger", 1)], name="trigger")
        await self._db[RUNS].create_index(
            [("workspace_id", 1), ("rule_id", 1), ("event_id", 1)],
            unique=True,
            name="run_once",
        )
        await self._db[SCHEDULE].create_index([("at", 1)], name="due")
        await self._db[SLOTS].create_index(
            [("workspace_id", 1), ("key", 1)], unique=True, name="slot_key"
        )
        await self._db[OUTCOMES].create_index(
            [("workspace_id", 1), ("closed_at", 1)], name="closed"
        )

        await self._backfill_deal_tasks()

    async def _backfill_deal_tasks(self) -> None:
        """Once per database: list the deal tasks written before `deal_tasks` existed (one
        scan at start-up; each list is written whole, so replicas doing it at once agree)."""
        if await self._db[META].find_one({"_id": _DEAL_INDEX_MARKER}) is not None:
            return
        lists: dict[tuple[str, str], list[str]] = {}
        query = {"deal_id": {"$ne": None}}
        async for doc in self._db[TASKS].find(query, {"workspace_id": 1, "deal_id": 1}):
            if doc.get("deal_id"):
                lists.setdefault((doc["workspace_id"], doc["deal_id"]), []).append(doc["_id"])
        for (workspace_id, deal_id), task_ids in lists.items():
            await self._db[DEAL_TASKS].update_one(
                {"_id": deal_list_id(workspace_id, deal_id)},
                {
                    "$set": {"workspace_id": workspace_id, "deal_id": deal_id},
                    "$addToSet": {"task_ids": {"$each": task_ids}},
                },
                upsert=True,
            )
        with contextlib.suppress(DuplicateKeyError):
            await self._db[META].insert_one({"_id": _DEAL_INDEX_MARKER, "at": utcnow()})

    def for_workspace(self, workspace_id: str) -> MongoWorkspaceStore:
        return MongoWorkspaceStore(self._db, workspace_id, self._locks, self._hint, self._isolated)

    async def claim_due(
        self, now: datetime, limit: int, reminder_events: EventsFor, overdue_events: EventsFor
    ) -> tuple[list[Task], list[Task]]:
        """Fire every due reminder and overdue notice, once; one scan for both."""
        fired = await self._claim(
            {},
            now,
            limit,
            {"reminder_sent": reminder_events, "overdue_sent": overdue_events},
            use_hint=True,
        )
        return fired["reminder_sent"], fired["overdue_sent"]

    async def claim_reminders(self, now: datetime, limit: int, events_for: EventsFor) -> list[Task]:
        flag = "reminder_sent"
        return (await self._claim({"flag": flag}, now, limit, {flag: events_for}))[flag]

    async def claim_overdue(self, now: datetime, limit: int, events_for: EventsFor) -> list[Task]:
        flag = "overdue_sent"
        return (await self._claim({"flag": flag}, now, limit, {flag: events_for}))[flag]

    async def _claim(
        self,
        query: dict[str, Any],
        now: datetime,
        limit: int,
        events_by_flag: dict[str, EventsFor],
        *,
        use_hint: bool = False,
    ) -> dict[str, list[Task]]:
        """Fire what is due, once.

        Due items come from the small `schedule` collection (one entry per unfired time;
        FerretDB scans rather than seeks, so the scan must not cover every task ever made).
        Firing is an insert with a unique id (`<flag>:<task>:<time>`) carrying the events
        in its outbox: only one replica's insert succeeds (FerretDB enforces unique keys on
        insert, though not conditional updates), and a crash after it still publishes.
        With `use_hint` the scan also returns the next entries not yet due, which tell the
        following ticks they may skip scanning until then (`ScheduleHint`)."""
        claimed: dict[str, list[Task]] = {flag: [] for flag in events_by_flag}
        if use_hint and self._hint.quiet(now):
            return claimed
        scan = dict(query) if use_hint else {**query, "at": {"$lte": now}}
        if use_hint:
            self._hint.scan_started()
        entries = [
            doc async for doc in self._db[SCHEDULE].find(scan).sort("at", ASCENDING).limit(limit)
        ]
        if use_hint:
            later = [entry["at"] for entry in entries if entry["at"] > now]
            if later:
                until: datetime | None = later[0]
            else:  # all due: more may wait beyond the limit; none left: quiet for the cap
                until = None if len(entries) >= limit else now + SCHEDULE_QUIET_MAX
            self._hint.scanned_at(now, until)
            entries = [entry for entry in entries if entry["at"] <= now]
        for entry in entries:
            flag = entry["flag"]
            if flag not in events_by_flag:
                continue
            when = FLAG_TIME[flag]
            doc = await self._db[TASKS].find_one({"_id": entry["task_id"]}, HIDE_OUTBOX)
            task = task_from_doc(doc) if doc else None
            at = getattr(task, when) if task else None
            if task is None or not task.active or getattr(task, flag) or at is None:
                await self._drop_entry(entry)
                continue
            if at != entry["at"]:  # re-armed meanwhile: follow the task
                self._hint.note(at)
                async with self._locks.hold(DocLocks.key(SCHEDULE, entry["_id"])):
                    await self._db[SCHEDULE].update_one({"_id": entry["_id"]}, {"$set": {"at": at}})
                continue
            fired = dataclasses.replace(task, **{flag: True})
            try:
                await self._db[FIRES].insert_one(
                    {
                        "_id": fire_id(flag, task),
                        "workspace_id": task.workspace_id,
                        "task_id": task.id,
                        "at": now,
                        **outbox_fields(events_by_flag[flag](fired)),
                    }
                )
                claimed[flag].append(fired)
            except DuplicateKeyError:
                pass  # another replica (or an earlier pass) fired it
            async with self._locks.hold(DocLocks.key(TASKS, task.id)):
                await self._db[TASKS].update_one({"_id": task.id}, {"$set": {flag: True}})
            await self._drop_entry(entry)
        return claimed

    async def _drop_entry(self, entry: dict[str, Any]) -> None:
        """Delete a schedule entry unless re-armed meanwhile (checked by `_id` under its lock:
        a filter on `_id` and `at` would scan the collection)."""
        async with self._locks.hold(DocLocks.key(SCHEDULE, entry["_id"])):
            current = await self._db[SCHEDULE].find_one({"_id": entry["_id"]}, {"at": 1})
            if current is not None and current.get("at") == entry["at"]:
                await self._db[SCHEDULE].delete_one({"_id": entry["_id"]})
