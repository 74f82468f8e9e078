"""Task lists served by a per-process read index (the `ferretdb` profile, unless
`TASKS_INDEX=off`): `crm_kit.read_index` over `TaskEntries`.

Why: on FerretDB's SQLite backend any filter but `{_id: value}` reads the whole `tasks`
collection. The index keeps a `TaskSummary` per task, selects, sorts and pages over them,
and reads only the chosen tasks by `_id`; counts, open counts and analytics read the
summaries alone. A workspace the index cannot load goes to the database as before.

It stays current without wrapping a single write: it listens to the write path's hooks
(`crm_kit.writer.WriteHooks`). A task this process writes is installed as written before
the write returns (read-your-writes; a summary never replaces one of a later version), and
the events this process writes are expected, so when the event feed (`crm_kit.index_feed`,
other replicas' writes) brings them back they cost no read. Filters by task ids or by deal
stay on the `_id` paths of `deal_lists.py`: current on every replica at once, where the
index of another replica lags by an event's latency.

With the change logs of `tasks` and `deal_tasks` (`crm_kit.change_log`, `journal`) the
index also holds whole tasks, and a second one holds the deals' task lists (absent ones
too: a list is only ever written by an upsert, which is journalled): tasks by id and by
deal (`Deal.tasks` on the board) then come from memory, each request first following the
logs (one `_id` look-up each when nothing changed) instead of one read per list and task.
A third holds the deals' outcomes the same way (`deal_outcomes`, absent ones too: most
deals have none): a batch of stage changes asks for its deals' closes twice, before and
after storing their playbook tasks, which was two `_id` look-ups per stage change and is
now one probe of the log per batch (and a look-up per deal not held yet). The outcome's
writer compares and sets against the stored document, not this.

A fourth holds each workspace's automation rules whole (`automation_rules`, its change log
journalling every insert, change and delete): the rules durables read a trigger's enabled
rules once per fetch, and a stage change handled alone (the service keeping up) costs two
such fetches (the stage change's, and the overdue notice of a template due at once), each a
scan of every workspace's rules on FerretDB. Held, each is one probe of the log; a rule
changed on another replica is in the log before its write returned, so the next fetch
re-reads it.

A fetched task whose summary differs from the one it was selected by (written by another
replica, its event not applied yet) is re-read into the index and the selection runs
again, so a page is always ordered and filtered by the tasks it returns.
"""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from crm_kit.change_log import ChangeLog, Journal
from crm_kit.index_entries import Entries, HasId
from crm_kit.index_snapshot import dataclass_codec
from crm_kit.pagination import Cursor, Page
from crm_kit.read_index import ReadIndex
from crm_kit.records import RecordSource, RecordType, document_copy
from crm_kit.writer import WriteHooks, Written

from ..config import DEAL_TASKS, OUTCOMES, RULES, TASKS
from ..domain.outcome import DealOutcome
from ..domain.queries import TaskFilter, TaskOrder
from ..domain.rule import Rule
from ..domain.task import Task, TaskSummary
from .deal_lists import DEAL_LIST, DealListStore, DealListWorkspaceStore, deal_list_id
from .documents import OUTCOME, RULE, TASK, outcome_id
from .filters import tasks_matching
from .schedule import ScheduleHint
from .task_entries import TaskEntries, stored_fields

E = TypeVar("E", bound=HasId)

TaskIndex = ReadIndex[TaskSummary, TaskEntries]


@dataclass(frozen=True)
class ListEntry:
    """A deal's task list as the held-lists index knows it: by id (nothing is selected),
    with its length, which only grows (ids are added, never removed): what a write
    returned is never older than what the index holds."""

    id: str
    size: int = 0


def _list_entry(doc: Mapping[str, Any] | None) -> ListEntry | None:
    return ListEntry(str(doc["_id"]), len(doc.get("task_ids") or ())) if doc else None


