"""Exports of tasks (`crm_contracts.export_pages`): one page of the tasks list as the
caller sees it, each task as a row the tasks import reads back (`crm_tabular.targets`).

The page comes from the list use case the GraphQL `tasks` query uses (`list_tasks`), so
record sharing leaves out what the caller may not see. What a task refers to is written
the way the import resolves it: the team by name (here), the contact by email and the
company by name (asked of the contacts service for the caller, one request per page: a
record the caller may not see, or an address its role may not read, stays empty), the
deal by the key a deals export writes for it.
"""

from __future__ import annotations

from typing import Any

from crm_kit.exports import ExportNamesPort, RowsPage, columns_of, iso
from crm_kit.pagination import Cursor, encode_cursor

from ..domain.queries import TaskFilter, TaskOrder
from ..domain.task import Task
from .lookups import list_tasks
from .scope import Scope

COLUMNS = columns_of(
    (
        "external_id", "title", "type", "priority", "status", "description", "due_at",
        "remind_at", "assignee_id", "team", "deal_external_id", "contact_email", "company",
        "created_at",
    )
)  # fmt: skip
# How the deals service keys a deal made through the API (its `externalId`).
DEAL_KEY = "crm:{}"
IMPORTED = "import:"


async def task_rows(
    scope: Scope,
    where: TaskFilter,
    after: Cursor | None,
    first: int,
    names: ExportNamesPort,
) -> RowsPage:
    order = TaskOrder()
    page = await list_tasks(scope, where, order, after, first)
    teams = {
        t.id: t.name
        for t in await scope.store.get_teams(sorted({t.team_id for t in page.items if t.team_id}))
    }
    found = await names.names(
        scope.caller,
        (t.company_id for t in page.items if t.company_id),
        (t.contact_id for t in page.items if t.contact_id),
    )
    rows = [_row(task, teams, found.companies, found.emails) for task in page.items]
    last = page.items[-1] if page.items else None
    following = encode_cursor(last.sort_value(order.field), last.id) if last else None
    return RowsPage(rows, following if page.has_next else None, page.total)


def _row(
    task: Task, teams: dict[str, str], companies: dict[str, str], emails: dict[str, str]
) -> dict[str, Any]:
    imported = task.idem_key.startswith(IMPORTED)
    return {
        # An imported task keeps the id it came with; any other is known by its id here.
        "external_id": task.idem_key.removeprefix(IMPORTED) if imported else task.id,
        "title": task.title,
        "type": task.type,
        "priority": task.priority,
        "status": task.status,
        "description": task.description,
        "due_at": iso(task.due_at),
        "remind_at": iso(task.remind_at),
        "assignee_id": task.assignee_id,
        "team": teams.get(task.team_id or ""),
        "deal_external_id": DEAL_KEY.format(task.deal_id) if task.deal_id else None,
        "contact_email": emails.get(task.contact_id or ""),
        "company": companies.get(task.company_id or ""),
        "created_at": iso(task.created_at),
        "id": task.id,
    }
