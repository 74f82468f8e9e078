"""Playbooks (tasks created when a deal enters a stage) and what closing a deal does.

A closed deal keeps no open playbook task, whatever order the events arrive in: closing
records the outcome (with its place in the deal's stage history), then cancels the open
playbook tasks of the stage changes before it; a stage change at or before a recorded close
creates no tasks, and one whose tasks were stored while the close was being handled cancels
them itself after storing (each side writes, then reads what the other wrote, so one of the
two always sees the other). A reopen is recorded too, so a close delivered after it (late,
or redelivered) is known to be older: it cancels nothing of the reopened deal's new tasks.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from crm_contracts.deals import DealClosed, DealReopened, DealStageChanged
from crm_contracts.deals import TaskTemplate as PlaybookTemplate
from crm_contracts.placeholders import deal_values, render
from crm_kit.errors import CRMError, NotFound

from ..domain.outcome import REOPENED, DealOutcome
from ..domain.queries import TaskFilter
from ..domain.reminders import fire_on_creation
from ..domain.task import ACTIVE_STATUSES, TASK_TYPES, Task, TaskSource
from ..domain.team import Team
from .inputs import TaskInput
from .scope import Scope
from .tasks import new_task, set_status, store_playbook_tasks
from .teams import get_teams, pick_member_of

log = logging.getLogger(__name__)


def playbook_key(stage_change_id: str, template_key: str) -> str:
    return f"playbook:{stage_change_id}:{template_key}"


async def _assignee(
    scope: Scope,
    template: PlaybookTemplate,
    owner_id: str | None,
    key: str,
    teams: Mapping[str, Team],
) -> tuple[str | None, str | None]:
    """(assignee, team) by the template's rule (`teams`: those read for the batch)."""
    rule = template.assignee
    if rule.rule == "user" and rule.user_id:
        return rule.user_id, None
    if rule.rule == "team" and rule.team_id:
        try:
            team = teams.get(rule.team_id)
            if team is None:
                raise NotFound(f"no team {rule.team_id}", field="teamId")
            return await pick_member_of(scope, team, key=key), rule.team_id
        except CRMError as error:
            # A missing or empty team must not lose the task: the deal owner gets it.
            log.warning("playbook team unusable (%s); assigning the deal owner", error.message)
    return owner_id, None


async def apply_playbook(scope: Scope, change: DealStageChanged) -> list[Task]:
    """The playbook of one stage change (`apply_playbooks`)."""
    return await apply_playbooks(scope, [change])


async def apply_playbooks(scope: Scope, changes: Sequence[DealStageChanged]) -> list[Task]:
    """Create the stages' playbook tasks, once per stage change and template: a task's id is
    derived from `playbook:<stage change>:<template>`, so a duplicate delivery inserts the
    same id and gets the existing task back; its round-robin turn is taken under the same
    key, so no member is skipped. Assignees are picked concurrently, then the tasks of every
    change given (the stage changes of one workspace a consumer fetched together) are
    stored together: a few write statements for all of them, not a few per change or per
    task. Each change's tasks stay in their order, and the changes in theirs (a deal's list
    gets its changes' tasks in the order the changes came)."""
    unique = [
        change
        for change in {change.stage_change_id: change for change in changes}.values()
        if change.playbook
    ]
    if not unique:
        return []
    # Each team the playbooks name read once for all of them, beside the closes (one
    # database round trip on the way to the tasks, not two in a row); a team of a closed
    # deal's playbook is read for nothing, which is rare and changes nothing.
    named = {
        template.assignee.team_id
        for change in unique
        for template in change.playbook
        if template.assignee.rule == "team" and template.assignee.team_id
    }
    closed, found = await asyncio.gather(
        # As this process knows them: the check after storing is the one that must see
        # every close recorded before it (it probes the outcomes' log); this one only
        # spares the tasks of deals known closed (a close it misses, the second sees).
        _closed_since(scope, unique, current=False),
        get_teams(scope, sorted(named)) if named else _no_teams(),
    )
    applied = [change for change, gone in zip(unique, closed, strict=True) if not gone]
    if not applied:
        return []
    teams = {team.id: team for team in found}
    prepared = await asyncio.gather(*(_prepare(scope, change, teams) for change in applied))
    by_deal: dict[str, list[Task]] = {}
    for change, tasks in zip(applied, prepared, strict=True):
        by_deal.setdefault(change.deal_id, []).extend(tasks)
    stored = {task.id: task for task in await store_playbook_tasks(scope, by_deal)}
    # Read again once all are stored (together: one read for the batch's deals).
    closed_since = await _closed_since(scope, applied)
    kept: list[Task] = []
    for tasks, gone_since in zip(prepared, closed_since, strict=True):
        mine = [stored[task.id] for task in tasks]
        if gone_since:
            # The deal closed while these were stored, and its close may have looked for
            # open tasks before they existed: cancel them here.
            await _cancel_open(scope, [task for task in mine if task.active], "deal closed")
            continue
        kept.extend(mine)
    return kept


async def _no_teams() -> list[Team]:
    return []


