"""Imports of tasks: the owner's side of an import batch (`crm_contracts.import_batches`,
run by `crm_kit.imports.write_batch`).

A row becomes a task with the same checks as createTask (`tasks.new_task`: title, type,
priority, times, team and assignee). What it names elsewhere is resolved once per batch:
the deal by external id (deals), the contact by email and the company by name
(contacts), one request each; the team by name here. Identity: the external id, kept as
the task's natural key `import:<external id>` (unique per workspace, so no two imports
make it twice). A row's status may be any of the lifecycle's (a done task arrives done).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from crm_contracts.import_batches import ImportRow
from crm_kit.errors import BadUserInput, ServiceUnavailable
from crm_kit.imports import Built, Key, ignored, moment, text, warning

from ..domain.task import STATUSES, Task, TaskSource
from ..store.port import Directory, DirectoryUnavailable, NamedReferences
from .inputs import TaskInput
from .scope import Scope
from .tasks import new_task

PREFIX = "row"
KNOWN = {
    "title", "type", "priority", "status", "description", "due_at", "remind_at",
    "assignee_id", "team", "deal_external_id", "contact_email", "company", "external_id",
    "created_at",
}  # fmt: skip
IMPORTED = TaskSource(kind="import")
__all__ = ["Directory", "TaskSink", "undo_import"]


def _text(values: dict[str, Any], name: str) -> str | None:
    """Trimmed, inner runs of spaces as one (names and keys are compared so)."""
    given = text(values, name, PREFIX)
    return " ".join(given.split()) if given else None


def _moment(values: dict[str, Any], name: str) -> datetime | None:
    return moment(values, name, PREFIX)


def _choice(values: dict[str, Any], name: str, default: str) -> str:
    text = (_text(values, name) or default).lower().replace(" ", "_").replace("-", "_")
    return text


def natural_key(external_id: str) -> str:
    return f"import:{external_id}"


class TaskSink:
    kind = "task"

    def __init__(self, scope: Scope, job_id: str, directory: Directory | None) -> None:
        self.scope = scope
        self.job_id = job_id
        self.directory = directory
        self.refs = NamedReferences()
        self.teams: dict[str, str | None] = {}

    def id_of(self, record: Task) -> str:
        return record.id

    async def prepare(self, rows: Sequence[ImportRow]) -> None:
        deals: set[str] = set()
        emails: set[str] = set()
        companies: set[str] = set()
        teams: set[str] = set()
        for row in rows:
            for name, bucket in (
                ("deal_external_id", deals),
                ("contact_email", emails),
                ("company", companies),
                ("team", teams),
            ):
                value = row.values.get(name)
                if isinstance(value, str) and value.strip():
                    bucket.add(" ".join(value.split()))
        if (deals or emails or companies) and self.directory is not None:
            try:
                self.refs = await self.directory.references(
                    self.scope.caller, sorted(deals), sorted(emails), sorted(companies)
                )
            except DirectoryUnavailable as error:
                raise ServiceUnavailable(str(error)) from None
        for name in sorted(teams):
            team = await self.scope.store.team_by_name(name)
            self.teams[name] = team.id if team else None

    async def build(self, row: ImportRow, record_id: str) -> Built[Task]:
        values = row.values
        issues = ignored(values, KNOWN, "tasks", custom=False)
        status = _choice(values, "status", "open")
        if status not in STATUSES:
            raise BadUserInput(
                f"{status!r} is not one of {', '.join(STATUSES)}", field=f"{PREFIX}.status"
            )
        team_name = _text(values, "team")
        team_id = self.teams.get(team_name) if team_name else None
        if team_name and team_id is None:
            issues.append(warning("unknown_team", f"no team {team_name!r}", "team"))
        data = TaskInput(
            title=_text(values, "title") or "",
            type=_choice(values, "type", "todo"),
            priority=_choice(values, "priority", "normal"),
            description=_text(values, "description"),
            due_at=_moment(values, "due_at"),
            remind_at=_moment(values, "remind_at"),
            assignee_id=_text(values, "assignee_id"),
            team_id=team_id,
            deal_id=self._ref(values, "deal_external_id", self.refs.deals, issues),
            contact_id=self._ref(values, "contact_email", self.refs.contacts, issues),
            company_id=self._ref(values, "company", self.refs.companies, issues),
        )
        external_id = _text(values, "external_id")
        key = natural_key(external_id) if external_id else f"import:{self.job_id}:{row.row}"
        task = await new_task(
            self.scope,
            data,
            source=IMPORTED,
            idem_key=key,
            prefix=PREFIX,
            default_to_actor=False,
            team_checked=True,
        )
        task.id = record_id
        task.import_job = self.job_id
        created = _moment(values, "created_at")
        if created is not None:
            task.created_at = task.updated_at = created
        if status != "open":
            task.status = status
            if status == "done":
                task.completed_at, task.completed_by = task.due_at or task.created_at, None
        keys: list[Key] = [("external_id", external_id)] if external_id else []
        return Built(task, keys, issues)

    @staticmethod
    def _ref(
        values: dict[str, Any], name: str, found: dict[str, str], issues: list[Any]
    ) -> str | None:
        text = _text(values, name)
        if text is None:
            return None
        record_id = found.get(text) or found.get(text.lower())
        if record_id is None:
            issues.append(warning(f"unknown_{name}", f"nothing found for {text!r}", name))
        return record_id

    async def existing(self, keys: Sequence[Key]) -> dict[Key, Task]:
        found = await self.scope.store.tasks_by_keys([natural_key(v) for _, v in keys])
        return {("external_id", t.idem_key.removeprefix("import:")): t for t in found}

    async def update(self, existing: Task, built: Task, row: ImportRow, *, dry_run: bool) -> bool:
        """The fields the row holds that an edit may change (title, type, priority,
        description, times, assignee, links); not the status (its lifecycle rules)."""
        given = row.values
        changed: dict[str, Any] = {}
        for name, attribute in (
            ("title", "title"),
            ("type", "type"),
            ("priority", "priority"),
            ("description", "description"),
            ("due_at", "due_at"),
            ("remind_at", "remind_at"),
            ("assignee_id", "assignee_id"),
            ("deal_external_id", "deal_id"),
            ("contact_email", "contact_id"),
            ("company", "company_id"),
        ):
            if given.get(name) not in (None, "") and getattr(built, attribute) is not None:
                changed[attribute] = getattr(built, attribute)
        now = self.scope.now()
        if dry_run:
            return bool(copy.deepcopy(existing).change(changed, at=now))

        async def change(task: Task) -> bool:
            return bool(task.change(changed, at=now))

        before = existing.version
        saved = await self.scope.store.change_task(existing.id, change)
        return saved is not None and saved.version != before

    async def insert(self, records: Sequence[Task], batch_id: str) -> list[Task]:
        return await self.scope.store.import_tasks(records, batch_id)

    async def get(self, ids: Sequence[str]) -> list[Task]:
        return await self.scope.store.get_tasks(ids)


async def undo_import(scope: Scope, job_id: str) -> int:
    """Cancel the tasks import `job_id` created that nobody changed since (reason
    `import undone`, `task.cancelled` through the outbox: tasks are never deleted, their
    history counts); answers how many."""
    scope.require_write()
    now = scope.now()
    removed = 0

    async def cancel(task: Task) -> bool:
        nonlocal removed
        if task.version != 0 or not task.active:
            return False
        task.move_to("cancelled", at=now, by=scope.actor, reason="import undone")
        removed += 1
        return True

    for task_id in await scope.store.imported_task_ids(job_id):
        await scope.store.change_task(task_id, cancel)
    return removed
