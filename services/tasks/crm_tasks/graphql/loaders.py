"""Per-request DataLoaders: one store read per batch (entities, `Deal.tasks` and
`Contact.tasks` included)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from strawberry.dataloader import DataLoader

from ..domain.task import Task
from ..domain.team import Team
from ..usecases import lookups, teams
from ..usecases.scope import Scope

RelatedKey = tuple[str, str | None]  # (deal or contact id, status or None)


class Loaders:
    def __init__(self, scope: Scope) -> None:
        self._scope = scope
        self.task: DataLoader[str, Task | None] = DataLoader(self._load_tasks)
        self.team: DataLoader[str, Team | None] = DataLoader(self._load_teams)
        self.deal_tasks: DataLoader[RelatedKey, list[Task]] = DataLoader(self._deal_tasks)
        self.contact_tasks: DataLoader[RelatedKey, list[Task]] = DataLoader(self._contact_tasks)
        self.queries = 0  # store round trips, for the batching tests
        # The related tasks read so far in this request, by ("deal" or "contact", key):
        # what the loaders' futures hold, for fields that answer without awaiting.
        self.related: dict[tuple[str, RelatedKey], list[Task]] = {}

    async def _load_tasks(self, ids: Sequence[str]) -> list[Task | None]:
        self.queries += 1
        by_id = {task.id: task for task in await lookups.tasks_by_id(self._scope, list(ids))}
        return [by_id.get(task_id) for task_id in ids]

    async def _load_teams(self, ids: Sequence[str]) -> list[Team | None]:
        self.queries += 1
        by_id = {team.id: team for team in await teams.get_teams(self._scope, list(ids))}
        return [by_id.get(team_id) for team_id in ids]

    async def _related(self, keys: Sequence[RelatedKey], by: str) -> list[list[Task]]:
        # One query per distinct status asked for (normally exactly one).
        results: dict[RelatedKey, list[Task]] = defaultdict(list)
        by_status: dict[str | None, list[str]] = defaultdict(list)
        for owner_id, status in keys:
            by_status[status].append(owner_id)
        for status, owner_ids in by_status.items():
            self.queries += 1
            statuses = [status] if status else None
            if by == "deal":
                found = await lookups.tasks_of(self._scope, deal_ids=owner_ids, statuses=statuses)
            else:
                found = await lookups.tasks_of(
                    self._scope, contact_ids=owner_ids, statuses=statuses
                )
            for task in found:
                owner = task.deal_id if by == "deal" else task.contact_id
                results[(owner or "", status)].append(task)
        answers = [results.get(key, []) for key in keys]
        for key, answer in zip(keys, answers, strict=True):
            self.related[(by, key)] = answer
        return answers

    async def _deal_tasks(self, keys: Sequence[RelatedKey]) -> list[list[Task]]:
        return await self._related(keys, "deal")

    async def _contact_tasks(self, keys: Sequence[RelatedKey]) -> list[list[Task]]:
        return await self._related(keys, "contact")
