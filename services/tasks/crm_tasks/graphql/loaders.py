"""Per-request DataLoaders: one store query per batch (entities and `Deal.tasks` /
`Contact.tasks` included)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from strawberry.dataloader import DataLoader

from ..domain.model import Task, Team
from ..store.protocol import TaskFilter
from ..usecases.base import Scope

RelatedKey = tuple[str, str | None]  # (deal or contact id, status or None)


class Loaders:
    def __init__(self, scope: Scope) -> None:
        self._scope = scope
        self.task = DataLoader(self._load_tasks)
        self.team = DataLoader(self._load_teams)
        self.deal_tasks = DataLoader(self._load_deal_tasks)
        self.contact_tasks = DataLoader(self._load_contact_tasks)
        self.queries = 0  # store round trips, for the batching tests

    async def _load_tasks(self, ids: Sequence[str]) -> list[Task | None]:
        self.queries += 1
        found = await self._scope.store.find_tasks(TaskFilter(ids=list(ids)), self._scope.now())
        by_id = {task.id: task for task in found}
        return [by_id.get(task_id) for task_id in ids]

    async def _load_teams(self, ids: Sequence[str]) -> list[Team | None]:
        self.queries += 1
        by_id = {team.id: team for team in await self._scope.store.get_teams(list(ids))}
        return [by_id.get(team_id) for team_id in ids]

    async def _related(self, keys: Sequence[RelatedKey], by: str) -> list[list[Task]]:
        # One query per distinct status asked for (normally exactly one).
        results: dict[RelatedKey, list[Task]] = defaultdict(list)
        by_status: dict[str | None, list[str]] = defaultdict(list)
        for owner_id, status in keys:
            by_status[status].append(owner_id)
        for status, owner_ids in by_status.items():
            self.queries += 1
            flt = TaskFilter(statuses=[status] if status else None)
            setattr(flt, f"{by}_ids", owner_ids)
            tasks = await self._scope.store.find_tasks(flt, self._scope.now())
            tasks.sort(key=lambda t: (t.due_at is None, t.due_at or t.created_at, t.id))
            for task in tasks:
                owner = task.deal_id if by == "deal" else task.contact_id
                results[(owner or "", status)].append(task)
        return [results.get(key, []) for key in keys]

    async def _load_deal_tasks(self, keys: Sequence[RelatedKey]) -> list[list[Task]]:
        return await self._related(keys, "deal")

    async def _load_contact_tasks(self, keys: Sequence[RelatedKey]) -> list[list[Task]]:
        return await self._related(keys, "contact")