@dataclass(frozen=True)
class HeldId:
    """A document an index holds whole and selects nothing by: its entry is its id."""

    id: str


def _held_id(doc: Mapping[str, Any] | None) -> HeldId | None:
    return HeldId(str(doc["_id"])) if doc else None


@dataclass(frozen=True)
class RuleEntry:
    """A rule as the held-rules index knows it: whole (a workspace has a handful; the
    rules durables want every enabled one of a trigger, nothing is paged)."""

    id: str
    rule: Rule


def _rule_entry(record: Rule | Mapping[str, Any] | None) -> RuleEntry | None:
    if record is None:
        return None
    rule = record if isinstance(record, Rule) else RULE.from_doc(record)
    return RuleEntry(rule.id, rule)


SELECT_ATTEMPTS = 3
# Bump when a task's summary is derived differently: older snapshots go unused.
SUMMARY_VERSION = 1


def _older(incoming: TaskSummary, held: TaskSummary) -> bool:
    return incoming.version < held.version


class IndexedStore(DealListStore):
    def __init__(
        self,
        source: RecordSource,
        hooks: WriteHooks,
        *,
        schedule_hint: ScheduleHint | None = None,
        live: bool = True,
        journal: Journal | None = None,
    ) -> None:
        """`live=False` keeps the index unused until its event feed is subscribed
        (`ReadIndex.go_live`); `journal` makes the change logs with which the indexes
        hold whole tasks and deal lists."""
        super().__init__(source, schedule_hint=schedule_hint)
        self.index: TaskIndex = ReadIndex(
            scan=self._scan,
            scan_all=self._scan_all,
            read=self._read,
            read_many=self._read_many,
            entry_of=_summary_of,
            new_entries=TaskEntries,
            older=_older,
            name="task index",
            live=live,
            changes=journal(TASKS) if journal is not None else None,
            snapshot_codec=dataclass_codec(TaskSummary, SUMMARY_VERSION),
        )
        # Deal lists and deals' outcomes (absent ones, most often): held as they are asked
        # for (a close or a reopen is journalled, inserts included).
        self.deal_lists: ReadIndex[ListEntry, Entries[ListEntry]] | None = None
        self.outcomes: ReadIndex[HeldId, Entries[HeldId]] | None = None
        if journal is not None:
            self.deal_lists = _held_as_asked(
                "deal task lists",
                journal(DEAL_TASKS),
                self._read_list,
                _read_many(source, DEAL_LIST),
                _list_entry,
                older=lambda incoming, held: incoming.size < held.size,
            )
            self.outcomes = _held_as_asked(
                "deal outcomes",
                journal(OUTCOMES),
                self._read_outcome,
                _read_many(source, OUTCOME),
                _held_id,
            )
        # Automation rules: a workspace's loaded by one scan on first use, then followed.
        self.rules: ReadIndex[RuleEntry, Entries[RuleEntry]] | None = None
        if journal is not None:
            self.rules = ReadIndex(
                scan=self._scan_rules,
                read=self._read_rule,
                read_many=_read_many(source, RULE),
                entry_of=_rule_entry,
                new_entries=Entries,
                name="automation rules",
                changes=journal(RULES),
            )
        hooks.subscribe(self._written)

    def for_workspace(self, workspace_id: str) -> IndexedWorkspaceStore:
        return IndexedWorkspaceStore(self, workspace_id)

    async def _scan(self, workspace_id: str) -> AsyncIterator[TaskSummary]:
        async for task in self.source.records(TASK, workspace_id).scan():
            yield task.summary()

    async def _scan_all(self) -> AsyncIterator[tuple[str, TaskSummary]]:
        # Every workspace's tasks (the warm-up and rebuilds: one scan for all).
        async for task in self.source.records(TASK, None).scan():
            yield task.workspace_id, task.summary()

    async def _read(self, workspace_id: str, task_id: str) -> TaskSummary | dict[str, Any] | None:
        found = await self.source.records(TASK, workspace_id).get([task_id])
        if not found:
            return None
        # Held whole with a change log; otherwise the summary is all the index keeps.
        return TASK.to_doc(found[0]) if self.index.holds_records else found[0].summary()

    async def _read_many(
        self, workspace_id: str, task_ids: list[str]
    ) -> dict[str, TaskSummary | dict[str, Any]]:
        found = await self.source.records(TASK, workspace_id).get(task_ids)
        whole = self.index.holds_records
        return {task.id: TASK.to_doc(task) if whole else task.summary() for task in found}

    async def _read_list(self, workspace_id: str, list_id: str) -> dict[str, Any] | None:
        found = await self.source.records(DEAL_LIST, workspace_id).get([list_id])
        return DEAL_LIST.to_doc(found[0]) if found else None

    async def _read_outcome(self, workspace_id: str, record_id: str) -> dict[str, Any] | None:
        found = await self.source.records(OUTCOME, workspace_id).get([record_id])
        return OUTCOME.to_doc(found[0]) if found else None

    async def _scan_rules(self, workspace_id: str) -> AsyncIterator[Rule]:
        async for rule in self.source.records(RULE, workspace_id).scan():
            yield rule

    async def _read_rule(self, workspace_id: str, rule_id: str) -> dict[str, Any] | None:
        found = await self.source.records(RULE, workspace_id).get([rule_id])
        return RULE.to_doc(found[0]) if found else None

    async def _written(self, written: Written) -> None:
        # Whatever this process writes it installs: a task's state below, the tasks a
        # deal's list announces before the list is written. Said first, before anything
        # here waits, so the feed cannot meet an event the relay published meanwhile.
        self.index.expect_events(event.id for event in written.events)
        if (
            written.collection == DEAL_TASKS
            and written.workspace_id is not None
            and self.deal_lists is not None
        ):
            # Its log skips this process's own slots: the list held is re-read here, or
            # taken from the write when it got the document back (a playbook's list write,
            # which carries the tasks' events: no read of that document, outbox and all).
            list_id = str(written.doc_id)
            returned = None
            if written.stored is not None:
                returned = {list_id: DEAL_LIST.to_doc(DEAL_LIST.from_doc(written.stored))}
            await self.deal_lists.refresh(written.workspace_id, [list_id], returned)
        if (
            written.collection == OUTCOMES
            and written.workspace_id is not None
            and self.outcomes is not None
        ):
            # Its log skips this process's own slots: read again before the write returns.
            await self.outcomes.refresh(written.workspace_id, [str(written.doc_id)])
        if written.collection == RULES and written.workspace_id is not None and self.rules:
            # As the outcomes: this process's own rule writes are not followed from the log.
            await self.rules.refresh(written.workspace_id, [str(written.doc_id)])
        if written.collection == TASKS and written.workspace_id is not None:
            record = written.record
            known = None
            if isinstance(record, Task):
                # A copy: the caller may go on changing its task, and the index may hold it.
                # `document_copy`, not `deepcopy`: the same copy of a stored document at a
                # quarter of the cost (~17-21 us a task instead of ~65-75; deepcopy here was
                # 5 % of the service's CPU per stage change under cProfile, three tasks each).
                held = document_copy(TASK.to_doc(record)) if self.index.holds_records else None
                known = {written.doc_id: held or record.summary()}
            await self.index.refresh(written.workspace_id, [written.doc_id], known)


