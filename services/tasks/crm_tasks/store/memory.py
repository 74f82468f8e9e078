"""In-memory fake of the store, for unit tests. Same contract as the Mongo adapter: same
documents (through the shared codec), same scoping, same uniqueness."""

from __future__ import annotations

import asyncio
import copy
import dataclasses
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Any

from crm_contracts.envelope import CloudEvent

from ..domain.model import ACTIVE_STATUSES, Rule, RuleRun, Task, Team
from .codec import derived_task_fields, rule_from_doc, rule_to_doc, task_from_doc, task_to_doc
from .filtering import matches, page_docs
from .index_entry import TaskEntry, entry_of
from .protocol import DealOutcome, DuplicateKey, EventsFor, TaskFilter, TaskPageRequest


class MemoryWorkspaceStore:
    def __init__(self, root: MemoryTasksStore, workspace_id: str) -> None:
        self._root = root
        self.workspace_id = workspace_id

    def _tasks(self) -> list[dict[str, Any]]:
        return [d for d in self._root.tasks.values() if d["workspace_id"] == self.workspace_id]

    async def insert_task(self, task: Task, events: list[CloudEvent]) -> None:
        for doc in self._tasks():
            if doc["idem_key"] == task.idem_key:
                raise DuplicateKey("task", doc["_id"])
        if task.id in self._root.tasks:
            raise DuplicateKey("task", task.id)
        doc = {**task_to_doc(task), "workspace_id": self.workspace_id}
        self._root.tasks[task.id] = doc
        self._root.events.extend(events)

    async def insert_deal_tasks(
        self, deal_id: str, tasks: Sequence[Task], events: list[CloudEvent]
    ) -> set[str]:
        existing = await self.insert_tasks([(task, []) for task in tasks])
        self._root.events.extend(events)
        return existing

    async def insert_tasks(self, items: Sequence[tuple[Task, list[CloudEvent]]]) -> set[str]:
        existing: set[str] = set()
        for task, events in items:
            try:
                await self.insert_task(task, events)
            except DuplicateKey:
                existing.add(task.id)
        return existing

    def _get(self, task_id: str) -> dict[str, Any] | None:
        doc = self._root.tasks.get(task_id)
        return doc if doc is not None and doc["workspace_id"] == self.workspace_id else None

    async def get_task(self, task_id: str) -> Task | None:
        doc = self._get(task_id)
        return task_from_doc(copy.deepcopy(doc)) if doc else None

    async def get_task_by_idem(self, idem_key: str) -> Task | None:
        for doc in self._tasks():
            if doc["idem_key"] == idem_key:
                return task_from_doc(copy.deepcopy(doc))
        return None

    async def update_task(
        self,
        task_id: str,
        changes: dict[str, Any],
        events_for: EventsFor,
        *,
        expect: dict[str, Any] | None = None,
    ) -> Task | None:
        current = await self.get_task(task_id)
        if current is None:
            return None
        if any(getattr(current, key) != value for key, value in (expect or {}).items()):
            return None
        updated = dataclasses.replace(current, **changes, version=current.version + 1)
        doc = self._root.tasks[task_id]
        doc.update(copy.deepcopy(changes))
        doc.update(derived_task_fields(changes))
        doc["version"] = updated.version
        self._root.events.extend(events_for(updated))
        return updated

    async def find_tasks(
        self, flt: TaskFilter, now: datetime, page: TaskPageRequest | None = None
    ) -> list[Task]:
        docs = [d for d in self._tasks() if matches(task_from_doc(d), flt, now)]
        return [task_from_doc(copy.deepcopy(d)) for d in page_docs(docs, page)]

    async def count_tasks(self, flt: TaskFilter, now: datetime) -> int:
        return len(await self.find_tasks(flt, now))

    async def task_rows(self, flt: TaskFilter, now: datetime) -> list[TaskEntry]:
        return [entry_of(task_to_doc(t)) for t in await self.find_tasks(flt, now)]

    async def index_docs(self) -> AsyncIterator[dict[str, Any]]:
        for doc in self._tasks():
            await asyncio.sleep(0)  # yield as a database cursor would (tests race writes)
            yield copy.deepcopy(doc)

    async def index_doc(self, task_id: str) -> dict[str, Any] | None:
        doc = self._get(task_id)
        return copy.deepcopy(doc) if doc is not None else None

    async def open_counts(self, member_ids: Sequence[str]) -> dict[str, int]:
        counts: dict[str, int] = {}
        for doc in self._tasks():
            if doc["assignee_id"] in member_ids and doc["status"] in ACTIVE_STATUSES:
                counts[doc["assignee_id"]] = counts.get(doc["assignee_id"], 0) + 1
        return counts

    # teams

    def _teams(self) -> list[Team]:
        return [t for t in self._root.teams.values() if t.workspace_id == self.workspace_id]

    async def insert_team(self, team: Team) -> None:
        existing = await self.get_team_by_name(team.name)
        if existing is not None:
            raise DuplicateKey("team name", existing.id)
        self._root.teams[team.id] = dataclasses.replace(team, workspace_id=self.workspace_id)

    async def get_teams(self, ids: Sequence[str]) -> list[Team]:
        return [copy.deepcopy(t) for t in self._teams() if t.id in ids]

    async def get_team_by_name(self, name: str) -> Team | None:
        return next((copy.deepcopy(t) for t in self._teams() if t.name == name), None)

    async def list_teams(self) -> list[Team]:
        return sorted((copy.deepcopy(t) for t in self._teams()), key=lambda t: t.name)

    async def update_team(self, team_id: str, changes: dict[str, Any]) -> Team | None:
        team = self._root.teams.get(team_id)
        if team is None or team.workspace_id != self.workspace_id:
            return None
        if "name" in changes:
            other = await self.get_team_by_name(changes["name"])
            if other is not None and other.id != team_id:
                raise DuplicateKey("team name", other.id)
        updated = dataclasses.replace(team, **changes)
        self._root.teams[team_id] = updated
        return copy.deepcopy(updated)

    async def reserve_round_robin(self, team: Team, key: str | None) -> int:
        slots = self._root.slots.setdefault((self.workspace_id, team.id), {})
        if key is not None and key in slots:
            return slots[key]
        n = len(slots) + 1
        slots[key or f"once:{n}"] = n
        return n

    # rules

    async def insert_rule(self, rule: Rule) -> None:
        self._root.rules[rule.id] = {**rule_to_doc(rule), "workspace_id": self.workspace_id}

    async def get_rule(self, rule_id: str) -> Rule | None:
        doc = self._root.rules.get(rule_id)
        if doc is None or doc["workspace_id"] != self.workspace_id:
            return None
        return rule_from_doc(copy.deepcopy(doc))

    async def list_rules(
        self, trigger: str | None = None, enabled: bool | None = None
    ) -> list[Rule]:
        rules = [
            rule_from_doc(copy.deepcopy(d))
            for d in self._root.rules.values()
            if d["workspace_id"] == self.workspace_id
        ]
        return sorted(
            (
                r
                for r in rules
                if (trigger is None or r.trigger == trigger)
                and (enabled is None or r.enabled == enabled)
            ),
            key=lambda r: r.id,
        )

    async def update_rule(self, rule_id: str, changes: dict[str, Any]) -> Rule | None:
        rule = await self.get_rule(rule_id)
        if rule is None:
            return None
        updated = dataclasses.replace(rule, **changes)
        await self.insert_rule(updated)
        return updated

    async def delete_rule(self, rule_id: str) -> bool:
        if await self.get_rule(rule_id) is None:
            return False
        del self._root.rules[rule_id]
        return True

    async def start_run(self, run: RuleRun) -> RuleRun | None:
        for existing in self._root.runs.values():
            if (
                existing.workspace_id == self.workspace_id
                and existing.rule_id == run.rule_id
                and existing.event_id == run.event_id
            ):
                return copy.deepcopy(existing)
        self._root.runs[run.id] = dataclasses.replace(run, workspace_id=self.workspace_id)
        return None

    async def finish_run(self, run: RuleRun, events: list[CloudEvent]) -> bool:
        stored = self._root.runs.get(run.id)
        if stored is None or stored.outcome != "running":
            return False
        self._root.runs[run.id] = dataclasses.replace(
            copy.deepcopy(run), workspace_id=self.workspace_id
        )
        self._root.events.extend(events)
        return True

    async def list_runs(self, rule_id: str, after: str | None, limit: int) -> list[RuleRun]:
        runs = sorted(
            (
                r
                for r in self._root.runs.values()
                if r.workspace_id == self.workspace_id and r.rule_id == rule_id
            ),
            key=lambda r: r.id,
            reverse=True,
        )
        if after is not None:
            runs = [r for r in runs if r.id < after]
        return [copy.deepcopy(r) for r in runs[:limit]]

    # deal outcomes

    async def record_deal_outcome(self, outcome: DealOutcome) -> None:
        self._root.outcomes[(self.workspace_id, outcome.deal_id)] = outcome

    async def delete_deal_outcome(self, deal_id: str) -> None:
        self._root.outcomes.pop((self.workspace_id, deal_id), None)

    async def deal_outcomes(self, closed_from: datetime, closed_to: datetime) -> list[DealOutcome]:
        return [
            o
            for (ws, _), o in self._root.outcomes.items()
            if ws == self.workspace_id and closed_from <= o.closed_at < closed_to
        ]


