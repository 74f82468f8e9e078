"""Task analytics, computed in Python from the tasks' summaries (`task_summaries`: no
text, so the store may answer from a read index): FerretDB v1 has no percentile
accumulators (and no `$cond`), and a workspace's tasks over a reporting window are few
enough to group in memory."""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from crm_kit.errors import BadUserInput

from ..domain.queries import TaskFilter
from ..domain.task import Task, TaskSummary
from .scope import Scope
from .visibility import narrowed

GROUP_BY = ("assignee", "team", "type")


@dataclass
class GroupStats:
    key: str | None
    created: int = 0
    completed: int = 0
    overdue: int = 0
    durations: list[float] = field(default_factory=list)

    @property
    def completion_rate(self) -> float:
        return self.completed / self.created if self.created else 0.0

    @property
    def median_seconds_to_complete(self) -> float | None:
        return statistics.median(self.durations) if self.durations else None


@dataclass
class PlaybookEffectiveness:
    deals_on_time: int = 0
    deals_on_time_won: int = 0
    deals_late: int = 0
    deals_late_won: int = 0

    @property
    def win_rate_on_time(self) -> float | None:
        return self.deals_on_time_won / self.deals_on_time if self.deals_on_time else None

    @property
    def win_rate_late(self) -> float | None:
        return self.deals_late_won / self.deals_late if self.deals_late else None


@dataclass
class Analytics:
    groups: list[GroupStats]
    total: GroupStats
    playbooks: PlaybookEffectiveness


def _key(task: TaskSummary, group_by: str) -> str | None:
    if group_by == "assignee":
        return task.assignee_id
    if group_by == "team":
        return task.team_id
    return task.type


def _was_overdue(task: TaskSummary, now: datetime) -> bool:
    """Still open past its due time, or completed after it."""
    return task.is_overdue(now) or (task.status == "done" and task.on_time is False)


def _add(stats: GroupStats, task: TaskSummary, now: datetime) -> None:
    stats.created += 1
    if task.status == "done":
        stats.completed += 1
        if task.completed_at is not None and task.created_at is not None:
            stats.durations.append((task.completed_at - task.created_at).total_seconds())
    if _was_overdue(task, now):
        stats.overdue += 1


async def task_analytics(scope: Scope, start: datetime, end: datetime, group_by: str) -> Analytics:
    """Tasks created in [start, end), grouped; and, for deals closed in [start, end) that
    ran a playbook, the win rate when all their playbook tasks were done on time vs not."""
    if end <= start:
        raise BadUserInput("must be after from", field="to")
    if group_by not in GROUP_BY:
        raise BadUserInput(f"must be one of {GROUP_BY}", field="groupBy")
    now = scope.now()
    # Counted over the tasks the caller sees (record sharing); the playbook win rates
    # below are the workspace's (a rate names no task).
    created = await narrowed(scope, TaskFilter(created_from=start, created_to=end))
    tasks = await scope.store.task_summaries(created, now)
    groups: dict[str | None, GroupStats] = {}
    total = GroupStats(key=None)
    for task in tasks:
        key = _key(task, group_by)
        _add(groups.setdefault(key, GroupStats(key=key)), task, now)
        _add(total, task, now)
    ordered = sorted(groups.values(), key=lambda g: (-g.created, g.key or ""))
    return Analytics(ordered, total, await _playbooks(scope, start, end, now))


async def _playbooks(
    scope: Scope, start: datetime, end: datetime, now: datetime
) -> PlaybookEffectiveness:
    outcomes = await scope.store.deal_outcomes(start, end)
    result = PlaybookEffectiveness()
    if not outcomes:
        return result
    playbook_tasks = await scope.store.find_tasks(
        TaskFilter(deal_ids=[o.deal_id for o in outcomes], source_kind="playbook"), now
    )
    by_deal: dict[str, list[Task]] = defaultdict(list)
    for task in playbook_tasks:
        if task.deal_id:
            by_deal[task.deal_id].append(task)
    for outcome in outcomes:
        tasks = by_deal.get(outcome.deal_id)
        if not tasks:
            continue  # no playbook ran for this deal
        won = outcome.outcome == "won"
        if all(t.status == "done" and t.on_time for t in tasks):
            result.deals_on_time += 1
            result.deals_on_time_won += won
        else:
            result.deals_late += 1
            result.deals_late_won += won
    return result