async def _prepare(scope: Scope, change: DealStageChanged, teams: Mapping[str, Team]) -> list[Task]:
    """A stage change's playbook tasks, made (assignees picked concurrently), not stored."""
    owner_id = change.owner_id or change.deal.owner_id
    values = deal_values(change.deal.wire())

    async def prepare(template: PlaybookTemplate) -> Task:
        key = playbook_key(change.stage_change_id, template.key)
        assignee, team_id = await _assignee(scope, template, owner_id, key, teams)
        data = TaskInput(
            title=render(template.title, values),
            type=template.type if template.type in TASK_TYPES else "todo",
            description=render(template.description, values) if template.description else None,
            due_at=change.changed_at + timedelta(days=template.due_offset_days),
            assignee_id=assignee,
            team_id=team_id,
            deal_id=change.deal_id,
            contact_id=change.deal.primary_contact_id,
            company_id=change.deal.company_id,
        )
        source = TaskSource(
            kind="playbook",
            template_key=template.key,
            stage_change_id=change.stage_change_id,
            stage_sequence=change.stage_sequence,
        )
        task = await new_task(
            scope,
            data,
            source=source,
            idem_key=key,
            default_to_actor=False,
            prefix="playbook",
            team_checked=True,
        )
        # A template due the day of the change is overdue at once: it fires now, in the
        # write that stores the task, not through the scheduler's queue.
        fire_on_creation(task, scope.now())
        return task

    return list(await asyncio.gather(*(prepare(template) for template in change.playbook)))


async def _closed_since(
    scope: Scope, changes: Sequence[DealStageChanged], *, current: bool = True
) -> list[bool]:
    """Whether each change's deal closed at or after it (a later reopen's own stage
    changes come after the close and get their tasks): the deals' outcomes read together,
    one query for a batch instead of one `_id` look-up per change."""
    outcomes = await scope.store.outcomes_of(
        [change.deal_id for change in changes], current=current
    )
    return [
        (outcome := outcomes.get(change.deal_id)) is not None
        and outcome.closed_since(change.stage_sequence, change.changed_at)
        for change in changes
    ]


async def close_deal(scope: Scope, closed: DealClosed, outcome: str) -> list[Task]:
    """Record the outcome (first: see the module's docstring) and cancel the open playbook
    tasks of the stage changes before the close. A close older than the fact recorded (a
    newer close, or a reopen after it) is not recorded, but still cancels what came before
    it; whatever the order, a close never cancels the tasks of a stage change after it (a
    reopen's). Without sequences (events older than them) a late close changes nothing."""
    fact = DealOutcome(
        closed.deal.id, outcome, closed.closed_at, scope.workspace_id, closed.stage_sequence
    )
    newest = await scope.store.keep_deal_outcome(fact)
    if not newest and closed.stage_sequence is None:
        return []
    open_tasks = await scope.store.find_tasks(
        TaskFilter(deal_ids=[closed.deal.id], statuses=ACTIVE_STATUSES, source_kind="playbook"),
        scope.now(),
    )
    passed = [task for task in open_tasks if _before(task, closed.stage_sequence)]
    return await _cancel_open(scope, passed, f"deal {outcome}")


def _before(task: Task, close_sequence: int | None) -> bool:
    """Whether a playbook task comes from a stage change the close followed (without
    sequences on both sides, every open playbook task counts: the behaviour before them)."""
    made_at = task.source.stage_sequence
    return made_at is None or close_sequence is None or made_at < close_sequence


async def _cancel_open(scope: Scope, tasks: list[Task], reason: str) -> list[Task]:
    cancelled: list[Task] = []
    for task in tasks:
        try:
            cancelled.append(await set_status(scope, task.id, "cancelled", reason=reason))
        except CRMError:
            continue  # finished or cancelled meanwhile: nothing left to do
    return cancelled


async def reopen_deal(scope: Scope, reopened: DealReopened, sent_at: datetime) -> None:
    """Remember the reopen (not just forget the close): a close that arrives after it, late
    or redelivered, is then known to be older and is not recorded (it cancels only the
    tasks of the stage changes before it). `sent_at` (the envelope's
    time, written with the reopen) stands in for `reopenedAt` on events older than it."""
    at = reopened.reopened_at or sent_at
    fact = DealOutcome(reopened.deal.id, REOPENED, at, scope.workspace_id, reopened.stage_sequence)
    await scope.store.keep_deal_outcome(fact)


async def repoint_contact(scope: Scope, merged_id: str, survivor_id: str) -> int:
    """After a contact merge, tasks of the merged contact point at the survivor."""
    tasks = await scope.store.find_tasks(TaskFilter(contact_ids=[merged_id]), scope.now())
    moved = 0

    async def repoint(task: Task) -> bool:
        if task.contact_id != merged_id:
            return False  # moved meanwhile
        return bool(task.change({"contact_id": survivor_id}, at=scope.now()))

    for task in tasks:
        updated = await scope.store.change_task(task.id, repoint)
        if updated is not None and updated.contact_id == survivor_id:
            moved += 1
    return moved