class MemoryTasksStore:
    def __init__(self) -> None:
        self.tasks: dict[str, dict[str, Any]] = {}
        self.teams: dict[str, Team] = {}
        self.rules: dict[str, dict[str, Any]] = {}
        self.runs: dict[str, RuleRun] = {}
        self.outcomes: dict[tuple[str, str], DealOutcome] = {}
        self.slots: dict[tuple[str, str], dict[str, int]] = {}
        self.fired: set[str] = set()
        # Every event a write would have put in an outbox, in order.
        self.events: list[CloudEvent] = []

    async def ensure_indexes(self) -> None:
        return None

    def for_workspace(self, workspace_id: str) -> MemoryWorkspaceStore:
        return MemoryWorkspaceStore(self, workspace_id)

    def events_of(self, event_type: str) -> list[CloudEvent]:
        return [e for e in self.events if e.type == event_type]

    async def _claim(
        self, flag: str, when: str, now: datetime, limit: int, events_for: EventsFor
    ) -> list[Task]:
        claimed: list[Task] = []
        for doc in sorted(self.tasks.values(), key=lambda d: d["_id"]):
            if len(claimed) >= limit:
                break
            due = doc.get(when)
            if doc[flag] or due is None or due > now or doc["status"] not in ACTIVE_STATUSES:
                continue
            doc[flag] = True
            marker = f"{flag}:{doc['_id']}:{due.isoformat()}"
            if marker in self.fired:
                continue
            self.fired.add(marker)
            task = task_from_doc(copy.deepcopy(doc))
            self.events.extend(events_for(task))
            claimed.append(task)
        return claimed

    async def claim_due(
        self, now: datetime, limit: int, reminder_events: EventsFor, overdue_events: EventsFor
    ) -> tuple[list[Task], list[Task]]:
        reminded = await self.claim_reminders(now, limit, reminder_events)
        return reminded, await self.claim_overdue(now, limit, overdue_events)

    async def claim_reminders(self, now: datetime, limit: int, events_for: EventsFor) -> list[Task]:
        return await self._claim("reminder_sent", "remind_at", now, limit, events_for)

    async def claim_overdue(self, now: datetime, limit: int, events_for: EventsFor) -> list[Task]:
        return await self._claim("overdue_sent", "due_at", now, limit, events_for)