def _summary_of(record: TaskSummary | Mapping[str, Any]) -> TaskSummary:
    """A record the index holds (a stored task, or a summary from a scan or without a
    change log) as its entry."""
    return record if isinstance(record, TaskSummary) else TASK.from_doc(record).summary()


async def _nothing(workspace_id: str) -> AsyncIterator[Any]:
    return
    yield


def _read_many(
    source: RecordSource, kind: RecordType[Any]
) -> Callable[[str, list[str]], Awaitable[dict[str, dict[str, Any]]]]:
    """Stored documents of several ids by id, one query (absent ones left out)."""

    async def read_many(workspace_id: str, ids: list[str]) -> dict[str, dict[str, Any]]:
        found = await source.records(kind, workspace_id).get(ids)
        return {str(doc["_id"]): doc for doc in map(kind.to_doc, found)}

    return read_many


def _held_as_asked(
    name: str,
    changes: ChangeLog,
    read: Callable[[str, str], Awaitable[Any]],
    read_many: Callable[[str, list[str]], Awaitable[dict[str, dict[str, Any]]]],
    entry_of: Callable[[Any], E | None],
    older: Callable[[E, E], bool] | None = None,
) -> ReadIndex[E, Entries[E]]:
    """An index filled as its documents are asked for (no scan), absent ones remembered,
    kept current by its change log and emptied by an overflow of it."""
    return ReadIndex(
        scan=_nothing,
        read=read,
        read_many=read_many,
        entry_of=entry_of,
        new_entries=Entries,
        older=older,
        name=name,
        changes=changes,
        remember_absent=True,
    )


def _served(where: TaskFilter) -> bool:
    return where.ids is None and where.deal_ids is None


class IndexedWorkspaceStore(DealListWorkspaceStore):
    root: IndexedStore

    @property
    def index(self) -> TaskIndex:
        return self.root.index

    async def _entries(self, where: TaskFilter) -> TaskEntries | None:
        return await self.index.entries(self.workspace_id) if _served(where) else None

    async def find_tasks(
        self,
        where: TaskFilter,
        now: datetime,
        order: TaskOrder | None = None,
        limit: int | None = None,
    ) -> list[Task]:
        entries = await self._entries(where)
        if entries is None:
            return await super().find_tasks(where, now, order, limit)
        return await self._chosen(
            lambda: entries.select(where, now, order, None, limit), where, now
        )

    async def list_tasks(
        self, where: TaskFilter, now: datetime, order: TaskOrder, after: Cursor | None, first: int
    ) -> Page[Task]:
        entries = await self._entries(where)
        if entries is None:
            return await super().list_tasks(where, now, order, after, first)
        rows = await self._chosen(
            lambda: entries.select(where, now, order, after, first + 1), where, now
        )
        return Page(rows[:first], entries.count(where, now), len(rows) > first)

    async def count_tasks(self, where: TaskFilter, now: datetime) -> int:
        entries = await self._entries(where)
        if entries is None:
            return await super().count_tasks(where, now)
        return entries.count(where, now)

    async def task_summaries(self, where: TaskFilter, now: datetime) -> list[TaskSummary]:
        entries = await self._entries(where)
        if entries is None:
            return await super().task_summaries(where, now)
        return entries.select(where, now)

    async def open_counts(self, member_ids: Sequence[str]) -> dict[str, int]:
        entries = await self.index.entries(self.workspace_id)
        if entries is None:
            return await super().open_counts(member_ids)
        return entries.open_counts(member_ids)

    async def _chosen(
        self, choose: Callable[[], list[TaskSummary]], where: TaskFilter, now: datetime
    ) -> list[Task]:
        """The chosen tasks, read by `_id`; a selection made with a summary that fell
        behind its task is made again once the summary is re-read."""
        chosen = choose()
        for _ in range(SELECT_ATTEMPTS - 1):
            tasks, behind = await self._fetch(chosen)
            if not behind:
                return tasks
            await self.index.refresh(self.workspace_id, behind)
            chosen = choose()
        tasks, _ = await self._fetch(chosen)
        # Still moving: return what still matches, as read.
        query = tasks_matching(where, now)
        return [task for task in tasks if query.matches(stored_fields(task.summary()))]

    async def _by_ids(self, where: TaskFilter) -> list[Task] | None:
        """Tasks by id or by deal from the held lists and tasks (with the change logs)."""
        lists = self.root.deal_lists
        if lists is None or (where.ids is None and where.deal_ids is None):
            return await super()._by_ids(where)
        ws = self.workspace_id
        if self.index.loaded(ws) is None:  # not loaded for a look-up by id (a whole scan)
            return await super()._by_ids(where)
        if await self.index.entries(ws) is None or await lists.entries(ws) is None:
            return await super()._by_ids(where)
        if where.ids is not None:
            ids = list(where.ids)
        else:
            wanted = [deal_list_id(ws, deal_id) for deal_id in where.deal_ids or ()]
            held = await lists.records(ws, wanted)
            ids = [i for list_id in wanted if list_id in held for i in held[list_id]["task_ids"]]
        docs = await self.index.records(ws, ids)
        return [TASK.from_doc(docs[i]) for i in ids if i in docs]

    async def deal_outcome(self, deal_id: str) -> DealOutcome | None:
        outcomes, ws = self.root.outcomes, self.workspace_id
        if outcomes is None or await outcomes.entries(ws) is None:
            return await super().deal_outcome(deal_id)
        record_id = outcome_id(ws, deal_id)
        held = await outcomes.records(ws, [record_id])
        return OUTCOME.from_doc(held[record_id]) if record_id in held else None

    async def outcomes_of(
        self, deal_ids: Sequence[str], *, current: bool = True
    ) -> dict[str, DealOutcome]:
        # Those not held yet read in one query (`ReadIndex.records`), not one per deal: a
        # consumer's batch of stage changes asks for its deals' outcomes together.
        outcomes, ws = self.root.outcomes, self.workspace_id
        if outcomes is None:
            return await super().outcomes_of(deal_ids)
        # Not current: as held, without the probe of the log (the held outcomes are as of
        # this process's last probe; the deals not held yet are read).
        held_as_known = (
            not current
            and outcomes.live
            and not outcomes.closed
            and outcomes.loaded(ws) is not None
        )
        if not held_as_known and await outcomes.entries(ws) is None:
            return await super().outcomes_of(deal_ids)
        wanted = {outcome_id(ws, deal_id): deal_id for deal_id in dict.fromkeys(deal_ids)}
        held = await outcomes.records(ws, list(wanted))
        return {wanted[record_id]: OUTCOME.from_doc(doc) for record_id, doc in held.items()}

    async def list_rules(
        self, trigger: str | None = None, enabled: bool | None = None
    ) -> list[Rule]:
        # Held: one probe of the rules' change log instead of a scan of every workspace's
        # rules (the rules durables ask once per fetch, twice for a stage change alone).
        held, ws = self.root.rules, self.workspace_id
        entries = await held.entries(ws) if held is not None else None
        if entries is None:
            return await super().list_rules(trigger, enabled)
        chosen = [
            entry.rule
            for entry in entries.entries.values()
            if (trigger is None or entry.rule.trigger == trigger)
            and (enabled is None or entry.rule.enabled == enabled)
        ]
        # In the store's order (by id); copies, as a read gives: the held rules are shared.
        return [copy.deepcopy(rule) for rule in sorted(chosen, key=lambda rule: rule.id)]

    async def _fetch(self, chosen: list[TaskSummary]) -> tuple[list[Task], list[str]]:
        """The chosen tasks in order, and the ids whose summary was behind its task."""
        if self.index.holds_records:
            docs = await self.index.records(self.workspace_id, [s.id for s in chosen])
            found = {task_id: TASK.from_doc(doc) for task_id, doc in docs.items()}
        else:
            found = {task.id: task for task in await self.tasks.get([s.id for s in chosen])}
        tasks: list[Task] = []
        behind: list[str] = []
        for summary in chosen:
            task = found.get(summary.id)
            if task is None or task.summary() != summary:
                behind.append(summary.id)
            if task is not None:
                tasks.append(task)
        return tasks, behind
